"""Model bundles: self-describing directory, TorchScript and ONNX parity with PyTorch."""

import json
import os

import numpy as np
import pytest
import torch
import yaml

from wedefense.calibration.llr import logits_to_llr, removes_training_prior
from wedefense.inference import bundle as bundle_io
from wedefense.inference.detector import Detector
from wedefense.models.registry import build_model
from wedefense.utils.checkpoint import save_checkpoint
from wedefense.utils.errors import InputError

CONFIG = {"classes": ["bonafide", "spoof"], "class_counts": [12, 36], "frontend": "fbank",
          "frontend_args": {"num_mel_bins": 40}, "model": "ResNet18",
          "model_args": {"m_channels": 4, "embed_dim": 16},
          "dataset_args": {"sample_rate": 16000}}
CALIBRATION = {"type": "wedefense-linear-calibration", "num_systems": 1, "weights": [0.5],
               "offset": -0.25}


def make_exp_dir(root, config=CONFIG, seed=0):
    """A trained-looking exp dir (random weights): config.yaml and models/avg_model.pt."""
    exp = os.path.join(str(root), "exp")
    os.makedirs(os.path.join(exp, "models"), exist_ok=True)
    torch.manual_seed(seed)
    model = build_model(config)
    with open(os.path.join(exp, "config.yaml"), "w") as f:
        yaml.safe_dump(config, f)
    save_checkpoint({"model": model.state_dict()}, os.path.join(exp, "models", "avg_model.pt"))
    return exp


def random_batch(lengths, seed):
    g = torch.Generator().manual_seed(seed)
    wavs = 0.1 * torch.randn(len(lengths), max(lengths), generator=g)
    for i, n in enumerate(lengths):
        wavs[i, n:] = 0.0
    return wavs, torch.tensor(lengths)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """One full bundle (TorchScript and ONNX, with calibration) for the whole module: the ONNX
    export is the slowest step of the suite."""
    pytest.importorskip("onnxscript")
    root = tmp_path_factory.mktemp("bundle")
    exp = make_exp_dir(root)
    calib = root / "calibration.json"
    calib.write_text(json.dumps(CALIBRATION))
    out = root / "bundle"
    bundle_io.export_bundle(os.path.join(exp, "config.yaml"),
                            os.path.join(exp, "models", "avg_model.pt"), str(out),
                            calibration_path=str(calib))
    return exp, str(out)


def reference_llr(exp, wavs, lengths):
    """Stages 4-6 by hand plus the calibration: model logits -> logits_to_llr -> w x + b."""
    config = yaml.safe_load(open(os.path.join(exp, "config.yaml")))
    model = build_model(config)
    model.load_state_dict(torch.load(os.path.join(exp, "models", "avg_model.pt"))["model"])
    with torch.no_grad():
        logits = model.eval()(wavs, lengths).double().numpy()
    llr = logits_to_llr(logits, config["classes"], config["class_counts"])
    return CALIBRATION["weights"][0] * llr + CALIBRATION["offset"]


def test_bundle_is_self_describing(bundle):
    _, out = bundle
    manifest = json.load(open(os.path.join(out, "bundle.json")))
    assert manifest["format"] == bundle_io.FORMAT
    assert manifest["format_version"] == bundle_io.FORMAT_VERSION
    assert manifest["sample_rate"] == 16000
    assert manifest["classes"] == ["bonafide", "spoof"] and manifest["class_counts"] == [12, 36]
    assert manifest["output"] == "calibrated_llr"
    for name in ("config.yaml", "model.safetensors", "calibration.json", "model.ts", "model.onnx"):
        assert os.path.isfile(os.path.join(out, name)), name
    assert set(manifest["files"].values()) >= {"config.yaml", "model.safetensors", "model.ts",
                                                "model.onnx", "calibration.json"}
    # no leftovers of the atomic directory swap beside the bundle
    assert sorted(os.listdir(os.path.dirname(out))) == ["bundle", "calibration.json", "exp"]


def test_pytorch_llr_matches_stage6_formula(bundle):
    exp, out = bundle
    model = bundle_io.load_llr_model(out)
    wavs, lengths = random_batch([16000, 7000, 12345], seed=1)
    with torch.no_grad():
        llr = model(wavs, lengths).double().numpy()
    np.testing.assert_allclose(llr, reference_llr(exp, wavs, lengths), atol=1e-4)


def test_torchscript_parity_dynamic_batch_and_length(bundle):
    exp, out = bundle
    scripted = torch.jit.load(os.path.join(out, "model.ts"))
    model = bundle_io.load_llr_model(out)
    for lengths, seed in (([16000], 2), ([24000, 5000, 400, 17777], 3), ([9000] * 7, 4)):
        wavs, lens = random_batch(lengths, seed)
        with torch.no_grad():
            diff = (scripted(wavs, lens) - model(wavs, lens)).abs().max().item()
        assert diff <= 1e-4


def test_onnx_parity_dynamic_batch_and_length(bundle):
    ort = pytest.importorskip("onnxruntime")
    exp, out = bundle
    session = ort.InferenceSession(os.path.join(out, "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    model = bundle_io.load_llr_model(out)
    for lengths, seed in (([16000], 5), ([31000, 8000, 400], 6), ([12000] * 5, 7)):
        wavs, lens = random_batch(lengths, seed)
        got = session.run(None, {"wav": wavs.numpy(), "lengths": lens.numpy()})[0]
        with torch.no_grad():
            ref = model(wavs, lens).numpy()
        assert got.shape == (len(lengths),)
        assert np.abs(got - ref).max() <= 1e-4


@pytest.mark.parametrize("backend", ["torchscript", "onnx"])
def test_detector_backends_agree(bundle, backend):
    pytest.importorskip("onnxruntime")
    _, out = bundle
    wav = 0.1 * np.random.default_rng(0).standard_normal(20000).astype(np.float32)
    ref = Detector.load(out).score(wav, 16000)
    assert abs(Detector.load(out, backend=backend).score(wav, 16000) - ref) <= 1e-4


def test_incompatible_or_foreign_bundles_are_refused(bundle, tmp_path):
    _, out = bundle
    manifest = json.load(open(os.path.join(out, "bundle.json")))
    future = tmp_path / "future"
    future.mkdir()
    (future / "bundle.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(InputError, match="bundle format version 99 .* not supported"):
        Detector.load(str(future))
    with pytest.raises(InputError, match="not a WeDefense model bundle"):
        Detector.load(str(tmp_path))
    with pytest.raises(InputError, match="not found"):
        Detector.load(str(tmp_path / "nowhere"))


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_onnx_never_falls_back_to_cpu_silently(bundle, monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    _, out = bundle
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(InputError, match="no CUDAExecutionProvider.*--device cpu"):
        Detector.load(out, backend="onnx", device="cuda")
    assert Detector.load(out, backend="onnx", device=None)._backend.on_cpu  # auto: CPU here
    if "CUDAExecutionProvider" not in ort.InferenceSession(
            os.path.join(out, "model.onnx"), providers=["CPUExecutionProvider"]).get_providers():
        # a provider that is listed but cannot start leaves the session on the CPU
        monkeypatch.setattr(ort, "get_available_providers",
                            lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
        with pytest.raises(InputError, match="could not start CUDA"):
            Detector.load(out, backend="onnx", device="cuda")


@pytest.mark.parametrize("config, frames", [
    ({"frontend": "fbank", "model": "ResNet18"}, 2),
    ({"frontend": "fbank", "frontend_args": {"snip_edges": False}, "model": "ResNet18"}, 2),
    ({"frontend": "spectrogram", "model": "ResNet18", "mean_norm": False}, 2),
    ({"frontend": "lfcc", "model": "LCNN_LSTM"}, 2),
    ({"frontend": "raw", "model": "AASIST_L"}, None),
])
def test_min_samples_give_every_input_its_own_score(config, frames):
    config = {**config, "classes": ["bonafide", "spoof"], "model_args": {
        **({"m_channels": 4, "embed_dim": 16} if config["model"] == "ResNet18" else {})}}
    torch.manual_seed(0)
    model = bundle_io.LLRModel(build_model(config), config["classes"], [1, 1]).eval()
    n = bundle_io.min_samples(model)
    if frames is None:  # the raw waveform: the backbone's own minimum
        assert n == model.backbone.min_samples()
    else:
        assert n == model.frontend.frame_length + (frames - 1) * model.frontend.frame_shift
    wavs, lengths = random_batch([n, n], seed=8)
    if frames is not None:
        assert model.frontend(wavs, lengths)[1].min().item() >= frames
    with torch.no_grad():
        first, second = model(wavs, lengths).tolist()
    assert first != second


@pytest.mark.parametrize("project_type", ["linear", "am_softmax", "p2sgrad", "oc_softmax"])
def test_llr_model_removes_the_prior_only_from_log_posterior_heads(project_type):
    config = {**CONFIG, "projection_args": {"project_type": project_type}}
    torch.manual_seed(0)
    detector = build_model(config).eval()
    llr_model = bundle_io.build_llr_model(config, detector.state_dict())
    wavs, lengths = random_batch([8000, 6000], seed=3)
    with torch.no_grad():
        logits = detector(wavs, lengths).double().numpy()
        got = llr_model(wavs, lengths).double().numpy()
        scripted = torch.jit.script(llr_model)(wavs, lengths).double().numpy()
        # without the config, LLRModel reads the same declaration from the head
        direct = bundle_io.LLRModel(detector, config["classes"], config["class_counts"])
        direct = direct(wavs, lengths).double().numpy()
    prior = np.log(12 / 36) if project_type in ("linear", "am_softmax") else 0.0
    expected = logits[:, 0] - logits[:, 1] - prior
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scripted, got, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(direct, got, rtol=0, atol=0)
    # and stage 6 gives the same numbers for the same config
    stage6 = logits_to_llr(logits, config["classes"], config["class_counts"],
                           remove_prior=removes_training_prior(config))
    np.testing.assert_allclose(got, stage6, rtol=1e-5, atol=1e-5)
