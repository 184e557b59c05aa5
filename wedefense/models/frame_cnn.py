"""A CNN on filterbanks that keeps its time axis, for frame-level spoof localization on a CPU.

Residual 3x3 blocks that stride over frequency only (so every fbank frame survives), the
frequency axis flattened into channels and projected, time averaged over ``time_pool`` frames
(10 ms fbank frames -> 20 ms at the default 2), then a stack of dilated 1-D convolutions for
temporal context (dilations 1, 2, 4, ...: +-14 output frames, 280 ms, at the defaults). Dilated
convolutions rather than a BiLSTM: they export to ONNX as they are and padding is masked
exactly, so a batched utterance scores as it does alone. Padded frames are zeroed after every
block. Our own design (no published reference); sized to train in minutes on two CPU cores.
"""

import torch
from torch import nn

from wedefense.models.frame_model import pool_time
from wedefense.models.pooling import time_mask


class FreqResBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and ReLU; stride ``(freq_stride, 1)``."""

    def __init__(self, in_ch, out_ch, freq_stride=2):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=(freq_stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.short = nn.Sequential()
        if freq_stride != 1 or in_ch != out_ch:
            self.short = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=(freq_stride, 1), bias=False),
                nn.BatchNorm2d(out_ch))

    def forward(self, x, mask):
        out = torch.relu(self.bn1(self.conv1(x))) * mask
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.short(x)) * mask


class FrameCNN(nn.Module):
    """Args:
        feat_dim: feature columns (fbank bins).
        channels: output channels of the residual blocks (each halves the frequency axis).
        embed_dim: size of the frame embeddings.
        time_pool: input frames averaged into one output frame (set by the model builder from
            ``frame_resolution`` and the front-end's frame shift).
        context_dilations: dilations of the temporal convolutions (kernel 3, residual).
        dropout: on the frame embeddings while training.
    """

    def __init__(self, feat_dim=80, channels=(16, 32, 64), embed_dim=128, time_pool=2,
                 context_dilations=(1, 2, 4), dropout=0.1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, channels[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels[0]), nn.ReLU())
        blocks, in_ch, freq = [], channels[0], feat_dim
        for ch in channels:
            blocks.append(FreqResBlock(in_ch, ch))
            in_ch, freq = ch, (freq + 1) // 2
        self.blocks = nn.ModuleList(blocks)
        self.proj = nn.Linear(in_ch * freq, embed_dim)
        self.context = nn.ModuleList(
            nn.Conv1d(embed_dim, embed_dim, 3, padding=d, dilation=d) for d in context_dilations)
        self.norms = nn.ModuleList(nn.LayerNorm(embed_dim) for _ in context_dilations)
        self.drop = nn.Dropout(dropout)
        self.time_pool = int(time_pool)
        self.embed_dim = embed_dim
        self.feat_dim = feat_dim

    def forward(self, feats, frame_lengths):
        """``feats (B, T, F)`` -> ``(emb (B, ceil(T / time_pool), D), lengths)``."""
        lengths = frame_lengths.to(feats.device)
        mask = time_mask(lengths, feats.size(1), feats.dtype)[:, None, None, :]
        x = self.stem(feats.transpose(1, 2).unsqueeze(1)) * mask          # (B, C, F, T)
        for block in self.blocks:
            x = block(x, mask)
        x = self.proj(x.flatten(1, 2).transpose(1, 2))                    # (B, T, D)
        x, lengths = pool_time(x, lengths, self.time_pool)
        mask = time_mask(lengths, x.size(1), x.dtype).unsqueeze(-1)
        x = x * mask
        for conv, norm in zip(self.context, self.norms):
            x = (x + torch.relu(norm(conv(x.transpose(1, 2)).transpose(1, 2)))) * mask
        return self.drop(x), lengths
