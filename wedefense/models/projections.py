"""Projection heads: embedding -> class logits.

In training a margin head may use the labels to shape the logits; at inference (``labels=None``)
every head returns plain scaled cosine or linear logits, so no label is ever needed to score.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class LinearHead(nn.Module):
    """Plain softmax classifier."""

    def __init__(self, embed_dim, num_classes):
        super().__init__()
        self.fc = nn.Linear(embed_dim, num_classes)

    def forward(self, embedding, labels=None):
        return self.fc(embedding)


class AdditiveMarginHead(nn.Module):
    """Cosine logits with a margin on the target class (AM-softmax; AAM with ``angular``)."""

    def __init__(self, embed_dim, num_classes, scale=32.0, margin=0.2, angular=False):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        nn.init.xavier_uniform_(self.weight)
        self.scale = scale
        self.margin = margin
        self.angular = angular

    def forward(self, embedding, labels=None):
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


def build_projection(embed_dim, num_classes, project_type="linear", **kwargs):
    if project_type in ("linear", "softmax"):
        return LinearHead(embed_dim, num_classes)
    if project_type in ("am_softmax", "add_margin"):
        return AdditiveMarginHead(embed_dim, num_classes, angular=False, **kwargs)
    if project_type in ("aam_softmax", "arc_margin"):
        return AdditiveMarginHead(embed_dim, num_classes, angular=True, **kwargs)
    raise ValueError(f"unknown project_type '{project_type}' "
                     "(known: linear, am_softmax, aam_softmax)")
