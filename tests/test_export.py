"""`wedefense export` / wedefense/bin/export.py: the exp dir -> bundle command."""

import json
import os

import pytest
import yaml

from tests.test_bundle import CALIBRATION, CONFIG, make_exp_dir
from wedefense.bin import export
from wedefense.inference.detector import Detector


def test_export_cli_writes_a_usable_bundle(tmp_path):
    exp = make_exp_dir(tmp_path)
    calib = tmp_path / "calib.json"
    calib.write_text(json.dumps(CALIBRATION))
    out = tmp_path / "bundle"
    export.main(["--exp_dir", exp, "--model", "models/avg_model.pt", "--out", str(out),
                 "--no_onnx", "--calibration", str(calib)])
    manifest = json.load(open(out / "bundle.json"))
    assert manifest["files"]["torchscript"] == "model.ts" and "onnx" not in manifest["files"]
    assert manifest["source"] == {"model": "avg_model.pt", "calibration": "calib.json"}
    detector = Detector.load(str(out))
    assert detector.calibrated and detector.sample_rate == 16000
    # re-exporting replaces the bundle in place, without calibration this time
    export.main(["--exp_dir", exp, "--out", str(out), "--no_onnx", "--no_torchscript"])
    assert sorted(os.listdir(out)) == ["bundle.json", "config.yaml", "model.safetensors"]
    assert not Detector.load(str(out)).calibrated


@pytest.mark.parametrize("problem, message", [
    ("missing_model", "checkpoint not found"),
    ("fusion", "fuses 2"),
    ("no_counts", "class_counts"),
])
def test_export_bad_input_exits_cleanly(tmp_path, capsys, problem, message):
    exp = make_exp_dir(tmp_path)
    args = ["--exp_dir", exp, "--out", str(tmp_path / "bundle"), "--no_onnx"]
    if problem == "missing_model":
        args += ["--model", "models/model_99.pt"]
    elif problem == "fusion":
        calib = tmp_path / "fusion.json"
        calib.write_text(json.dumps({**CALIBRATION, "num_systems": 2, "weights": [1.0, 1.0]}))
        args += ["--calibration", str(calib)]
    else:
        path = os.path.join(exp, "config.yaml")
        text = open(path).read()
        open(path, "w").write("\n".join(line for line in text.split("\n")
                                        if "class_counts" not in line and "- 12" not in line
                                        and "- 36" not in line))
    with pytest.raises(SystemExit) as exit_:
        export.main(args)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bundle").exists()


def test_bundle_config_leaves_out_training_data_paths(tmp_path):
    # train.py records the absolute data paths under "data"
    config = {**CONFIG, "data": {"train_data": "/site/corpus/train/raw.list",
                                 "train_label": "/site/corpus/train/utt2lab",
                                 "val_data": None, "val_label": None, "data_type": "raw"}}
    exp = make_exp_dir(tmp_path, config)
    out = tmp_path / "bundle"
    export.main(["--exp_dir", exp, "--out", str(out), "--no_onnx", "--no_torchscript"])
    text = (out / "config.yaml").read_text()
    assert "/site/" not in text and "data" not in yaml.safe_load(text)
    assert yaml.safe_load(text)["model_args"] == CONFIG["model_args"]
    assert Detector.load(str(out)).classes == CONFIG["classes"]


def test_export_onto_a_regular_file_is_a_clear_error(tmp_path, capsys):
    exp = make_exp_dir(tmp_path)
    target = tmp_path / "taken"
    target.write_text("not a bundle\n")
    for out in (target, target / "bundle"):
        with pytest.raises(SystemExit) as exit_:
            export.main(["--exp_dir", exp, "--out", str(out), "--no_onnx", "--no_torchscript"])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"error: {target}" in err and "Traceback" not in err
    assert target.read_text() == "not a bundle\n"
