"""Model zoo: every backbone trains on tiny input, pads invisibly, and is built by the registry;
AASIST sizes match the paper; mask-aware pooling."""

import glob
import os

import pytest
import torch

from wedefense.models.aasist import AASIST, AASIST_L
from wedefense.models.pooling import build_pooling
from wedefense.models.registry import build_model, count_parameters
from wedefense.utils.config import load_yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CLASSES = ["bonafide", "spoof"]
TINY_AASIST = {"sinc_filters": 12, "sinc_kernel": 32, "channels": [4, 8, 8, 8],
               "gat_dims": [8, 8]}
TINY = {
    "ResNet18": {"frontend": "fbank", "frontend_args": {"num_mel_bins": 24},
                 "model_args": {"m_channels": 4, "embed_dim": 16}},
    "ResNet34": {"frontend": "spectrogram", "frontend_args": {"fft_size": 64,
                                                              "frame_length_ms": 4.0},
                 "model_args": {"m_channels": 4, "embed_dim": 16, "pooling": "ASTP",
                                "pooling_args": {"bottleneck_dim": 8}}},
    "LCNN_LSTM": {"frontend": "lfcc", "frontend_args": {"num_ceps": 8, "num_filters": 12},
                  "model_args": {}},
    "AASIST": {"frontend": "raw", "model_args": TINY_AASIST},
    "AASIST_L": {"frontend": "raw", "model_args": {**TINY_AASIST, "pool_ratios": [0.4, 0.5, 0.7]}},
}


def tiny_model(name, **overrides):
    config = {"classes": CLASSES, "model": name, **TINY[name]}
    config.update(overrides)
    return build_model(config)


@pytest.mark.parametrize("name", sorted(TINY))
def test_forward_backward_and_embedding_contract(name):
    torch.manual_seed(0)
    model = tiny_model(name).train()
    wavs = 0.1 * torch.randn(3, 4000)
    labels = torch.tensor([0, 1, 1])
    logits = model(wavs, None, labels)
    assert logits.shape == (3, 2)
    model.projection.loss(logits, labels).backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    emb = model.eval().embed(wavs)
    assert emb.shape == (3, model.backbone.embed_dim)


@pytest.mark.parametrize("name", ["LCNN_LSTM", "AASIST", "AASIST_L"])
def test_padded_batch_equals_lone_utterances(name):
    """In eval mode padding never changes an embedding (see the modules' docstrings)."""
    torch.manual_seed(0)
    model = tiny_model(name).eval()
    lengths = torch.tensor([8000, 5000, 1500])
    wavs = 0.1 * torch.randn(3, 8000)
    wavs[1, 5000:] = 1.0  # garbage padding
    with torch.no_grad():
        batched = model.embed(wavs, lengths)
        for i, n in enumerate(lengths):
            alone = model.embed(wavs[i:i + 1, :n])
            torch.testing.assert_close(batched[i], alone[0], atol=1e-5, rtol=1e-4)


def test_aasist_parameter_counts_match_the_paper():
    # Jung et al. 2022: AASIST 297k, AASIST-L 85k parameters, output layer (160 -> 2) included
    head = 5 * 32 * 2 + 2
    assert abs(count_parameters(AASIST()) + head - 297_866) <= 0.1 * 297_866
    assert abs(count_parameters(AASIST_L()) + head - 85_306) <= 0.1 * 85_306
    full = build_model({"classes": CLASSES, "frontend": "raw", "model": "AASIST"})
    assert count_parameters(full) == 297_866
    assert not full.mean_norm  # raw waveforms are not mean-normalised by default


def test_aasist_rejects_too_short_batches_and_features():
    model = tiny_model("AASIST")
    with pytest.raises(ValueError, match="at least"):
        model(torch.zeros(1, 100))
    with pytest.raises(ValueError, match="raw waveforms"):
        build_model({"classes": CLASSES, "frontend": "lfcc", "model": "AASIST"})


@pytest.mark.parametrize("pooling,kwargs", [("TSTP", {}), ("TAP", {}),
                                            ("ASTP", {"bottleneck_dim": 8}),
                                            ("ASTP", {"global_context": True}),
                                            ("MQMHASTP", {"num_queries": 2, "num_heads": 3})])
def test_pooling_ignores_padding(pooling, kwargs):
    torch.manual_seed(0)
    pool = build_pooling(pooling, 12, **kwargs)
    lengths = torch.tensor([20, 13, 2])
    x = torch.randn(3, 12, 20)
    x[1, :, 13:] = 100.0
    x[2, :, 2:] = -50.0
    out = pool(x, lengths)
    assert out.shape == (3, pool.out_dim)
    for i, n in enumerate(lengths):
        alone = pool(x[i:i + 1, :, :n], lengths[i:i + 1])
        torch.testing.assert_close(out[i], alone[0], atol=1e-5, rtol=1e-5)


def test_mqmhastp_size_and_unweighted_limit():
    pool = build_pooling("MQMHASTP", 8, num_queries=3, num_heads=2)
    assert pool.out_dim == 2 * 8 * 3
    # with all-zero scorers the attention is uniform: every query gives plain mean and std
    for p in pool.parameters():
        torch.nn.init.zeros_(p)
    x = torch.randn(2, 8, 10)
    out = pool(x, torch.tensor([10, 10])).view(2, 3, 16)
    mean, std = x.mean(-1), x.std(-1, unbiased=False)
    for q in range(3):
        torch.testing.assert_close(out[:, q], torch.cat([mean, std], -1), atol=1e-4, rtol=1e-4)


def test_registry_errors_name_the_known_choices():
    with pytest.raises(ValueError, match="unknown frontend 'mfcc'.*lfcc"):
        build_model({"classes": CLASSES, "frontend": "mfcc", "model": "ResNet18"})
    with pytest.raises(ValueError, match="unknown model 'LCNN'.*LCNN_LSTM"):
        build_model({"classes": CLASSES, "frontend": "lfcc", "model": "LCNN"})
    with pytest.raises(ValueError, match="unknown pooling 'XYZ'.*MQMHASTP"):
        build_pooling("XYZ", 4)
    with pytest.raises(ValueError, match="exactly 2 classes"):
        build_model({"classes": ["bonafide", "A01", "A02"], "model": "ResNet18",
                     **TINY["ResNet18"], "projection_args": {"project_type": "oc_softmax"}})


# SSL configs name pretrained checkpoints that are not on disk here; tests/test_ssl.py builds
# each of them on a tiny architecture instead
RECIPE_CONFIGS = sorted(p for p in glob.glob(os.path.join(REPO, "egs", "detection", "*", "v*",
                                                          "conf", "*.yaml"))
                        if load_yaml(p).get("frontend") != "ssl")


@pytest.mark.parametrize("path", RECIPE_CONFIGS,
                         ids=[os.path.relpath(p, REPO) for p in RECIPE_CONFIGS])
def test_every_recipe_config_builds(path):
    config = load_yaml(path)
    model = build_model(config)
    assert count_parameters(model) > 0
    if config["model"].startswith("AASIST"):
        assert count_parameters(model) == {"AASIST": 297_866, "AASIST_L": 85_306}[config["model"]]
