"""Projection heads: embedding -> class logits.

In training a margin head may use the labels to shape the logits; at inference (``labels=None``)
every head returns plain scaled cosine or linear logits, so no label is ever needed to score.
Logits are always ``(B, num_classes)`` in the config's class order, so ``logits_to_llr`` applies
to every head (OC-softmax included, see ``OCSoftmaxHead``).

Each head class states in ``logits_are_log_posteriors`` whether its inference logits are log
posteriors up to a per-row constant, i.e. whether it was trained by softmax cross-entropy on
them (linear, AM-softmax and AAM-softmax, whose inference logits carry no margin). Only then does
removing the training class prior (stage 6, README.md "Stage 6") turn them into log likelihoods. The
OC-softmax and P2SGrad logits are not log posteriors: stage 6 and a bundle's ``LLRModel`` take
their bona fide minus spoof logit difference as it is, a score that needs calibration (stage 6
calibrates it on dev) before it may be read as an LLR.

Every head has ``loss(logits, labels)``, the training criterion on the logits its ``forward``
returned for those labels: cross-entropy for all heads but P2SGrad (mean squared error between
cosines and one-hot targets). A training loop should call it rather than hard-code
cross-entropy.
"""

import inspect
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from wedefense.utils.errors import InputError


class _Head(nn.Module):
    # see the module docstring; read it through ``logits_are_log_posteriors(project_type)``
    logits_are_log_posteriors = True

    def loss(self, logits, labels):
        return F.cross_entropy(logits, labels)


class LinearHead(_Head):
    """Plain softmax classifier."""

    def __init__(self, embed_dim, num_classes):
        super().__init__()
        self.fc = nn.Linear(embed_dim, num_classes)

    def forward(self, embedding: torch.Tensor,
                labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.fc(embedding)


class AdditiveMarginHead(_Head):
    """Cosine logits with a margin on the target class (AM-softmax; AAM with ``angular``)."""

    def __init__(self, embed_dim, num_classes, scale=32.0, margin=0.2, angular=False):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        nn.init.xavier_uniform_(self.weight)
        self.scale = scale
        self.margin = margin
        self.angular = angular

    def forward(self, embedding: torch.Tensor,
                labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        cosine = F.linear(F.normalize(embedding), F.normalize(self.weight))
        if labels is None or self.margin == 0.0:
            return self.scale * cosine
        if self.angular:
            sine = torch.sqrt((1.0 - cosine ** 2).clamp(min=1e-7))
            target = cosine * math.cos(self.margin) - sine * math.sin(self.margin)
            # beyond pi - m, cos(theta + m) stops decreasing; fall back to a linear penalty
            target = torch.where(cosine > math.cos(math.pi - self.margin), target,
                                 cosine - math.sin(math.pi - self.margin) * self.margin)
        else:
            target = cosine - self.margin
        one_hot = F.one_hot(labels, cosine.shape[1]).to(cosine.dtype)
        return self.scale * (one_hot * target + (1.0 - one_hot) * cosine)


class OCSoftmaxHead(_Head):
    """One-class softmax (Zhang, Jiang and Duan, 2021) for two classes, bona fide and spoof.

    A single weight vector ``w``; the score is the cosine ``s = cos(w, x)``. The loss is
    ``log(1 + exp(alpha (m_real - s)))`` for bona fide and ``log(1 + exp(alpha (s - m_fake)))``
    for spoof, which compacts bona fide around ``w`` and pushes spoofs away.

    Logits, in the classes' order (``bonafide_index`` is the bona fide column):

    - training (``labels`` given): ``z_bona = alpha s`` and ``z_spoof = alpha m_y`` (``m_y`` the
      margin of each row's own class), so cross-entropy on them *is* the OC-softmax loss;
    - inference: ``z_bona = alpha s`` and ``z_spoof = alpha (m_real + m_fake) / 2``, so
      ``z_bona - z_spoof = alpha (s - (m_real + m_fake) / 2)`` is a monotonic score with its zero
      half-way between the two margins, and ``logits_to_llr`` gives ``alpha (s - m_mid)``.

    These logits are not log posteriors (the objective is one-class, not a softmax over the
    classes), so no training prior is removed from them: ``alpha (s - m_mid)`` is a score that
    needs calibration to be an LLR.
    """

    logits_are_log_posteriors = False

    def __init__(self, embed_dim, num_classes=2, m_real=0.9, m_fake=0.2, alpha=20.0,
                 bonafide_index=0):
        super().__init__()
        if num_classes != 2:
            raise ValueError(f"oc_softmax needs exactly 2 classes (bona fide, spoof), "
                             f"got {num_classes}")
        if bonafide_index not in (0, 1):
            raise ValueError(f"bonafide_index must be 0 or 1, got {bonafide_index}")
        if not -1.0 <= m_fake < m_real <= 1.0:
            raise ValueError(f"need -1 <= m_fake < m_real <= 1, got {m_fake}, {m_real}")
        self.weight = nn.Parameter(torch.empty(1, embed_dim))
        nn.init.kaiming_uniform_(self.weight, a=0.25)
        self.m_real = m_real
        self.m_fake = m_fake
        self.alpha = alpha
        self.bonafide_index = bonafide_index

    def score(self, embedding):
        """Cosine ``s`` between each embedding and the bona fide direction, ``(B,)``."""
        return F.linear(F.normalize(embedding), F.normalize(self.weight)).squeeze(-1)

    def forward(self, embedding: torch.Tensor,
                labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        s = self.score(embedding)
        if labels is None:
            other = torch.full_like(s, 0.5 * (self.m_real + self.m_fake))
        else:
            is_bona = labels == self.bonafide_index
            other = torch.where(is_bona, torch.full_like(s, self.m_real),
                                torch.full_like(s, self.m_fake))
        columns = [s, other] if self.bonafide_index == 0 else [other, s]
        return self.alpha * torch.stack(columns, dim=-1)


class P2SGradHead(_Head):
    """P2SGrad (Wang and Yamagishi, 2021): cosine logits trained by mean squared error.

    ``forward`` returns ``scale * cos(w_c, x)`` for every class, with or without labels (no
    margin, no hyper-parameter); ``loss`` is the MSE between the cosines and one-hot targets,
    whose gradient is the "probability-to-similarity" gradient of the paper. ``scale`` only
    rescales the logits for scoring (default 1: logits are the cosines).

    Cosines fitted to one-hot targets are not log posteriors, so no training prior is removed
    from them: the bona fide minus spoof cosine difference is a score that needs calibration.
    """

    logits_are_log_posteriors = False

    def __init__(self, embed_dim, num_classes, scale=1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        nn.init.xavier_uniform_(self.weight)
        self.scale = scale

    def forward(self, embedding: torch.Tensor,
                labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        cosine = F.linear(F.normalize(embedding), F.normalize(self.weight)).clamp(-1.0, 1.0)
        return self.scale * cosine

    def loss(self, logits, labels):
        target = F.one_hot(labels, logits.shape[-1]).to(logits.dtype)
        return F.mse_loss(logits / self.scale, target)


PROJECTIONS = {
    "linear": "plain softmax", "softmax": "alias of linear",
    "am_softmax": "additive margin", "add_margin": "alias of am_softmax",
    "aam_softmax": "additive angular margin", "arc_margin": "alias of aam_softmax",
    "oc_softmax": "one-class softmax (2 classes)", "p2sgrad": "P2SGrad (MSE on cosines)",
}
# project_type -> (head class, arguments build_projection sets itself)
_HEADS = {
    "linear": (LinearHead, {}), "softmax": (LinearHead, {}),
    "am_softmax": (AdditiveMarginHead, {"angular": False}),
    "add_margin": (AdditiveMarginHead, {"angular": False}),
    "aam_softmax": (AdditiveMarginHead, {"angular": True}),
    "arc_margin": (AdditiveMarginHead, {"angular": True}),
    "oc_softmax": (OCSoftmaxHead, {}), "p2sgrad": (P2SGradHead, {}),
}


def head_class(project_type):
    """The head class of ``project_type``; ValueError for an unknown one."""
    if project_type not in _HEADS:
        raise ValueError(f"unknown project_type '{project_type}' "
                         f"(known: {', '.join(PROJECTIONS)})")
    return _HEADS[project_type][0]


def head_arguments(project_type):
    """The ``projection_args`` keys that ``project_type`` accepts besides ``project_type``."""
    cls, fixed = head_class(project_type), _HEADS[project_type][1]
    params = list(inspect.signature(cls.__init__).parameters)
    return [name for name in params
            if name not in ("self", "embed_dim", "num_classes") and name not in fixed]


def logits_are_log_posteriors(project_type="linear"):
    """Whether the logits of a ``project_type`` head are log posteriors, from which stage 6
    removes the training prior; false for OC-softmax and P2SGrad (see the module docstring)."""
    return head_class(project_type).logits_are_log_posteriors


def build_projection(embed_dim, num_classes, project_type="linear", **kwargs):
    """The head named ``project_type`` (see ``PROJECTIONS``); ``kwargs`` go to the head.

    An argument the head does not take is an error (an :class:`InputError` naming the accepted
    ones), never silently dropped.
    """
    cls, fixed = head_class(project_type), _HEADS[project_type][1]
    accepted = head_arguments(project_type)
    unknown = [name for name in kwargs if name not in accepted]
    if unknown:
        raise InputError(f"projection_args: project_type '{project_type}' does not take "
                         f"{', '.join(map(repr, unknown))}; it accepts "
                         f"{', '.join(['project_type'] + accepted)}")
    return cls(embed_dim, num_classes, **fixed, **kwargs)
