"""`wedefense detect` and the Detector API: files, folders, wav.scp, windows and bad input."""

import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from tests.conftest import REPO, write_wav
from tests.test_bundle import make_exp_dir
from wedefense.bin import detect
from wedefense.inference import bundle as bundle_io
from wedefense.inference.detector import Detector, window_bounds
from wedefense.inference.inputs import collect_inputs
from wedefense.utils.errors import InputError


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("detect")
    exp = make_exp_dir(root)
    out = str(root / "bundle")
    bundle_io.export_bundle(os.path.join(exp, "config.yaml"),
                            os.path.join(exp, "models", "avg_model.pt"), out, onnx=False,
                            window_seconds=4.0, hop_seconds=2.0)
    return out


@pytest.fixture(scope="module")
def detector(bundle_dir):
    return Detector.load(bundle_dir)


@pytest.fixture
def audio(tmp_path):
    d = tmp_path / "audio"
    write_wav(str(d / "a.wav"), 1.5, 0)
    write_wav(str(d / "sub" / "b.flac"), 2.0, 1, sample_rate=22050)
    write_wav(str(d / "sub" / "c.wav"), 0.7, 2)
    return d


def read_table(text):
    lines = text.strip("\n").split("\n")
    assert lines[0] == "utt\tllr\tdecision\tp_bonafide"
    return {f[0]: f[1:] for f in (line.split("\t") for line in lines[1:])}


def test_window_bounds_cover_the_audio():
    assert window_bounds(10, 20, 5) == [(0, 10)]
    assert window_bounds(20, 20, 5) == [(0, 20)]
    bounds = window_bounds(47, 20, 10)
    assert bounds == [(0, 20), (10, 30), (20, 40), (27, 47)]
    assert all(e - s == 20 for s, e in bounds)


def test_collect_inputs_files_dirs_scp(audio, tmp_path):
    scp = tmp_path / "wav.scp"
    scp.write_text(f"u1 {audio / 'a.wav'}\nu2 cmd |\n")
    entries, failures = collect_inputs([str(audio), str(scp), str(tmp_path / "nope.wav")])
    assert [u for u, _ in entries] == ["a", "b", "c", "u1"]
    assert [f[0] for f in failures] == ["u2", str(tmp_path / "nope.wav")]
    (tmp_path / "x").mkdir()
    write_wav(str(tmp_path / "x" / "a.wav"), 0.5, 3)
    entries, _ = collect_inputs([str(audio / "a.wav"), str(tmp_path / "x")])
    assert len({u for u, _ in entries}) == 2  # same file name, still unique ids


def test_cli_scores_files_dirs_and_scp(bundle_dir, audio, tmp_path, capsys):
    scp = tmp_path / "wav.scp"
    scp.write_text(f"utt_x {audio / 'a.wav'}\n")
    out = tmp_path / "scores.tsv"
    detect.main(["--model", bundle_dir, str(audio / "a.wav"), str(audio / "sub"), str(scp),
                 "--out", str(out), "--p_spoof", "0.2", "--device", "cpu"])
    table = read_table(out.read_text())
    assert list(table) == ["a", "b", "c", "utt_x"]
    threshold = -math.log(1 * 0.8 / (10 * 0.2))
    for llr, decision, p_bona in table.values():
        llr = float(llr)
        assert decision == ("bonafide" if llr >= threshold else "spoof")
        assert float(p_bona) == pytest.approx(1 / (1 + math.exp(-(llr + math.log(4)))),
                                              abs=1e-6)
    assert table["a"][0] == table["utt_x"][0]
    # printed to stdout without --out
    detect.main(["--model", bundle_dir, str(audio / "a.wav"), "--device", "cpu",
                 "--p_spoof", "0.2"])
    assert read_table(capsys.readouterr().out)["a"] == table["a"]


def test_cli_lists_failures_scores_the_rest(bundle_dir, audio, tmp_path, capsys):
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really")
    soundfile.write(str(tmp_path / "silent.wav"), np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(SystemExit) as exit_:
        detect.main(["--model", bundle_dir, str(audio / "a.wav"), str(tmp_path / "empty_dir"),
                     str(tmp_path / "broken.wav"), str(tmp_path / "silent.wav"),
                     str(tmp_path / "missing.flac"), "--device", "cpu"])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert list(read_table(captured.out)) == ["a"]
    assert "4 input(s) could not be scored" in captured.err
    for name in ("empty_dir", "broken.wav", "silent.wav", "missing.flac"):
        assert name in captured.err
    assert "no audio files in this directory" in captured.err


def test_cli_bad_bundle_is_a_clean_error(tmp_path, audio, repo_env):
    proc = subprocess.run([sys.executable, "-m", "wedefense.cli.main", "detect", "--model",
                           str(tmp_path), str(audio / "a.wav")], env=repo_env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "not a WeDefense model bundle" in proc.stderr and "Traceback" not in proc.stderr


def test_any_rate_and_stereo(detector, tmp_path):
    rng = np.random.default_rng(5)
    mono = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    stereo = np.stack([mono, mono])  # (channels, samples)
    assert detector.score(stereo, 16000) == pytest.approx(detector.score(mono, 16000), abs=1e-5)
    assert detector.score(stereo.T, 16000) == pytest.approx(detector.score(mono, 16000),
                                                            abs=1e-5)
    # a 44.1 kHz stereo file gives the score of its own mix, resampled
    soundfile.write(str(tmp_path / "s.wav"), stereo.T, 44100)
    (result,) = detector.score_files([str(tmp_path / "s.wav")])
    assert result.llr == pytest.approx(detector.score(mono, 44100), abs=1e-4)
    assert result.duration == pytest.approx(16000 / 44100, abs=1e-3)


def test_long_audio_windows_and_batched_equals_alone(detector, tmp_path):
    rng = np.random.default_rng(6)
    long = (0.1 * rng.standard_normal(16000 * 9)).astype(np.float32)  # 9 s, window 4 s, hop 2
    windows = detector.score_windows(long, 16000)
    assert [(w.start, w.end) for w in windows] == [(0, 4), (2, 6), (4, 8), (5, 9)]
    for w in windows:
        alone = detector.score(long[int(w.start * 16000):int(w.end * 16000)], 16000)
        assert w.llr == pytest.approx(alone, abs=1e-4)
    assert detector.score(long, 16000) == pytest.approx(np.mean([w.llr for w in windows]))
    # files of many lengths batched together score as each does alone
    paths = []
    for i, seconds in enumerate([0.3, 2.5, 1.1, 9.0, 0.05]):
        paths.append(str(tmp_path / f"f{i}.wav"))
        soundfile.write(paths[-1], (0.1 * rng.standard_normal(int(16000 * seconds))), 16000)
    results = detector.score_files(paths)
    assert [r.utt for r in results] == [f"f{i}" for i in range(5)]
    for r in results:
        wav, _ = soundfile.read(r.path, dtype="float32")
        assert r.llr == pytest.approx(detector.score(wav, 16000), abs=1e-4)
    assert len(results[3].windows) == 4 and len(results[0].windows) == 1
    out = tmp_path / "w.tsv"
    detect.main(["--model", detector.bundle_dir, paths[3], "--window_scores", str(out),
                 "--out", str(tmp_path / "s.tsv"), "--device", "cpu"])
    rows = out.read_text().strip().split("\n")
    assert rows[0] == "utt\tstart\tend\tllr" and len(rows) == 5


def test_api_errors(detector, tmp_path):
    with pytest.raises(InputError, match="too short"):
        detector.score(np.zeros(100, dtype=np.float32), 16000)
    with pytest.raises(InputError, match="no samples"):
        detector.score(np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(InputError, match="not found"):
        detector.score_files([str(tmp_path / "missing.wav")])
    results = detector.score_files([str(tmp_path / "missing.wav")], on_error="skip")
    assert results[0].llr is None and "not found" in results[0].error


def test_import_is_cheap_and_detector_lazy(repo_env):
    code = ("import sys, wedefense; assert 'torch' not in sys.modules; "
            "from wedefense import Detector; print(Detector.__module__)")
    proc = subprocess.run([sys.executable, "-c", code], env=repo_env, capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "wedefense.inference.detector"


def ids_of(inputs):
    entries, failures = collect_inputs(inputs)
    assert failures == []
    return [u for u, _ in entries]


def test_ids_are_unique_and_predictable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in ("dA/x.wav", "dB/x.wav", "dC/x.wav", "dC/x.flac", "dC/sub/x.wav",
                 "audio/a.wav", "audio/a.flac", "audio/solo.wav", ".cache/a.wav"):
        write_wav(path, 0.1, 0)
    # the same name in two folders: the folder given tells them apart
    assert ids_of(["dA", "dB"]) == ["dA/x.wav", "dB/x.wav"]
    # side by side: the extension; deeper: the path inside the folder given
    assert ids_of(["dC"]) == ["x.flac", "x.wav", "sub/x.wav"]
    assert ids_of(["audio/a.wav", "audio/a.flac", "audio/solo.wav"]) == [
        "a.wav", "a.flac", "solo"]
    # "./" goes, but a leading dot of a folder name stays
    assert ids_of(["./audio/a.wav", ".cache/a.wav"]) == ["audio/a.wav", ".cache/a.wav"]
    # a list's id is the user's: kept as written, a file that would clash gives way
    scp = tmp_path / "wav.scp"
    scp.write_text(f"x {tmp_path / 'audio' / 'solo.wav'}\n")
    assert ids_of([str(scp), "dA/x.wav"]) == ["x", "x.wav"]
    assert ids_of(["dA/x.wav", str(scp)]) == ["x.wav", "x"]
    # the same file twice is scored once
    entries, failures = collect_inputs(["dA", "dA/x.wav", "./dA/x.wav"])
    assert [u for u, _ in entries] == ["x"] and failures == []


def test_cli_scores_every_file_whatever_its_name(bundle_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_wav("dA/x.wav", 0.5, 0)
    write_wav("dB/x.wav", 0.5, 1)
    soundfile.write("dB/x.flac", soundfile.read("dA/x.wav")[0], 16000)
    detect.main(["--model", bundle_dir, "dA", "dB", "--device", "cpu"])
    table = read_table(capsys.readouterr().out)
    assert list(table) == ["dA/x.wav", "x.flac", "dB/x.wav"]
    assert table["dA/x.wav"][0] == table["x.flac"][0] != table["dB/x.wav"][0]


def test_binary_inputs_are_unreadable_audio_not_lists(detector, audio, tmp_path):
    rng = np.random.default_rng(0)
    for name in ("clip.m4a", "movie.mp4", "noise"):
        (tmp_path / name).write_bytes(bytes(rng.integers(0, 256, 3000, dtype=np.uint8)))
    (tmp_path / "bad.scp").write_bytes(b"u1 \xff\xfe\x90 a.wav\n")
    ids = tmp_path / "eval.ids"  # a text list of any name is still read as a list
    ids.write_text(f"u9 {audio / 'a.wav'}\n")
    raw_list = tmp_path / "raw.list"  # the loader's JSON Lines
    raw_list.write_text(json.dumps({"key": "u8", "lab": "spoof", "wav": str(audio / "a.wav")})
                        + "\n{broken\n")
    inputs = [str(tmp_path / n) for n in ("clip.m4a", "movie.mp4", "noise", "bad.scp")]
    results = detector.score_files([str(audio / "a.wav")] + inputs + [str(ids), str(raw_list)],
                                   on_error="skip")
    assert [(r.utt, r.error is None) for r in results] == [
        ("a", True), ("clip", False), ("movie", False), ("noise", False),
        ("bad.scp", False), ("u9", True), ("u8", True), ("raw.list:2", False)]
    assert "cannot read audio" in results[1].error and str(tmp_path) in results[1].error
    assert "not a UTF-8 text list" in results[4].error
    assert results[0].llr == results[5].llr == results[6].llr


def test_results_keep_input_order_failures_included(detector, audio, tmp_path):
    (tmp_path / "empty").mkdir()
    scp = tmp_path / "wav.scp"
    scp.write_text(f"u1 {audio / 'a.wav'}\nbadline\nu2 {audio / 'sub' / 'c.wav'}\n")
    inputs = [str(tmp_path / "missing.wav"), str(audio / "sub" / "b.flac"),
              str(tmp_path / "empty"), str(scp), str(audio / "a.wav")]
    results = detector.score_files(inputs, on_error="skip")
    assert [(r.utt, r.error is None) for r in results] == [
        ("missing.wav", False), ("b", True), ("empty", False), ("u1", True),
        ("wav.scp:2", False), ("u2", True), ("a", True)]


def test_unavailable_device_is_a_clear_error(bundle_dir, audio, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="CUDA is not available.*--device cpu"):
        Detector.load(bundle_dir, device="cuda")
    with pytest.raises(InputError, match="CUDA is not available"):
        Detector.load(bundle_dir, device="cuda:1", backend="torchscript")
    with pytest.raises(InputError, match="unknown device 'gpu'"):
        Detector.load(bundle_dir, device="gpu")
    assert Detector.load(bundle_dir, device=None)._backend.on_cpu  # auto: the CPU here
    with pytest.raises(SystemExit) as exit_:
        detect.main(["--model", bundle_dir, str(audio / "a.wav"), "--device", "cuda"])
    assert exit_.value.code == 2
    assert "error: CUDA is not available" in capsys.readouterr().err


def damaged_copy(bundle_dir, tmp_path, damage):
    out = tmp_path / "damaged"
    shutil.copytree(bundle_dir, out)
    manifest = json.loads((out / "bundle.json").read_text())
    damage(out, manifest)
    (out / "bundle.json").write_text(json.dumps(manifest))
    return str(out)


@pytest.mark.parametrize("damage, backend, message", [
    (lambda d, m: (d / "model.ts").write_bytes(b"\x00garbage" * 50), "torchscript",
     "model.ts: cannot load the TorchScript model"),
    (lambda d, m: ((d / "model.onnx").write_bytes(b"\x08garbage" * 50),
                   m["files"].update(onnx="model.onnx")), "onnx",
     "model.onnx: cannot load the ONNX model"),
    (lambda d, m: m["files"].pop("config"), "pytorch", "'files' has no 'config' entry"),
    (lambda d, m: os.remove(d / "model.safetensors"), "pytorch",
     "model.safetensors (weights, listed in "),
    (lambda d, m: (d / "model.safetensors").write_bytes(b"\x08garbage" * 50), "pytorch",
     "model.safetensors: cannot read the bundle weights"),
    (lambda d, m: m["files"].update(weights="../model.pt"), "torchscript",
     "files.weights must be a file name inside the bundle"),
    (lambda d, m: (d / "config.yaml").write_text("classes: [bonafide, spoof]\n"
                                                 "class_counts: [1, 1]\n"), "pytorch",
     "config.yaml: config does not describe a model"),
])
def test_damaged_bundle_is_a_clear_error(bundle_dir, audio, tmp_path, capsys, damage, backend,
                                         message):
    if backend == "onnx":
        pytest.importorskip("onnxruntime")
    damaged = damaged_copy(bundle_dir, tmp_path, damage)
    with pytest.raises(InputError, match=re.escape(message)):
        Detector.load(damaged, backend=backend)
    with pytest.raises(SystemExit) as exit_:
        detect.main(["--model", damaged, str(audio / "a.wav"), "--backend", backend,
                     "--device", "cpu"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_window_and_hop_are_checked(bundle_dir, detector):
    shortest = detector.min_samples / detector.sample_rate
    with pytest.raises(InputError, match="window_seconds must be at least"):
        Detector.load(bundle_dir, window_seconds=0.01)  # shorter than the model's minimum
    with pytest.raises(InputError, match="window_seconds must be at least"):
        Detector.load(bundle_dir, window_seconds=0)  # 0 is not "the default"
    with pytest.raises(InputError, match="hop_seconds must be positive"):
        Detector.load(bundle_dir, hop_seconds=0)
    with pytest.raises(InputError, match="hop_seconds must be positive"):
        Detector.load(bundle_dir, window_seconds=1.0, hop_seconds=2.0)
    d = Detector.load(bundle_dir, window_seconds=shortest)  # exactly the minimum is fine
    wav = 0.1 * np.random.default_rng(1).standard_normal(3 * detector.min_samples)
    assert len(d.score_windows(wav, 16000)) == 3
    with pytest.raises(SystemExit) as exit_:
        detect.main(["--model", bundle_dir, "x.wav", "--window_seconds", "0.01"])
    assert exit_.value.code == 2


def test_audio_shorter_than_two_frames_is_refused(detector):
    fbank = 400, 160  # 25 ms frames every 10 ms at 16 kHz
    assert detector.min_samples == fbank[0] + fbank[1]
    rng = np.random.default_rng(2)
    # one fbank frame: mean normalisation would give every such input the same score
    with pytest.raises(InputError, match="too short to score"):
        detector.score(0.1 * rng.standard_normal(500), 16000)
    first, second = (detector.score(0.1 * rng.standard_normal(detector.min_samples), 16000)
                     for _ in range(2))
    assert first != second


def test_bad_sample_rate_is_an_input_error(detector):
    wav = np.zeros(16000, dtype=np.float32)
    for rate in (0, -16000, 16000.5, float("nan")):
        with pytest.raises(InputError, match="sample rate must be a positive whole number"):
            detector.score(wav, rate)


def test_max_batch_seconds_help_names_the_real_default():
    from wedefense.dataset.loader import CPU_BATCH_SECONDS, GPU_BATCH_SECONDS

    text = " ".join(detect.get_parser().format_help().split())
    assert (f"(default: {CPU_BATCH_SECONDS:g} on CPU, {GPU_BATCH_SECONDS:g} on GPU)" in text)


def no_signal_files(d):
    """Digital silence, a DC constant, 1-LSB dither (16-bit), and one ordinary file."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    soundfile.write(d / "silence.wav", np.zeros(16000, np.float32), 16000, subtype="PCM_16")
    soundfile.write(d / "dc.wav", np.full(16000, 0.25, np.float32), 16000, subtype="PCM_16")
    dither = rng.integers(-1, 2, 16000).astype(np.int16)
    soundfile.write(d / "dither.wav", dither, 16000, subtype="PCM_16")
    write_wav(str(d / "speech.wav"), 1.0, 3)
    return d


def test_no_signal_gets_no_score(detector, tmp_path):
    d = no_signal_files(tmp_path / "in")
    results = {r.utt: r for r in detector.score_files([str(d)])}
    for utt in ("silence", "dc", "dither"):
        r = results[utt]
        assert r.decision == "no_signal" and r.llr is None and r.p_bonafide is None, utt
        assert r.error is None and r.windows == [] and r.duration == pytest.approx(1.0)
    assert results["speech"].decision in ("bonafide", "spoof")
    assert math.isfinite(results["speech"].llr)
    for wav in (np.zeros(16000), np.full(16000, -0.5)):
        with pytest.raises(InputError, match="no usable signal"):
            detector.score(wav, 16000)
        with pytest.raises(InputError, match="no usable signal"):
            detector.score_windows(wav, 16000)


def test_cli_marks_no_signal_rows(bundle_dir, tmp_path, capsys, caplog):
    d = no_signal_files(tmp_path / "in")
    with caplog.at_level(logging.WARNING, logger="wedefense.detect"):
        detect.main([str(d), "--model", bundle_dir, "--device", "cpu"])
    captured = capsys.readouterr()
    table = read_table(captured.out)
    for utt in ("silence", "dc", "dither"):
        assert table[utt] == ["nan", "no_signal", "nan"], utt
    assert table["speech"][1] in ("bonafide", "spoof")
    assert "3 input(s) have no usable signal" in caplog.text


@pytest.mark.parametrize("keep", [0.25, 0.6])
def test_truncated_wav_is_reported_as_truncated(detector, bundle_dir, tmp_path, capsys, keep):
    path = tmp_path / "cut.wav"
    write_wav(str(path), 2.0, 4)
    data = path.read_bytes()
    path.write_bytes(data[:44 + int((len(data) - 44) * keep)])
    write_wav(str(tmp_path / "whole.wav"), 2.0, 5)
    (r,) = detector.score_files([str(path)], on_error="skip")
    assert r.llr is None and r.error.startswith(f"{path}: truncated")
    assert "of the 2.00 s its header declares" in r.error
    with pytest.raises(InputError, match="truncated"):
        detector.score_files([str(path)])
    with pytest.raises(SystemExit) as info:
        detect.main([str(path), str(tmp_path / "whole.wav"), "--model", bundle_dir,
                     "--device", "cpu"])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert list(read_table(captured.out)) == ["whole"]
    assert "truncated" in captured.err and str(path) in captured.err


def test_streamed_wav_without_a_length_is_not_truncated(detector, tmp_path):
    path = tmp_path / "s.wav"
    write_wav(str(path), 1.0, 6)
    data = bytearray(path.read_bytes())
    data[40:44] = b"\xff\xff\xff\xff"  # the data size a pipe writer leaves unknown
    path.write_bytes(bytes(data))
    (r,) = detector.score_files([str(path)])
    assert r.error is None and math.isfinite(r.llr)


def test_quiet_audio_still_has_signal():
    from wedefense.inference.audio_checks import has_signal

    t = np.arange(16000) / 16000
    speech_like = 0.3 * np.sin(2 * np.pi * 150 * t)
    assert has_signal(speech_like * 10 ** (-50 / 20))  # a -60 dBFS recording is scored
    assert not has_signal(np.full(16000, 0.9)) and not has_signal(np.zeros(5))
    assert not has_signal(speech_like * 1e-5)
