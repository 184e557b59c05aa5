"""Model contract: waveform in, embedding/logits out, padding never changes a score."""

import pytest
import torch

from wedefense.models.projections import build_projection
from wedefense.models.registry import build_model, count_parameters
from wedefense.utils.errors import InputError

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


@pytest.mark.parametrize("name,kwargs", [("ASTP", {}), ("ASTP", {"global_context": True}),
                                         ("MQMHASTP", {"num_queries": 2, "num_heads": 2})])
@pytest.mark.parametrize("dtype,mean,std,tolerance", [
    (torch.float32, 100.0, 0.01, 1e-3),  # a large mean against the spread
    (torch.bfloat16, 5.0, 0.5, 1e-2),    # bf16 activations under autocast
])
def test_attentive_pooling_std_is_accurate(name, kwargs, dtype, mean, std, tolerance):
    from wedefense.models.pooling import build_pooling
    torch.manual_seed(0)
    pool = build_pooling(name, 8, **kwargs)
    scorer = pool.attention[-1] if name == "ASTP" else pool.score
    with torch.no_grad():  # equal scores: each std is the plain std over the valid frames
        scorer.weight.zero_()
        scorer.bias.zero_()
    lengths = torch.tensor([300, 200])
    x = (torch.randn(2, 8, 300) * std + mean).to(dtype)
    x[1, :, 200:] = 1e3  # padding
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                         enabled=dtype == torch.bfloat16):
        out = pool(x, lengths)
    got = out.float().view(2, -1, 16)[..., 8:]  # [mean (8), std (8)] per query
    for i, n in enumerate(lengths):
        true = x[i, :, :n].double().std(-1, unbiased=False)
        assert torch.allclose(got[i].double(), true.expand_as(got[i]), rtol=tolerance, atol=0)


@pytest.mark.parametrize("change,section,accepted", [
    ({"model_args": {"m_channel": 4}}, "model_args", "m_channels, embed_dim, pooling"),
    ({"frontend_args": {"num_mel": 40}}, "frontend_args", "num_mel_bins"),
    ({"model_args": {"m_channels": 4, "pooling": "ASTP", "pooling_args": {"bottleneck": 3}}},
     "model_args.pooling_args", "bottleneck_dim, global_context"),
    # the backbone's default pooling (TSTP for ResNet) takes no argument
    ({"model_args": {"m_channels": 4, "pooling_args": {"bottleneck_dim": 3}}},
     "model_args.pooling_args", "none"),
    ({"frontend": "lfcc", "model": "LCNN_LSTM", "frontend_args": {}, "model_args": {"dim": 3}},
     "model_args", "feat_dim, embed_dim, pooling"),
    ({"frontend": "raw", "model": "AASIST_L", "frontend_args": {},
      "model_args": {"sinc_filter": 20}}, "model_args", "sinc_filters"),
    ({"projection_args": {"project_type": "am_softmax", "scal": 30}}, "projection_args",
     "scale, margin"),
])
def test_misspelt_arguments_name_the_config_section(change, section, accepted):
    with pytest.raises(InputError) as error:
        build_model({**CONFIG, **change})
    message = str(error.value)
    assert message.startswith(f"{section}:") and accepted in message
    assert "__init__" not in message


def test_training_forward_masks_padding_and_skips_masks_only_when_batch_is_full():
    torch.manual_seed(0)
    model = build_model(CONFIG).train()
    for m in model.modules():  # running statistics, so that a lone utterance can be compared
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    lengths = torch.tensor([16000, 7000])
    wavs = 0.1 * torch.randn(2, 16000)
    wavs[1, 7000:] = 0.0
    with torch.no_grad():
        batched = model.embed(wavs, lengths)
        alone = model.embed(wavs[1:, :7000])
    assert torch.allclose(batched[1], alone[0], atol=1e-5)

    # a full batch skips the masks: same loss and gradients as multiplying by ones
    def loss_and_grads():
        model.zero_grad(set_to_none=True)
        loss = model.embed(wavs).square().mean()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.backbone.parameters()]

    skipped = loss_and_grads()
    model.backbone._needs_mask = lambda *args: True
    masked = loss_and_grads()
    assert torch.allclose(skipped[0], masked[0], rtol=1e-6, atol=0)
    for a, b in zip(skipped[1], masked[1]):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-8)
