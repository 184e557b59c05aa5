"""Nes2Net: nested Res2Net back-end for SSL features (T. Liu, D.-T. Truong, R. K. Das,
K. A. Lee, H. Li, "Nes2Net: A lightweight nested architecture for foundation model driven speech
anti-spoofing", arXiv 2504.05657, 2025), for ``frontend: ssl``.

It works on the full SSL feature width (no dimensionality-reduction layer). The outer Res2Net
splits the ``D`` channels into ``nes_ratio[0]`` groups of ``C = D / nes_ratio[0]``; group ``i``
(plus the previous group's output, for ``i > 0``) goes through its own inner block, then ReLU and
BatchNorm; the last group passes through untouched. Each inner block is a Res2Net bottleneck over
time: 1x1 conv, ReLU, BN; the ``C`` channels split into ``nes_ratio[1]`` parts, each part but the
last (plus the previous part's output) through a dilated k=3 conv, ReLU, BN; 1x1 conv, ReLU, BN;
squeeze-excitation; a residual connection. The concatenated groups: BN, ReLU, mean over time:
the embedding (``D``). The published output layer (D -> 2) is the projection head here.

Published values (paper, and the authors' released defaults): ``nes_ratio`` (8, 8), dilation 2,
SE reduction 1, mean pooling, the last SSL layer as input. This is the plain Nes2Net, not the
Nes2Net-X variant (learnt weighted sums inside the inner blocks).

Padding: every activation is zeroed past each utterance's length and the SE and final means are
over valid frames, so in eval mode a padded batch scores each utterance as it scores alone.
"""

import torch
import torch.nn.functional as F
from torch import nn

from wedefense.models.pooling import time_mask
from wedefense.models.ssl_input import SSLLayerInput


def masked_mean(x, mask):
    """Mean over valid frames of ``x (B, C, T)``, ``mask (B, 1, T)`` -> ``(B, C)``."""
    return (x * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)


class SqueezeExcite(nn.Module):
    def __init__(self, channels, reduction=1):
        super().__init__()
        self.down = nn.Conv1d(channels, channels // reduction, 1)
        self.up = nn.Conv1d(channels // reduction, channels, 1)

    def forward(self, x, mask):
        gate = self.up(F.relu(self.down(masked_mean(x, mask).unsqueeze(-1))))
        return x * torch.sigmoid(gate)


class Res2Bottleneck(nn.Module):
    """The inner Res2Net block over ``(B, channels, T)``."""

    def __init__(self, channels, scale=8, kernel_size=3, dilation=2, se_reduction=1):
        super().__init__()
        if channels % scale:
            raise ValueError(f"Nes2Net: {channels} channels do not split into {scale} parts")
        self.width = channels // scale
        self.conv_in = nn.Conv1d(channels, channels, 1)
        self.bn_in = nn.BatchNorm1d(channels)
        pad = kernel_size // 2 * dilation
        self.convs = nn.ModuleList(nn.Conv1d(self.width, self.width, kernel_size,
                                             dilation=dilation, padding=pad)
                                   for _ in range(scale - 1))
        self.bns = nn.ModuleList(nn.BatchNorm1d(self.width) for _ in range(scale - 1))
        self.conv_out = nn.Conv1d(channels, channels, 1)
        self.bn_out = nn.BatchNorm1d(channels)
        self.se = SqueezeExcite(channels, se_reduction)

    def forward(self, x, mask):
        out = self.bn_in(F.relu(self.conv_in(x))) * mask
        parts = torch.split(out, self.width, dim=1)
        outs = []
        sp = parts[0]
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            if i > 0:
                sp = sp + parts[i]
            sp = bn(F.relu(conv(sp))) * mask
            outs.append(sp)
        outs.append(parts[-1])
        out = self.bn_out(F.relu(self.conv_out(torch.cat(outs, dim=1)))) * mask
        return self.se(out, mask) + x


class Nes2Net(nn.Module):
    """Nested Res2Net back-end.

    Args:
        feat_dim, num_layers: SSL hidden size and number of hidden layers.
        layer: the input: ``-1`` the last layer (published), another index, or ``None`` for a
            learnt weighted sum of all layers.
        nes_ratio: (outer groups, inner parts).
        dilation, se_reduction: of the inner blocks.
    """

    def __init__(self, feat_dim=1024, num_layers=None, layer=-1, nes_ratio=(8, 8), dilation=2,
                 se_reduction=1):
        super().__init__()
        self.input = SSLLayerInput("SSL_Nes2Net", num_layers, layer)
        outer, inner = nes_ratio
        if feat_dim % outer:
            raise ValueError(f"Nes2Net: feat_dim {feat_dim} does not split into {outer} groups")
        self.group = feat_dim // outer
        self.blocks = nn.ModuleList(Res2Bottleneck(self.group, inner, 3, dilation, se_reduction)
                                    for _ in range(outer - 1))
        self.bns = nn.ModuleList(nn.BatchNorm1d(self.group) for _ in range(outer - 1))
        self.out_bn = nn.BatchNorm1d(feat_dim)
        self.feat_dim = feat_dim
        self.embed_dim = feat_dim

    def forward(self, hidden, frame_lengths):
        x = self.input(hidden).transpose(1, 2)                           # (B, D, T)
        mask = time_mask(frame_lengths.to(x.device), x.size(-1), x.dtype).unsqueeze(1)
        x = x * mask
        groups = torch.split(x, self.group, dim=1)
        outs = []
        sp = groups[0]
        for i, (block, bn) in enumerate(zip(self.blocks, self.bns)):
            if i > 0:
                sp = sp + groups[i]
            sp = bn(F.relu(block(sp, mask))) * mask
            outs.append(sp)
        outs.append(groups[-1])
        out = F.relu(self.out_bn(torch.cat(outs, dim=1)))
        return masked_mean(out, mask)
