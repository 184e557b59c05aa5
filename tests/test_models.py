"""Model contract: waveform in, embedding/logits out, padding never changes a score."""

import pytest
import torch

from wedefense.models.projections import build_projection
from wedefense.models.registry import build_model, count_parameters

CONFIG = {"classes": ["bonafide", "spoof"], "frontend": "fbank",
          "frontend_args": {"num_mel_bins": 40}, "model": "ResNet18",
          "model_args": {"m_channels": 4, "embed_dim": 16}}


@pytest.mark.parametrize("model_name", ["ResNet18", "ResNet34"])
def test_batched_embeddings_equal_unbatched(model_name):
    torch.manual_seed(0)
    model = build_model({**CONFIG, "model": model_name}).eval()
    lengths = torch.tensor([16000, 11111, 4321, 400])
    wavs = 0.1 * torch.randn(len(lengths), int(lengths.max()))
    for i, n in enumerate(lengths):
        wavs[i, n:] = 0.0
    with torch.no_grad():
        batched = model.embed(wavs, lengths)
        logits = model(wavs, lengths)
        for i, n in enumerate(lengths):
            alone = model.embed(wavs[i:i + 1, :n])
            assert torch.allclose(batched[i], alone[0], atol=1e-5)
            # garbage in the padding must not matter either
            noisy = wavs[i:i + 1].clone()
            noisy[0, n:] = 1.0
            assert torch.allclose(model.embed(noisy, lengths[i:i + 1])[0], alone[0], atol=1e-5)
    assert logits.shape == (4, 2)


def test_resnet18_default_size_matches_published_shape():
    model = build_model({**CONFIG, "frontend_args": {}, "model_args": {}})
    # ResNet18 with 32 base channels, 80-dim fbank, 256-d embedding: about 1.2M conv weights
    # plus the pooled-stats projection
    assert 4e6 < count_parameters(model) < 6e6
    assert model.backbone.embed_dim == 256


@pytest.mark.parametrize("head", ["linear", "am_softmax", "aam_softmax"])
def test_heads_need_no_label_at_inference(head):
    torch.manual_seed(0)
    proj = build_projection(8, 3, project_type=head)
    emb = torch.randn(5, 8)
    labels = torch.tensor([0, 1, 2, 0, 1])
    plain = proj(emb)
    assert plain.shape == (5, 3)
    margin = proj(emb, labels)
    if head == "linear":
        assert torch.equal(plain, margin)
    else:
        # the margin lowers only the target logit, during training
        target = torch.arange(5), labels
        assert (margin[target] < plain[target]).all()
        mask = torch.ones_like(plain, dtype=torch.bool)
        mask[target] = False
        assert torch.equal(margin[mask], plain[mask])


def test_unknown_names_are_errors():
    with pytest.raises(ValueError, match="unknown model"):
        build_model({**CONFIG, "model": "ResNet99"})
    with pytest.raises(ValueError, match="unknown project_type"):
        build_projection(8, 2, project_type="softmaxx")
