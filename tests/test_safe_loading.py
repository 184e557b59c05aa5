"""Loading a checkpoint or bundle never runs code: a pickled object that would create a file
when constructed is refused, with one line naming the file, by every reader, and the file never
appears."""

import json
import os
import pickle

import pytest
import torch
import yaml

from tests.test_bundle import CONFIG, make_exp_dir
from tests.test_train import TINY_CONFIG, make_set, train_args
from wedefense.bin import average_model, detect, export, extract, train
from wedefense.inference import bundle as bundle_io
from wedefense.inference.detector import Detector
from wedefense.models.registry import load_trained_model
from wedefense.utils.checkpoint import load_checkpoint, model_state, save_checkpoint
from wedefense.utils.errors import InputError


class CreatesFile:
    """Unpickling this calls ``open(path, "w")``: the file appearing means code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "code_ran"
    yield path
    assert not path.exists(), "loading the file ran code from it"


def plant(path, marker, state=None):
    """A checkpoint at ``path``: ``state`` (or a small one) plus the file-creating object."""
    state = dict(state or {"model": {"w": torch.zeros(2)}})
    state["payload"] = CreatesFile(marker)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(state, path)


def test_the_planted_object_does_run_code_when_unpickled(tmp_path):
    """Proof that the refusals below refuse something real."""
    plant(str(tmp_path / "x.pt"), tmp_path / "ran")
    torch.load(tmp_path / "x.pt", weights_only=False)
    assert (tmp_path / "ran").exists()


@pytest.mark.parametrize("loader", [load_checkpoint, model_state])
@pytest.mark.parametrize("form", ["torch.save", "bare pickle"])
def test_library_loaders_refuse_pickled_objects(tmp_path, marker, loader, form):
    path = str(tmp_path / "model.pt")
    if form == "torch.save":
        plant(path, marker)
    else:
        with open(path, "wb") as f:
            pickle.dump({"model": CreatesFile(marker)}, f)
    with pytest.raises(InputError) as info:
        loader(path)
    message = str(info.value)
    assert path in message and "refused" in message and "\n" not in message


def test_plain_checkpoints_still_load(tmp_path):
    path = str(tmp_path / "ok.pt")
    save_checkpoint({"model": {"w": torch.ones(3)}, "epoch": 4, "rng": [[1, 2], 3.5]}, path)
    state = load_checkpoint(path)
    assert state["epoch"] == 4 and torch.equal(state["model"]["w"], torch.ones(3))


@pytest.fixture
def exp(tmp_path):
    return make_exp_dir(tmp_path)


def assert_one_line_refusal(capsys, path):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "refused" in err[0], err
    assert str(path) in err[0]


def test_average_model_refuses(exp, marker, capsys):
    models = os.path.join(exp, "models")
    save_checkpoint({"model": model_state(os.path.join(models, "avg_model.pt"))},
                    os.path.join(models, "model_1.pt"))
    plant(os.path.join(models, "model_2.pt"), marker)
    with pytest.raises(SystemExit) as info:
        average_model.main(["--src_path", models, "--num", "2",
                            "--dst_model", os.path.join(models, "out.pt")])
    assert info.value.code == 2
    assert_one_line_refusal(capsys, os.path.join(models, "model_2.pt"))
    assert not os.path.exists(os.path.join(models, "out.pt"))


def evil_weights(exp, marker):
    """Replace the exp dir's avg_model.pt by a copy whose real weights carry the object."""
    path = os.path.join(exp, "models", "avg_model.pt")
    plant(path, marker, {"model": model_state(path)})
    return path


def test_export_refuses(exp, marker, capsys, tmp_path):
    path = evil_weights(exp, marker)
    with pytest.raises(SystemExit):
        export.main(["--exp_dir", exp, "--out", str(tmp_path / "bundle"), "--no_torchscript",
                     "--no_onnx"])
    assert_one_line_refusal(capsys, path)
    assert not (tmp_path / "bundle").exists()


def test_extract_and_stage5_loader_refuse(exp, marker, capsys, tmp_path):
    path = evil_weights(exp, marker)
    config = os.path.join(exp, "config.yaml")
    with pytest.raises(InputError, match="refused"):  # stage 5 loads through this
        load_trained_model(config, path)
    (tmp_path / "raw.list").write_text('{"key": "a", "wav": "a.wav"}\n')
    with pytest.raises(SystemExit):
        extract.main(["--config", config, "--model_path", path, "--data_list",
                      str(tmp_path / "raw.list"), "--embed_ark", str(tmp_path / "e.ark"),
                      "--device", "cpu"])
    assert_one_line_refusal(capsys, path)


def as_version_1(out, weights_state):
    """Turn bundle ``out`` into a format 1 bundle (weights in a pickled model.pt)."""
    os.remove(os.path.join(out, bundle_io.WEIGHTS))
    path = os.path.join(out, "model.pt")
    torch.save(weights_state, path)
    manifest_path = os.path.join(out, bundle_io.MANIFEST)
    manifest = json.load(open(manifest_path))
    manifest.update(format_version=1, files={**manifest["files"], "weights": "model.pt"})
    json.dump(manifest, open(manifest_path, "w"))
    return path


@pytest.fixture
def plain_bundle(exp, tmp_path):
    out = str(tmp_path / "bundle")
    bundle_io.export_bundle(os.path.join(exp, "config.yaml"),
                            os.path.join(exp, "models", "avg_model.pt"), out,
                            torchscript=False, onnx=False)
    return out


@pytest.fixture
def evil_bundle(plain_bundle, marker):
    """A format 1 bundle whose model.pt carries the object beside real weights."""
    state = {"model": bundle_io.load_weights(os.path.join(plain_bundle, bundle_io.WEIGHTS)),
             "payload": CreatesFile(marker)}
    return plain_bundle, as_version_1(plain_bundle, state)


def test_bundle_weights_are_safetensors_and_version_1_still_loads(plain_bundle, tmp_path):
    weights = os.path.join(plain_bundle, bundle_io.WEIGHTS)
    assert weights.endswith(".safetensors")
    with open(weights, "rb") as f:  # safetensors: a length, then a JSON header; no pickle
        header_size = int.from_bytes(f.read(8), "little")
        assert json.loads(f.read(header_size))["__metadata__"]["format"] == bundle_io.FORMAT
    wav = torch.randn(16000).numpy() * 0.1
    llr = Detector.load(plain_bundle).score(wav, 16000)
    as_version_1(plain_bundle, {"model": bundle_io.load_weights(weights)})
    assert Detector.load(plain_bundle).score(wav, 16000) == pytest.approx(llr, abs=1e-6)


def test_detector_load_refuses(evil_bundle):
    out, weights = evil_bundle
    with pytest.raises(InputError, match="refused") as info:
        Detector.load(out)
    assert weights in str(info.value)


def test_detect_cli_refuses(evil_bundle, capsys, tmp_path):
    out, weights = evil_bundle
    from tests.conftest import write_wav

    write_wav(str(tmp_path / "a.wav"), 0.5, 0)
    with pytest.raises(SystemExit) as info:
        detect.main([str(tmp_path / "a.wav"), "--model", out, "--device", "cpu"])
    assert info.value.code == 2
    assert_one_line_refusal(capsys, weights)


def test_resume_refuses(tmp_path, marker, capsys):
    make_set(tmp_path, "train", 4)
    make_set(tmp_path, "dev", 2, seed=1)
    with open(tmp_path / "conf.yaml", "w") as f:
        yaml.safe_dump(TINY_CONFIG, f)
    path = str(tmp_path / "exp" / "models" / "model_1.pt")
    plant(path, marker)
    with pytest.raises(SystemExit):
        train.main(train_args(tmp_path, tmp_path / "exp", "--resume"))
    err = capsys.readouterr().err
    assert "refused" in err and path in err and "Traceback" not in err


def test_ssl_checkpoint_directory_refuses_pickled_bin(tmp_path, marker):
    transformers = pytest.importorskip("transformers")
    from tests.test_ssl import tiny_config
    from wedefense.frontend.ssl import SSLFrontend

    ckpt = tmp_path / "ckpt"
    model = transformers.AutoModel.from_config(tiny_config())
    model.save_pretrained(ckpt)
    for name in os.listdir(ckpt):  # the weights as the older, pickled format
        if name.endswith(".safetensors"):
            os.unlink(ckpt / name)
    weights = ckpt / "pytorch_model.bin"
    plant(str(weights), marker, model.state_dict())
    with pytest.raises(InputError, match="refused") as info:
        SSLFrontend(pretrained=str(ckpt))
    assert str(weights) in str(info.value)


def test_bundle_config_is_not_a_python_object(exp, tmp_path):
    """config.yaml is read with yaml.safe_load: a python/object tag is an error, not a call."""
    out = str(tmp_path / "bundle")
    bundle_io.export_bundle(os.path.join(exp, "config.yaml"),
                            os.path.join(exp, "models", "avg_model.pt"), out,
                            torchscript=False, onnx=False)
    marker = tmp_path / "yaml_ran"
    with open(os.path.join(out, bundle_io.CONFIG), "w") as f:
        yaml.safe_dump(CONFIG, f)
        f.write(f"x: !!python/object/apply:os.mkdir ['{marker}']\n")
    with pytest.raises(InputError):
        Detector.load(out)
    assert not marker.exists()
