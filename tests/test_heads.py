"""Projection heads (softmax, AM/AAM, OC-softmax, P2SGrad), their losses, the margin scheduler."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wedefense.calibration.llr import logits_to_llr, removes_training_prior
from wedefense.models.margin_scheduler import MarginScheduler, build_margin_scheduler
from wedefense.models.projections import PROJECTIONS, build_projection, logits_are_log_posteriors
from wedefense.models.registry import build_model
from wedefense.utils.errors import InputError


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
    # step() takes the epochs completed: e - 1 at the start of (1-based) epoch e
    got = [sched.step(e - 1) for e in range(1, 10)]
    assert got[:2] == [0.0, 0.0] and got[5:] == [0.2] * 4  # epochs 1, 2 and 6 to 9
    assert math.isclose(got[3], 0.1) and math.isclose(sched.step(2.5), 0.075)
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
    assert build_margin_scheduler({"margin_scheduler_args": None}, proj) is None
    sched = build_margin_scheduler({"margin_scheduler_args": {
        "initial_margin": 0.1, "final_margin": 0.4, "increase_start_epoch": 1,
        "fix_start_epoch": 4}}, proj)
    assert proj.margin == 0.1 and math.isclose(sched.step(1.5), 0.25)
    with pytest.raises(ValueError, match="no 'margin'"):
        MarginScheduler(build_projection(8, 2, project_type="linear"))
    with pytest.raises(ValueError, match="before"):
        MarginScheduler(proj, increase_start_epoch=5, fix_start_epoch=2)


def run_training_schedule(sched, num_epochs, steps_per_epoch):
    """The margins train.py sets: ``step(epoch - 1 + step / S)`` for 1-based epochs."""
    return {epoch: [sched.step(epoch - 1 + step / steps_per_epoch)
                    for step in range(steps_per_epoch)]
            for epoch in range(1, num_epochs + 1)}


def test_margin_scheduler_epochs_are_one_based_as_logged():
    # the documented example: rising from the start of epoch 1, final from the start of epoch 10
    proj = build_projection(8, 2, project_type="aam_softmax", margin=0.2)
    sched = build_margin_scheduler({"margin_scheduler_args": {
        "initial_margin": 0.0, "final_margin": 0.2, "increase_start_epoch": 1,
        "fix_start_epoch": 10}}, proj)
    margins = run_training_schedule(sched, 10, 100)
    assert margins[1][0] == 0.0 and margins[1][-1] > 0.0
    assert margins[2][0] > margins[1][-1]  # still rising at the start of epoch 2
    assert all(m == 0.2 for m in margins[10])  # final throughout epoch 10
    assert margins[9][-1] < 0.2
    flat = [m for epoch in sorted(margins) for m in margins[epoch]]
    assert all(a <= b for a, b in zip(flat, flat[1:]))
    # a later start: epochs 1 and 2 keep the initial margin, epoch 3 begins the ramp
    proj = build_projection(8, 2, project_type="am_softmax", margin=0.4)
    sched = MarginScheduler(proj, initial_margin=0.1, increase_start_epoch=3, fix_start_epoch=5)
    margins = run_training_schedule(sched, 6, 4)
    assert margins[1] == margins[2] == [0.1] * 4 and margins[3][0] == 0.1
    assert math.isclose(margins[4][0], 0.25) and margins[3][-1] > 0.1
    assert margins[5] == margins[6] == [0.4] * 4 and proj.margin == 0.4


def test_empty_margin_scheduler_args_mean_the_defaults():
    proj = build_projection(8, 2, project_type="aam_softmax", margin=0.3)
    sched = build_margin_scheduler({"margin_scheduler_args": {}}, proj)
    assert sched is not None and proj.margin == 0.0 and sched.final_margin == 0.3
    assert sched.step(9) == 0.3  # start of epoch 10, the default fix_start_epoch
    with pytest.raises(InputError, match="increase_start_epoch"):
        build_margin_scheduler({"margin_scheduler_args": {"increase_start": 2}}, proj)


@pytest.mark.parametrize("project_type,args,accepted", [
    ("linear", {"scale": 32, "margin": 0.2}, "accepts project_type$"),
    ("softmax", {"margin": 0.3}, "accepts project_type$"),
    ("am_softmax", {"m_real": 0.9}, "accepts project_type, scale, margin$"),
    ("aam_softmax", {"angular": False}, "accepts project_type, scale, margin$"),
    ("p2sgrad", {"margin": 0.2}, "accepts project_type, scale$"),
    ("oc_softmax", {"scale": 30}, "m_real, m_fake, alpha, bonafide_index$"),
])
def test_heads_refuse_arguments_they_do_not_take(project_type, args, accepted):
    with pytest.raises(InputError, match=accepted) as error:
        build_projection(8, 2, project_type=project_type, **args)
    assert "projection_args" in str(error.value)
    assert all(repr(name) in str(error.value) for name in args)
    config = {"classes": ["bonafide", "spoof"], "frontend": "fbank", "model": "ResNet18",
              "model_args": {"m_channels": 4, "embed_dim": 8},
              "projection_args": {"project_type": project_type, **args}}
    with pytest.raises(InputError, match="projection_args"):
        build_model(config)


def oc_config(classes, bonafide_classes=None, **projection_args):
    config = {"classes": classes, "frontend": "fbank", "frontend_args": {"num_mel_bins": 24},
              "model": "ResNet18", "model_args": {"m_channels": 4, "embed_dim": 8},
              "projection_args": {"project_type": "oc_softmax", **projection_args}}
    if bonafide_classes is not None:
        config["bonafide_classes"] = bonafide_classes
    return config


@pytest.mark.parametrize("classes,bonafide_classes,index", [
    (["spoof", "real"], "real", 1), (["spoof", "real"], ["real"], 1),
    (["real", "spoof"], "real", 0), (["bonafide", "spoof"], None, 0),
])
def test_oc_softmax_bonafide_column_follows_bonafide_classes(classes, bonafide_classes, index):
    torch.manual_seed(0)
    model = build_model(oc_config(classes, bonafide_classes))
    assert model.projection.bonafide_index == index
    # the one-class objective compacts the bona fide class: its target is m_real
    emb = embeddings()
    labels = torch.full((6,), index)
    logits = model.projection(emb, labels)
    s = model.projection.score(emb)
    torch.testing.assert_close(logits[:, index], 20.0 * s)
    torch.testing.assert_close(logits[:, 1 - index], torch.full((6,), 20.0 * 0.9))


def test_oc_softmax_needs_exactly_one_known_bonafide_class():
    with pytest.raises(InputError, match="exactly one bona fide class"):
        build_model(oc_config(["real", "bonafide"], ["real", "bonafide"]))
    with pytest.raises(InputError, match="'real'.*not among"):
        build_model(oc_config(["bonafide", "spoof"], "real"))
    with pytest.raises(InputError, match="'bonafide'.*not among"):
        build_model(oc_config(["real", "spoof"]))
    with pytest.raises(InputError, match="bonafide_index 0"):
        build_model(oc_config(["spoof", "real"], "real", bonafide_index=0))
    assert build_model(oc_config(["spoof", "real"], "real",
                                 bonafide_index=1)).projection.bonafide_index == 1


@pytest.mark.parametrize("head,expected", [
    ("linear", True), ("softmax", True), ("am_softmax", True), ("add_margin", True),
    ("aam_softmax", True), ("arc_margin", True), ("oc_softmax", False), ("p2sgrad", False)])
def test_each_head_declares_whether_its_logits_are_log_posteriors(head, expected):
    assert logits_are_log_posteriors(head) is expected
    assert type(build_projection(8, 2, project_type=head)).logits_are_log_posteriors is expected
    assert removes_training_prior({"projection_args": {"project_type": head}}) is expected
