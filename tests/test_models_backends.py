"""RawNet2 and the SSL back-ends SLS, Res1D, Nes2Net and gMLP: gradients reach every trainable
parameter, padding never changes a score, the registry builds them, two training steps through
the training script, and a bundle round trip (ONNX always, TorchScript for RawNet2)."""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

transformers = pytest.importorskip("transformers")

from tests.test_ssl import TINY_ARCH  # noqa: E402
from tests.test_train import make_set, train_args  # noqa: E402
from wedefense.bin import train  # noqa: E402
from wedefense.inference import bundle  # noqa: E402
from wedefense.inference.detector import Detector  # noqa: E402
from wedefense.models.registry import build_model, count_parameters  # noqa: E402
from wedefense.models.sls import segment_means  # noqa: E402

CLASSES = ["bonafide", "spoof"]
SSL_FRONTEND = {"frontend": "ssl",
                "frontend_args": {"config": {"model_type": "wav2vec2", **TINY_ARCH}}}
TINY = {
    "RawNet2": {"frontend": "raw", "model_args": {"sinc_filters": 6, "sinc_kernel": 64,
                                                  "channels": [6, 8, 8], "gru_units": 12,
                                                  "gru_layers": 2, "embed_dim": 10}},
    "SSL_SLS_Utt": {**SSL_FRONTEND, "model_args": {"pooled_frames": 8, "hidden_dim": 16}},
    "SSL_Res1D": {**SSL_FRONTEND, "model_args": {"se_dim": 8, "embed_dim": 16}},
    "SSL_Nes2Net": {**SSL_FRONTEND, "model_args": {"nes_ratio": [4, 2]}},
    "SSL_gMLP": {**SSL_FRONTEND, "model_args": {"proj_dim": 16, "d_ffn": 16,
                                                "max_frames": 800}},
}


def tiny_model(name, **model_args):
    torch.manual_seed(0)
    config = {"classes": CLASSES, "model": name, **TINY[name]}
    config["model_args"] = {**config["model_args"], **model_args}
    return build_model(config)


@pytest.mark.parametrize("name", sorted(TINY))
def test_gradients_reach_every_trainable_parameter(name):
    model = tiny_model(name).train()
    wavs = 0.1 * torch.randn(3, 6000)
    labels = torch.tensor([0, 1, 1])
    logits = model(wavs, torch.tensor([6000, 5000, 4500]), labels)
    assert logits.shape == (3, 2)
    model.projection.loss(logits, labels).backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    missing = [n for n, p in trainable.items() if p.grad is None]
    assert not missing, missing
    backbone = [p.grad for p in model.backbone.parameters()]
    assert all(torch.isfinite(g).all() for g in backbone)
    assert any(g.abs().sum() > 0 for g in backbone)
    assert model.eval().embed(wavs).shape == (3, model.backbone.embed_dim)


@pytest.mark.parametrize("name", sorted(TINY))
def test_padded_batch_equals_lone_utterances(name):
    model = tiny_model(name).eval()
    lengths = torch.tensor([8000, 5100, 3700])
    wavs = 0.1 * torch.randn(3, 8000)
    wavs[1, 5100:] = 0.9  # garbage padding
    wavs[2, 3700:] = -0.5
    with torch.no_grad():
        batched = model.embed(wavs, lengths)
        for i, n in enumerate(lengths):
            alone = model.embed(wavs[i:i + 1, :n])
            torch.testing.assert_close(batched[i], alone[0], atol=2e-5, rtol=1e-4)


def test_rawnet2_published_configuration():
    model = build_model({"classes": CLASSES, "frontend": "raw", "model": "RawNet2"})
    backbone = model.backbone
    assert backbone.sinc.shape == (20, 1, 1025) and not model.mean_norm
    assert [b.conv1.out_channels for b in backbone.blocks] == [20, 20, 128, 128, 128, 128]
    gru = backbone.gru
    assert (gru.input_size, gru.hidden_size, gru.num_layers) == (128, 1024, 3)
    assert backbone.embed_dim == 1024 and backbone.embedding.out_features == 1024
    # a sinc kernel of 1025 taps and 7 max-pools of 3 before the GRU
    assert backbone.min_samples() == 1024 + 3 ** 7
    with pytest.raises(ValueError, match="at least 3211 samples"):
        model(torch.zeros(1, 3000))
    with pytest.raises(ValueError, match="raw waveforms"):
        build_model({"classes": CLASSES, "frontend": "lfcc", "model": "RawNet2"})


def test_sls_segments_are_adaptive_pooling_and_the_published_size_is_identity():
    x = torch.randn(2, 37, 5)
    lengths = torch.tensor([37, 23])
    out = segment_means(x, lengths, 8)
    for i, n in enumerate(lengths):
        expected = F.adaptive_avg_pool1d(x[i:i + 1, :n].transpose(1, 2), 8).transpose(1, 2)
        torch.testing.assert_close(out[i], expected[0])
    # the published 4-s input: 201 frames, 67 after the 3x3 pool, one frame per segment
    x = torch.randn(1, 67, 4)
    torch.testing.assert_close(segment_means(x, torch.tensor([67]), 67), x)
    full = build_model({"classes": CLASSES, **SSL_FRONTEND, "model": "SSL_SLS_Utt",
                        "model_args": {"feat_dim": 1024}})
    assert full.backbone.hidden.in_features == 67 * 341


def test_ssl_backend_options_are_checked():
    with pytest.raises(ValueError, match="layer 7 out of range"):
        tiny_model("SSL_Nes2Net", layer=7)
    with pytest.raises(ValueError, match="does not split into 5 groups"):
        tiny_model("SSL_Nes2Net", nes_ratio=[5, 2])
    with pytest.raises(ValueError, match="does not take frontend 'raw'"):
        build_model({"classes": CLASSES, "frontend": "raw", "model": "SSL_gMLP"})
    model = tiny_model("SSL_gMLP", max_frames=50).eval()
    with pytest.raises(ValueError, match="at most 50 frames"):
        model(0.1 * torch.randn(1, 2000))
    # Nes2Net defaults to the last layer, as published; Res1D to a learnt layer sum
    assert tiny_model("SSL_Nes2Net").backbone.input.layer == -1
    assert tiny_model("SSL_Res1D").backbone.input.weighted_sum is not None


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    make_set(root, "train", 8)
    make_set(root, "dev", 4, seed=1)
    return root


@pytest.mark.parametrize("name", sorted(TINY))
def test_two_training_steps_then_bundle_round_trip(name, corpus, tmp_path):
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    config = {"classes": CLASSES, "seed": 1, "num_epochs": 1, "early_stop_patience": -1,
              "dataset_args": {"sample_rate": 16000, "chunk_len": 0.5},
              "dataloader_args": {"batch_size": 4, "num_workers": 0},
              "model": name, **TINY[name], "optimizer": "Adam", "optimizer_args": {"lr": 0.01},
              "scheduler": "constant"}
    (tmp_path / "conf.yaml").write_text(yaml.safe_dump(config))
    data = tmp_path
    for name_ in ("train", "dev"):
        os.symlink(corpus / name_, data / name_)
    exp = tmp_path / "exp"
    train.main(train_args(data, exp))
    log = (exp / "train.log").read_text()
    assert "epoch 1:" in log
    state = torch.load(exp / "models" / "model_1.pt", weights_only=False)
    assert state["optimizer"]["state"]  # the optimiser stepped
    out = tmp_path / "bundle"
    torchscript = name == "RawNet2"  # transformers models do not compile to TorchScript
    bundle.export_bundle(str(exp / "config.yaml"), str(exp / "models" / "model_1.pt"), str(out),
                         torchscript=torchscript, onnx=True)
    assert (out / "model.ts").exists() == torchscript and (out / "model.onnx").exists()
    wav = 0.1 * np.random.default_rng(3).standard_normal(9000).astype(np.float32)
    reference = Detector.load(str(out)).score(wav, 16000)
    backends = ["onnx"] + (["torchscript"] if torchscript else [])
    for backend in backends:
        assert Detector.load(str(out), backend=backend).score(wav, 16000) == \
            pytest.approx(reference, abs=1e-4)
    weights = bundle.load_weights(str(out / bundle.WEIGHTS))
    model = build_model(yaml.safe_load((exp / "config.yaml").read_text()))
    model.load_state_dict(weights)
    assert count_parameters(model) == sum(v.numel() for k, v in weights.items()
                                          if "running" not in k and "num_batches" not in k)
