"""`wedefense export --quantize int8`: the int8 model is calibrated, checked against the exact
model, recorded in the manifest, and refused beyond the tolerance (issue 17)."""

import json
import os

import numpy as np
import pytest
import soundfile

from tests.test_bundle import make_exp_dir
from wedefense.bin import export
from wedefense.inference.detector import Detector

pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exp_and_audio(tmp_path_factory):
    root = tmp_path_factory.mktemp("quantize")
    exp = make_exp_dir(root)
    audio = root / "audio"
    audio.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        n = int(16000 * rng.uniform(0.5, 1.5))
        soundfile.write(audio / f"u{i}.wav", 0.1 * rng.standard_normal(n), 16000)
    (audio / "silent.wav").write_bytes(b"")  # unreadable: skipped, not fatal
    return exp, str(audio)


def test_int8_bundle_is_recorded_and_scores_near_the_exact_model(exp_and_audio, tmp_path):
    exp, audio = exp_and_audio
    out = str(tmp_path / "bundle")
    export.main(["--exp_dir", exp, "--out", out, "--no_torchscript", "--quantize", "int8",
                 "--quantize_data", audio, "--int8_tolerance", "5"])
    manifest = json.loads(open(os.path.join(out, "bundle.json")).read())
    q = manifest["quantization"]
    assert manifest["files"]["onnx_int8"] == "model.int8.onnx"
    assert q["calibration_files"] == 6 and q["relative_diff"] <= 5
    exact = Detector.load(out, backend="onnx")
    int8 = Detector.load(out, backend="onnx_int8")
    assert int8.path.startswith("onnx_int8: ONNX Runtime model.int8.onnx")
    results = [d.score_files([audio], on_error="skip") for d in (exact, int8)]
    diffs = [abs(a.llr - b.llr) for a, b in zip(*results) if a.llr is not None]
    assert len(diffs) == 6
    # the parity the export measured holds when the bundle is used on the same audio
    assert max(diffs) <= q["max_abs_llr_diff"] + 1e-4


def test_int8_beyond_tolerance_is_refused_and_writes_nothing(exp_and_audio, tmp_path, capsys):
    exp, audio = exp_and_audio
    out = tmp_path / "bundle"
    with pytest.raises(SystemExit) as exit_:
        export.main(["--exp_dir", exp, "--out", str(out), "--no_torchscript",
                     "--quantize", "int8", "--quantize_data", audio, "--int8_tolerance", "0"])
    assert exit_.value.code == 2
    assert "int8 model refused" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_int8_needs_calibration_audio_and_onnx(exp_and_audio, tmp_path, capsys):
    exp, _ = exp_and_audio
    for extra, message in [([], "needs audio to calibrate on"),
                           (["--no_onnx", "--quantize_data", "x.wav"], "drop --no_onnx")]:
        with pytest.raises(SystemExit):
            export.main(["--exp_dir", exp, "--out", str(tmp_path / "b"), "--no_torchscript",
                         "--quantize", "int8", *extra])
        assert message in capsys.readouterr().err


def test_bundle_without_int8_says_how_to_make_one(exp_and_audio, tmp_path):
    from wedefense.utils.errors import InputError

    exp, _ = exp_and_audio
    out = str(tmp_path / "b")
    export.main(["--exp_dir", exp, "--out", out, "--no_torchscript"])
    with pytest.raises(InputError, match="--quantize int8"):
        Detector.load(out, backend="onnx_int8")
