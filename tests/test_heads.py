"""Projection heads (softmax, AM/AAM, OC-softmax, P2SGrad), their losses, the margin scheduler."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wedefense.calibration.llr import logits_to_llr
from wedefense.models.margin_scheduler import MarginScheduler, build_margin_scheduler
from wedefense.models.projections import PROJECTIONS, build_projection
from wedefense.models.registry import build_model


def embeddings(n=6, dim=8, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("head", sorted(PROJECTIONS))
def test_every_head_scores_without_labels_and_has_a_loss(head):
    torch.manual_seed(0)
    proj = build_projection(8, 2, project_type=head)
    emb = embeddings()
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    logits = proj(emb)
    assert logits.shape == (6, 2) and torch.isfinite(logits).all()
    loss = proj.loss(proj(emb, labels), labels)
    assert loss.dim() == 0 and loss.item() > 0
    loss.backward()
    assert all(p.grad is not None for p in proj.parameters())


@pytest.mark.parametrize("head", ["am_softmax", "aam_softmax"])
def test_margin_lowers_only_the_target_logit_in_training(head):
    proj = build_projection(8, 3, project_type=head, margin=0.3, scale=16.0)
    emb = embeddings()
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    plain, margin = proj(emb), proj(emb, labels)
    target = torch.arange(6), labels
    assert (margin[target] < plain[target]).all()
    others = torch.ones_like(plain, dtype=torch.bool)
    others[target] = False
    assert torch.equal(margin[others], plain[others])


def test_oc_softmax_cross_entropy_is_the_published_loss():
    proj = build_projection(8, 2, project_type="oc_softmax", m_real=0.9, m_fake=0.2, alpha=20.0)
    emb = embeddings()
    labels = torch.tensor([0, 1, 0, 1, 1, 0])  # bonafide is column 0
    s = F.linear(F.normalize(emb), F.normalize(proj.weight)).squeeze(-1)
    margins = torch.where(labels == 0, torch.tensor(0.9), torch.tensor(0.2))
    signs = torch.where(labels == 0, 1.0, -1.0)
    expected = F.softplus(20.0 * (margins - s) * signs).mean()
    torch.testing.assert_close(proj.loss(proj(emb, labels), labels), expected)
    # inference: the bona fide - spoof logit gap is alpha (s - (m_real + m_fake) / 2)
    logits = proj(emb)
    torch.testing.assert_close(logits[:, 0] - logits[:, 1], 20.0 * (s - 0.55))


def test_oc_softmax_follows_the_bonafide_column_of_classes():
    config = {"classes": ["spoof", "bonafide"], "frontend": "fbank",
              "frontend_args": {"num_mel_bins": 24}, "model": "ResNet18",
              "model_args": {"m_channels": 4, "embed_dim": 8},
              "projection_args": {"project_type": "oc_softmax"}}
    model = build_model(config).eval()
    assert model.projection.bonafide_index == 1
    wavs = 0.1 * torch.randn(3, 4000)
    with torch.no_grad():
        logits = model(wavs).numpy()
        s = model.projection.score(model.embed(wavs)).numpy()
    llr = logits_to_llr(logits, config["classes"], [10, 10])
    # the LLR grows with the bona fide cosine: higher similarity, more bona fide
    np.testing.assert_allclose(llr, 20.0 * (s - 0.55), rtol=1e-4, atol=1e-4)


def test_oc_softmax_rejects_bad_settings():
    with pytest.raises(ValueError, match="exactly 2 classes"):
        build_projection(8, 3, project_type="oc_softmax")
    with pytest.raises(ValueError, match="m_fake < m_real"):
        build_projection(8, 2, project_type="oc_softmax", m_real=0.1, m_fake=0.5)


def test_p2sgrad_logits_are_cosines_and_loss_is_mse_to_one_hot():
    proj = build_projection(8, 2, project_type="p2sgrad")
    emb = embeddings()
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    cos = proj(emb)
    assert torch.equal(cos, proj(emb, labels))  # no margin: labels change nothing
    expected = F.cosine_similarity(emb.unsqueeze(1), proj.weight.unsqueeze(0), dim=-1)
    torch.testing.assert_close(cos, expected)
    leaf = cos.detach().requires_grad_()
    proj.loss(leaf, labels).backward()
    # P2SGrad: the gradient w.r.t. each cosine is proportional to (cos - one-hot)
    one_hot = F.one_hot(labels, 2).float()
    torch.testing.assert_close(leaf.grad, 2.0 * (cos.detach() - one_hot) / cos.numel())


def test_linear_head_loss_is_cross_entropy():
    proj = build_projection(8, 3)
    emb, labels = embeddings(), torch.tensor([0, 1, 2, 0, 1, 2])
    torch.testing.assert_close(proj.loss(proj(emb, labels), labels),
                               F.cross_entropy(proj(emb), labels))


def test_margin_scheduler_ramps_linearly_and_drives_the_head():
    proj = build_projection(8, 2, project_type="aam_softmax", margin=0.2)
    sched = MarginScheduler(proj, increase_start_epoch=2, fix_start_epoch=6)
    assert proj.margin == 0.0 and sched.final_margin == 0.2
    got = [sched.step(e) for e in range(9)]
    assert got[:3] == [0.0, 0.0, 0.0] and got[6:] == [0.2, 0.2, 0.2]
    assert math.isclose(got[4], 0.1) and math.isclose(sched.step(3.5), 0.075)
    sched.step(0)
    emb, labels = embeddings(), torch.tensor([0, 1, 0, 1, 1, 0])
    assert torch.equal(proj(emb, labels), proj(emb))  # margin 0: training logits unchanged
    sched.step(10)
    assert proj.margin == 0.2 and not torch.equal(proj(emb, labels), proj(emb))
    restored = MarginScheduler(proj, increase_start_epoch=2, fix_start_epoch=6)
    restored.load_state_dict(sched.state_dict())
    assert proj.margin == 0.2


def test_margin_scheduler_config_and_errors():
    proj = build_projection(8, 2, project_type="am_softmax", margin=0.3)
    assert build_margin_scheduler({}, proj) is None
    sched = build_margin_scheduler({"margin_scheduler_args": {
        "initial_margin": 0.1, "final_margin": 0.4, "increase_start_epoch": 0,
        "fix_start_epoch": 3}}, proj)
    assert proj.margin == 0.1 and math.isclose(sched.step(1.5), 0.25)
    with pytest.raises(ValueError, match="no 'margin'"):
        MarginScheduler(build_projection(8, 2, project_type="linear"))
    with pytest.raises(ValueError, match="before"):
        MarginScheduler(proj, increase_start_epoch=5, fix_start_epoch=2)
