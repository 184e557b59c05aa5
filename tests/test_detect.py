"""`wedefense detect` and the Detector API: files, folders, wav.scp, windows and bad input."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from tests.conftest import REPO, write_wav
from tests.test_bundle import make_exp_dir
from wedefense.bin import detect
from wedefense.inference import bundle as bundle_io
from wedefense.inference.detector import Detector, collect_inputs, window_bounds
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
