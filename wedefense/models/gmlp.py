"""gMLP back-end on SSL features (``frontend: ssl``): gated-MLP blocks (H. Liu, Z. Dai, D. R. So,
Q. V. Le, "Pay attention to MLPs", NeurIPS 2021) over the SSL frame sequence, as the PartialSpoof
countermeasures use them (L. Zhang, X. Wang, E. Cooper, N. Evans, J. Yamagishi, "The PartialSpoof
database and countermeasures for the detection of short fake speech segments embedded in an
utterance", IEEE/ACM TASLP 2023), pooled to one utterance embedding.

Block, as published by Liu et al.: LayerNorm, linear ``d -> d_ffn``, GELU, the spatial gating
unit (split the channels in two halves ``u, v``; LayerNorm on ``v``; a linear map across time,
``W v + b`` with ``W`` initialised near 0 and ``b`` at 1; output ``u * (W v + b)``), linear
``d_ffn / 2 -> d``, plus the input. The time-mixing matrix has a fixed size, ``max_frames``;
a sequence uses its top-left corner.

Chosen here (the utterance-level detail is not published): the input is a learnt weighted sum
of all SSL layers (``layer`` picks one), a linear projection to ``proj_dim`` (128), 2 blocks
with ``d_ffn`` 256, ``max_frames`` 1500 (30 s at the usual 20 ms SSL frame shift, the bundle's
scoring window), then the mean over valid frames: the embedding. Padded frames are zeroed
before every time mixing, so they never change the result.
"""

import torch
import torch.nn.functional as F
from torch import nn

from wedefense.models.pooling import time_mask
from wedefense.models.ssl_input import SSLLayerInput


class SpatialGatingUnit(nn.Module):
    def __init__(self, d_ffn, max_frames):
        super().__init__()
        self.norm = nn.LayerNorm(d_ffn // 2)
        self.weight = nn.Parameter(torch.empty(max_frames, max_frames).uniform_(-0.01, 0.01))
        self.bias = nn.Parameter(torch.ones(max_frames))

    def forward(self, z, mask):
        """``z (B, T, d_ffn)``, ``mask (B, T, 1)`` -> ``(B, T, d_ffn / 2)``."""
        u, v = z.chunk(2, dim=-1)
        v = self.norm(v) * mask
        t = z.size(1)
        v = torch.matmul(self.weight[:t, :t], v) + self.bias[:t].unsqueeze(-1)
        return u * v


class GMLPBlock(nn.Module):
    def __init__(self, d_model, d_ffn, max_frames):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.proj_in = nn.Linear(d_model, d_ffn)
        self.sgu = SpatialGatingUnit(d_ffn, max_frames)
        self.proj_out = nn.Linear(d_ffn // 2, d_model)

    def forward(self, x, mask):
        z = F.gelu(self.proj_in(self.norm(x)))
        return (x + self.proj_out(self.sgu(z, mask))) * mask


class GMLP(nn.Module):
    """Args:
        feat_dim, num_layers: SSL hidden size and number of hidden layers.
        layer: ``None`` (a learnt weighted sum of all layers) or one layer's index.
        proj_dim: model width ``d`` after the input projection (the embedding size).
        d_ffn: width inside each block (even).
        num_blocks: gMLP blocks.
        max_frames: longest sequence (frames) the time-mixing matrices cover.
    """

    def __init__(self, feat_dim=1024, num_layers=None, layer=None, proj_dim=128, d_ffn=256,
                 num_blocks=2, max_frames=1500):
        super().__init__()
        if d_ffn % 2:
            raise ValueError(f"SSL_gMLP: d_ffn must be even, got {d_ffn}")
        self.input = SSLLayerInput("SSL_gMLP", num_layers, layer)
        self.proj = nn.Linear(feat_dim, proj_dim)
        self.blocks = nn.ModuleList(GMLPBlock(proj_dim, d_ffn, max_frames)
                                    for _ in range(num_blocks))
        self.max_frames = max_frames
        self.feat_dim = feat_dim
        self.embed_dim = proj_dim

    def forward(self, hidden, frame_lengths):
        if hidden.size(2) > self.max_frames:
            raise ValueError(f"SSL_gMLP covers at most {self.max_frames} frames (max_frames), "
                             f"got a batch of {hidden.size(2)}; score long audio in windows")
        lengths = frame_lengths.to(hidden.device)
        mask = time_mask(lengths, hidden.size(2), hidden.dtype).unsqueeze(-1)   # (B, T, 1)
        x = self.proj(self.input(hidden)) * mask
        for block in self.blocks:
            x = block(x, mask)
        return (x * mask).sum(1) / mask.sum(1).clamp(min=1.0)
