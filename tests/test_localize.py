"""Using a localization model: bundles that export frame LLRs (TorchScript and ONNX agree with
PyTorch per frame), Detector.localize, long audio stitched from windows without counting a frame
twice, and `wedefense detect --segments/--rttm`."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch
import yaml

from tests.conftest import REPO
from wedefense.calibration.logistic import MODEL_TYPE
from wedefense.inference import bundle
from wedefense.inference.detector import Detector
from wedefense.models.registry import build_model
from wedefense.utils.errors import InputError

CONFIG = {
    "task": "localization", "classes": ["bonafide", "spoof"], "class_counts": [30, 90],
    "frame_class_counts": [4000, 1000], "frame_resolution": 0.02,
    "dataset_args": {"sample_rate": 16000},
    "frontend": "fbank", "frontend_args": {"num_mel_bins": 16, "snip_edges": False},
    "model": "FrameCNN", "model_args": {"channels": [4, 8], "embed_dim": 16},
}
HOP = 320
UTT_CAL = {"num_systems": 1, "weights": [0.8], "offset": -0.3}
FRAME_CAL = {"num_systems": 1, "weights": [1.5], "offset": 0.25}


def signal(seconds, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * (150 + 50 * np.sin(t)) * t)
            + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def write_exp(root, config, seed=0):
    torch.manual_seed(seed)
    model = build_model(config).eval()
    for m in model.modules():  # BatchNorm statistics away from 0/1, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "config.yaml"), "w") as f:
        yaml.safe_dump(config, f)
    torch.save({"model": model.state_dict()}, os.path.join(root, "model.pt"))
    cal = {}
    for name, model_cal in (("calibration.json", UTT_CAL), ("frame_calibration.json", FRAME_CAL)):
        cal[name] = os.path.join(root, name)
        with open(cal[name], "w") as f:
            json.dump({"type": MODEL_TYPE, **model_cal}, f)
    return model, cal


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("loc_bundle"))
    model, cal = write_exp(os.path.join(root, "exp"), CONFIG)
    manifest = bundle.export_bundle(os.path.join(root, "exp", "config.yaml"),
                                    os.path.join(root, "exp", "model.pt"),
                                    os.path.join(root, "bundle"),
                                    calibration_path=cal["calibration.json"],
                                    frame_calibration_path=cal["frame_calibration.json"],
                                    window_seconds=3.0, hop_seconds=1.5)
    return root, model, manifest


def reference(model, wav):
    """Stage 6's numbers by hand: priors removed from the logits, then the calibrations."""
    with torch.no_grad():
        frame, _, utt = model(torch.from_numpy(wav)[None], torch.tensor([len(wav)]))
    frame_llr = frame[0, :, 0] - frame[0, :, 1] - math.log(4000 / 1000)
    utt_llr = utt[0, 0] - utt[0, 1] - math.log(4000 / 1000)  # no branch: the frame prior
    return (FRAME_CAL["weights"][0] * frame_llr.double().numpy() + FRAME_CAL["offset"],
            UTT_CAL["weights"][0] * float(utt_llr) + UTT_CAL["offset"])


def test_manifest_declares_the_frame_outputs(exported):
    root, _, manifest = exported
    assert manifest["task"] == "localization" and manifest["hop_samples"] == HOP
    assert manifest["frame_resolution"] == pytest.approx(0.02)
    assert manifest["files"]["frame_calibration"] == "frame_calibration.json"
    assert {"torchscript", "onnx"} <= set(manifest["files"])


@pytest.mark.parametrize("backend", ["pytorch", "torchscript", "onnx"])
def test_every_backend_gives_the_recipe_frame_llrs(exported, backend):
    root, model, _ = exported
    detector = Detector.load(os.path.join(root, "bundle"), backend=backend)
    for seconds, seed in ((1.0, 1), (2.345, 2), (0.5, 3)):  # lengths off the frame grid too
        wav = signal(seconds, seed)
        loc = detector.localize(wav, 16000)
        frame_ref, utt_ref = reference(model, wav)
        n = -(-len(wav) // HOP)
        assert len(loc.frame_llr) == n == len(frame_ref)
        np.testing.assert_allclose(loc.frame_llr, frame_ref, rtol=0, atol=1e-4)
        assert loc.llr == pytest.approx(utt_ref, abs=1e-4)
        assert loc.llr == pytest.approx(detector.score(wav, 16000), abs=1e-9)
        np.testing.assert_allclose(loc.starts, np.arange(n) * 0.02)
        assert loc.ends[-1] == pytest.approx(len(wav) / 16000)
        assert np.allclose(loc.ends[:-1], loc.starts[1:])


def test_spoofed_ranges_are_the_frames_below_the_threshold(exported):
    root, _, _ = exported
    detector = Detector.load(os.path.join(root, "bundle"))
    wav = signal(2.0, 4)
    # a threshold inside this (untrained) model's range, so that both decisions occur
    detector.threshold = float(np.median(detector.localize(wav, 16000).frame_llr))
    loc = detector.localize(wav, 16000)
    below = loc.frame_llr < detector.threshold
    assert 0 < below.sum() < len(below)
    covered = np.zeros(len(below), dtype=bool)
    for start, end, llr in loc.spoofed:
        inside = (loc.starts >= start - 1e-9) & (loc.ends <= end + 1e-9)
        assert below[inside].all() and llr == pytest.approx(loc.frame_llr[inside].min())
        covered |= inside
    assert np.array_equal(covered, below)


def test_long_audio_is_stitched_from_windows_without_double_counting(tmp_path):
    # without mean normalisation every frame depends only on audio within the model's
    # receptive field (well under the 1 s of context), so windows must reproduce one pass
    config = {**CONFIG, "mean_norm": False}
    write_exp(str(tmp_path / "exp"), config, seed=5)
    bundle.export_bundle(str(tmp_path / "exp" / "config.yaml"), str(tmp_path / "exp" / "model.pt"),
                         str(tmp_path / "bundle"), torchscript=False, onnx=False,
                         window_seconds=3.0, hop_seconds=1.5)
    wav = signal(11.37, 6)
    windowed = Detector.load(str(tmp_path / "bundle"))  # 3 s windows
    one_pass = Detector.load(str(tmp_path / "bundle"), window_seconds=20.0, hop_seconds=10.0)
    a, b = windowed.localize(wav, 16000), one_pass.localize(wav, 16000)
    assert len(a.frame_llr) == len(b.frame_llr) == -(-len(wav) // HOP)
    np.testing.assert_array_equal(a.starts, b.starts)
    np.testing.assert_allclose(a.frame_llr, b.frame_llr, rtol=0, atol=1e-4)
    # with no context the cuts show: the comparison above can fail
    windowed.context_seconds = 0.0
    c = windowed.localize(wav, 16000)
    assert len(c.frame_llr) == len(b.frame_llr)
    assert np.abs(c.frame_llr - b.frame_llr).max() > 1e-3


def test_a_detection_bundle_cannot_localize(tmp_path):
    detection = {"classes": ["bonafide", "spoof"], "class_counts": [10, 30],
                 "frontend": "fbank", "frontend_args": {"num_mel_bins": 16},
                 "model": "ResNet18", "model_args": {"m_channels": 4, "embed_dim": 8},
                 "dataset_args": {"sample_rate": 16000}}
    model = build_model(detection).eval()
    with open(tmp_path / "config.yaml", "w") as f:
        yaml.safe_dump(detection, f)
    torch.save({"model": model.state_dict()}, tmp_path / "model.pt")
    bundle.export_bundle(str(tmp_path / "config.yaml"), str(tmp_path / "model.pt"),
                         str(tmp_path / "bundle"), torchscript=False, onnx=False)
    detector = Detector.load(str(tmp_path / "bundle"))
    with pytest.raises(InputError, match="localizing needs a bundle of a localization model"):
        detector.localize(signal(1.0, 0), 16000)
    env = dict(os.environ, PYTHONPATH=REPO)
    soundfile.write(tmp_path / "a.wav", signal(1.0, 0), 16000)
    proc = subprocess.run([sys.executable, "-m", "wedefense.cli.main", "detect", "--model",
                           str(tmp_path / "bundle"), str(tmp_path / "a.wav"), "--segments",
                           str(tmp_path / "s.tsv")], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "need a localization bundle" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "s.tsv").exists()


def test_detect_cli_writes_segments_and_rttm(exported, tmp_path):
    root, _, _ = exported
    files = {"short": signal(1.7, 7), "long": signal(7.3, 8)}  # long: several 3 s windows
    for name, wav in files.items():
        soundfile.write(tmp_path / f"{name}.wav", wav, 16000, subtype="FLOAT")
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-m", "wedefense.cli.main", "detect", "--model",
                           os.path.join(root, "bundle"), str(tmp_path / "short.wav"),
                           str(tmp_path / "long.wav"), "--out", str(tmp_path / "scores.tsv"),
                           "--segments", str(tmp_path / "spoofed.tsv"),
                           "--rttm", str(tmp_path / "spoofed.rttm")],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    detector = Detector.load(os.path.join(root, "bundle"))
    rows = [line.rstrip("\n").split("\t") for line in open(tmp_path / "spoofed.tsv")]
    assert rows[0] == ["utt", "start", "end", "llr"]
    rttm = [line.split() for line in open(tmp_path / "spoofed.rttm")]
    expected = []
    for name, wav in files.items():
        expected += [(name, s, e, v) for s, e, v in detector.localize(wav, 16000).spoofed]
    assert len(rows) - 1 == len(expected) == len(rttm)
    for row, rt, (name, s, e, v) in zip(rows[1:], rttm, expected):
        assert row[0] == name and float(row[1]) == pytest.approx(s, abs=1e-3)
        assert float(row[2]) == pytest.approx(e, abs=1e-3)
        assert float(row[3]) == pytest.approx(v, abs=1e-5)
        assert rt[0] == "SPEAKER" and rt[1] == name and rt[7] == "spoof"
        assert float(rt[3]) == pytest.approx(s, abs=1e-3)
        assert float(rt[4]) == pytest.approx(e - s, abs=1e-3)
    scores = {line.split("\t")[0]: line.split("\t")[1] for line in open(tmp_path / "scores.tsv")}
    for name, wav in files.items():
        assert float(scores[name]) == pytest.approx(detector.localize(wav, 16000).llr, abs=1e-5)
