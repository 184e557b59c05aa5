"""Start-up stays light: the command-line front door parses arguments and prints help without
importing torch or scipy.optimize (together over a second); they load when the work needs them,
and `detect` on the ONNX path (the CPU default) never needs torch."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("torch", "scipy.optimize")

# Runs the console command in-process, then reports which heavy modules got imported.
RUNNER = """
import json, runpy, sys
sys.argv = ["wedefense"] + sys.argv[1:]
try:
    runpy.run_module("wedefense.cli.main", run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
heavy = sorted(m for m in sys.modules if m in {heavy!r})
print("\\nHEAVY " + json.dumps({{"code": code, "heavy": heavy}}))
""".format(heavy=set(HEAVY))


def imported(*argv):
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.run([sys.executable, "-c", RUNNER, *argv], env=env, capture_output=True,
                          text=True, timeout=120)
    report = json.loads(proc.stdout.rsplit("\nHEAVY ", 1)[1])
    return report["code"], report["heavy"]


@pytest.mark.parametrize("argv", [
    ["evaluate", "--help"],
    ["detect", "--help"],
    ["detect", "a.wav"],              # a usage error (no --model) is reported before any import
    ["--help"],
])
def test_help_and_argument_errors_import_nothing_heavy(argv):
    code, heavy = imported(*argv)
    assert code in (0, 2) and heavy == []


def test_evaluate_runs_without_torch(tmp_path):
    scores, key = tmp_path / "llr.txt", tmp_path / "key"
    scores.write_text("filename\tcm-score\na\t1.5\nb\t-0.5\nc\t0.25\n")
    key.write_text("a bonafide\nb spoof\nc spoof\n")
    code, heavy = imported("evaluate", "--scores", str(scores), "--keys", str(key),
                           "--output_json", str(tmp_path / "r.json"))
    assert code in (0, None) and (tmp_path / "r.json").exists()
    assert "torch" not in heavy  # scipy.optimize is needed here, for minCllr


def test_detect_on_the_onnx_path_needs_no_torch(tmp_path):
    """`detect` (backend auto) on a CPU and a bundle with model.onnx reads the manifest, the
    audio and runs onnxruntime without importing torch, and scores like the PyTorch model."""
    pytest.importorskip("onnxscript")
    from tests.conftest import write_wav
    from tests.test_bundle import CALIBRATION, make_exp_dir
    from wedefense.inference.bundle import export_bundle
    from wedefense.inference.detector import Detector

    exp = make_exp_dir(tmp_path)
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps(CALIBRATION))  # folded into model.onnx: checked too
    bundle = str(tmp_path / "bundle")
    export_bundle(os.path.join(exp, "config.yaml"), os.path.join(exp, "models", "avg_model.pt"),
                  bundle, calibration_path=str(calibration), torchscript=False)
    wav, out = str(tmp_path / "one.wav"), tmp_path / "scores.tsv"
    write_wav(wav, 1.3, 0)

    # --device cpu: without it a machine with a GPU rightly picks PyTorch on the GPU
    code, heavy = imported("detect", "--model", bundle, "--device", "cpu", "--out", str(out),
                           wav)
    assert code in (0, None) and heavy == []
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0][:2] == ["utt", "llr"] and rows[1][0] == "one"
    reference = Detector.load(bundle, backend="pytorch").score_files([wav])[0].llr
    assert abs(float(rows[1][1]) - reference) <= 1e-4


def test_auto_backend_without_a_gpu_driver_does_not_ask_torch(monkeypatch):
    """No --device: with no GPU driver on the machine, auto picks onnx without importing torch
    to ask for CUDA (torch made unimportable here: asking it would fail)."""
    pytest.importorskip("onnxruntime")
    from wedefense.inference import detector

    monkeypatch.setattr(detector.sys, "platform", "linux")
    monkeypatch.setattr(detector.os.path, "exists", lambda path: False)
    monkeypatch.setitem(sys.modules, "torch", None)
    assert detector._fastest_exact_backend({"onnx": "model.onnx"}, None) == "onnx"
    monkeypatch.setattr(detector.os.path, "exists", lambda path: path == "/dev/nvidiactl")
    with pytest.raises(ImportError):
        detector._fastest_exact_backend({"onnx": "model.onnx"}, None)
