"""Res1D: a 1-D residual back-end on SSL features (``frontend: ssl``), the utterance-level
``Res1D`` back-end of the public WeDefense toolkit (L. Zhang, Y. Zhang et al., 2025).

One residual block over time on the (layer-weighted) SSL features, at their full width ``D``:
[1x1 conv, ReLU, BN], [k=3 conv, ReLU, BN], [1x1 conv, ReLU, BN], squeeze-excitation (time mean
-> linear ``D -> se_dim`` -> ReLU -> linear -> sigmoid, scaling the channels), plus the input;
then a 1x1 conv to ``embed_dim`` (128) and the mean over time: the embedding.

Chosen here (the toolkit's back-end takes one feature sequence): the input is a learnt weighted
sum of all SSL layers by default (``layer`` picks one instead); ``se_dim`` 128 and ``embed_dim``
128 are the toolkit's values. Padding never changes the result (masked convs and means).
"""

import torch
import torch.nn.functional as F
from torch import nn

from wedefense.models.nes2net import masked_mean
from wedefense.models.pooling import time_mask
from wedefense.models.ssl_input import SSLLayerInput


class ConvReluBN(nn.Module):
    def __init__(self, channels, kernel_size):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x, mask):
        return self.bn(F.relu(self.conv(x))) * mask


class Res1D(nn.Module):
    """Args:
        feat_dim, num_layers: SSL hidden size and number of hidden layers.
        layer: ``None`` (a learnt weighted sum of all layers) or one layer's index.
        kernel_size: of the middle conv.
        se_dim: squeeze-excitation bottleneck.
        embed_dim: output embedding size.
    """

    def __init__(self, feat_dim=1024, num_layers=None, layer=None, kernel_size=3, se_dim=128,
                 embed_dim=128):
        super().__init__()
        self.input = SSLLayerInput("SSL_Res1D", num_layers, layer)
        self.convs = nn.ModuleList([ConvReluBN(feat_dim, 1), ConvReluBN(feat_dim, kernel_size),
                                    ConvReluBN(feat_dim, 1)])
        self.se_down = nn.Linear(feat_dim, se_dim)
        self.se_up = nn.Linear(se_dim, feat_dim)
        self.out = nn.Conv1d(feat_dim, embed_dim, 1)
        self.feat_dim = feat_dim
        self.embed_dim = embed_dim

    def forward(self, hidden, frame_lengths):
        x = self.input(hidden).transpose(1, 2)                           # (B, D, T)
        mask = time_mask(frame_lengths.to(x.device), x.size(-1), x.dtype).unsqueeze(1)
        x = x * mask
        out = x
        for conv in self.convs:
            out = conv(out, mask)
        gate = torch.sigmoid(self.se_up(F.relu(self.se_down(masked_mean(out, mask)))))
        out = x + out * gate.unsqueeze(-1)
        return masked_mean(self.out(out), mask)
