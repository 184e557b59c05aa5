"""Fast inference paths give the scores of the PyTorch fp32 model (issue 17)."""

import os

import numpy as np
import pytest
import torch

from tests.test_bundle import CONFIG, make_exp_dir, random_batch
from wedefense.inference import bundle as bundle_io
from wedefense.inference import cpu_threads as threads
from wedefense.inference.detector import Detector
from wedefense.inference.fast_paths import fold_batchnorm
from wedefense.models.registry import build_model


def trained_looking(config=CONFIG, seed=0):
    """A model whose BatchNorms have non-trivial statistics, as after training."""
    torch.manual_seed(seed)
    model = build_model(config)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.3, 3)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return model.eval()


def test_folded_batchnorm_gives_the_same_embeddings_and_no_batchnorm_is_left():
    model = trained_looking()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # copy, not edit
    wavs, lengths = random_batch([16000, 9000, 4000], seed=1)
    with torch.inference_mode():
        ref, got = model.embed(wavs, lengths), folded.embed(wavs, lengths)
    assert torch.allclose(got, ref, atol=1e-4, rtol=0)


def test_cpu_threads_drops_to_one_on_an_oversubscribed_machine(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.3, 0.3, 0.3))
    assert threads.cpu_threads() == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (5.0, 5.0, 5.0))
    assert threads.cpu_threads() == 1


@pytest.fixture(scope="module")
def plain_bundle(tmp_path_factory):
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    root = tmp_path_factory.mktemp("paths")
    exp = make_exp_dir(root)
    out = str(root / "bundle")
    bundle_io.export_bundle(os.path.join(exp, "config.yaml"),
                            os.path.join(exp, "models", "avg_model.pt"), out, torchscript=False)
    return out


def test_auto_backend_is_onnx_on_cpu_and_scores_like_pytorch(plain_bundle):
    auto = Detector.load(plain_bundle)
    assert auto.path.startswith("onnx: ONNX Runtime model.onnx on CPU")
    pytorch = Detector.load(plain_bundle, backend="pytorch")
    assert pytorch.path.startswith("pytorch: PyTorch fp32")
    rng = np.random.default_rng(3)
    for n in (8000, 24000):
        wav = (0.1 * rng.standard_normal(n)).astype(np.float32)
        assert abs(auto.score(wav, 16000) - pytorch.score(wav, 16000)) <= 1e-4


def test_auto_backend_without_onnx_falls_back_to_pytorch(plain_bundle, tmp_path):
    import json
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(plain_bundle, copy)
    manifest = json.loads((copy / "bundle.json").read_text())
    del manifest["files"]["onnx"]
    (copy / "bundle.json").write_text(json.dumps(manifest))
    assert Detector.load(str(copy)).path.startswith("pytorch:")
