"""RawNet2 (Tak et al., "End-to-end anti-spoofing with RawNet2", ICASSP 2021), the ASVspoof 2021
LA/DF baseline, on raw waveforms (``frontend: raw``).

Architecture, as in the paper and the baseline's ``model_config_RawNet.yaml`` (first_conv 1024,
filts [20, [20, 20], [20, 128], [128, 128]], blocks [2, 4], gru_node 1024, nb_gru_layer 3,
nb_fc_node 1024):

- fixed sinc band-pass filters (20 filters, 1024 taps made odd, mel-spaced band edges from 0 Hz
  to Nyquist, Hamming window: ``wedefense.models.aasist.sinc_bandpass_filters``), then |.|,
  a max-pool of 3 over time, BatchNorm and SELU;
- 6 residual blocks (2 of 20 channels, 4 of 128): [BN, LeakyReLU(0.3)] (not in the first block),
  conv k=3, BN, LeakyReLU(0.3), conv k=3, a 1x1 conv shortcut when the width changes, then a
  max-pool of 3 over time and filter-wise feature map scaling (FMS: ``s = sigmoid(W mean_t x)``,
  ``x * s + s``);
- BN, SELU, a 3-layer GRU (1024 units), its output at the last frame, and a 1024-unit linear
  layer: the embedding. The published output layer (1024 -> 2) is the projection head here.

Padding: activations are zeroed past each utterance's (pooled) length, FMS averages valid frames
only and the GRU output is taken at each utterance's own last frame (a unidirectional GRU never
sees what follows), so in eval mode a padded batch scores each utterance as it scores alone.
"""

import torch
import torch.nn.functional as F
from torch import nn

from wedefense.models.aasist import masked_sinc, sinc_bandpass_filters
from wedefense.models.pooling import time_mask


def _max_pool3(x):
    """Max-pool of 3 over time of ``(B, C, T)``; as a 2-D pool, which ONNX export keeps
    dynamic in T (max_pool1d gets specialised to the example length)."""
    return F.max_pool2d(x.unsqueeze(2), (1, 3)).squeeze(2)


def _masked_time_mean(x, mask):
    """Mean over the valid frames of ``x (B, C, T)``; ``mask (B, 1, T)``."""
    return (x * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)


class FMSResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, first=False):
        super().__init__()
        self.pre_bn = None if first else nn.BatchNorm1d(in_channels)
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, padding=1)
        self.bn = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1)
        self.shortcut = (nn.Conv1d(in_channels, out_channels, 1)
                         if in_channels != out_channels else None)
        self.fms = nn.Linear(out_channels, out_channels)

    def forward(self, x, lengths):
        """``x (B, C, T)`` zero past ``lengths``; returns the block output at ``T // 3`` frames
        (zero past ``lengths // 3``) and those lengths."""
        mask = time_mask(lengths, x.size(-1), x.dtype).unsqueeze(1)
        out = x if self.pre_bn is None else F.leaky_relu(self.pre_bn(x), 0.3) * mask
        out = F.leaky_relu(self.bn(self.conv1(out)), 0.3) * mask
        out = self.conv2(out) + (x if self.shortcut is None else self.shortcut(x))
        out = _max_pool3(out * mask)
        lengths = torch.div(lengths, 3, rounding_mode="floor")
        mask = time_mask(lengths, out.size(-1), out.dtype).unsqueeze(1)
        scale = torch.sigmoid(self.fms(_masked_time_mean(out, mask))).unsqueeze(-1)
        return (out * scale + scale) * mask, lengths


class RawNet2(nn.Module):
    """RawNet2 over raw waveforms; ``feats (B, N, 1)`` from the ``raw`` front-end, lengths in
    samples. Defaults are the ASVspoof 2021 baseline's.

    Args:
        feat_dim: must be 1 (raw waveform).
        sinc_filters, sinc_kernel: sinc filters and taps (an even kernel gets one more).
        channels: output channels of the residual blocks (the first block's input is the sinc
            output).
        gru_units, gru_layers: the GRU.
        embed_dim: the linear layer after the GRU (the embedding).
    """

    def __init__(self, feat_dim=1, sample_rate=16000, sinc_filters=20, sinc_kernel=1024,
                 channels=(20, 20, 128, 128, 128, 128), gru_units=1024, gru_layers=3,
                 embed_dim=1024):
        super().__init__()
        if feat_dim != 1:
            raise ValueError(f"RawNet2 takes raw waveforms (frontend: raw, feature_dim 1), "
                             f"got feat_dim {feat_dim}")
        self.register_buffer("sinc", sinc_bandpass_filters(sinc_filters, sinc_kernel,
                                                           sample_rate), persistent=False)
        self.first_bn = nn.BatchNorm1d(sinc_filters)
        blocks, in_channels = [], sinc_filters
        for i, out_channels in enumerate(channels):
            blocks.append(FMSResidualBlock(in_channels, out_channels, first=i == 0))
            in_channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.gru_bn = nn.BatchNorm1d(in_channels)
        self.gru = nn.GRU(in_channels, gru_units, num_layers=gru_layers, batch_first=True)
        self.embedding = nn.Linear(gru_units, embed_dim)
        self.num_pools = len(channels) + 1
        self.feat_dim = feat_dim
        self.embed_dim = embed_dim

    def min_samples(self):
        """Shortest input that leaves one GRU frame."""
        return self.sinc.size(-1) - 1 + 3 ** self.num_pools

    def forward(self, feats, lengths):
        wav = feats[..., 0] if feats.dim() == 3 else feats
        if wav.size(1) < self.min_samples():
            raise ValueError(f"RawNet2 needs at least {self.min_samples()} samples, "
                             f"got a batch of {wav.size(1)}")
        x, lengths = masked_sinc(wav, lengths.to(wav.device), self.sinc)
        x = _max_pool3(x)
        lengths = torch.div(lengths, 3, rounding_mode="floor")
        mask = time_mask(lengths, x.size(-1), x.dtype).unsqueeze(1)
        x = F.selu(self.first_bn(x)) * mask
        for block in self.blocks:
            x, lengths = block(x, lengths)
        mask = time_mask(lengths, x.size(-1), x.dtype).unsqueeze(1)
        x = F.selu(self.gru_bn(x)) * mask
        out, _ = self.gru(x.transpose(1, 2))                        # (B, T, units)
        last = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, out.size(-1))
        return self.embedding(out.gather(1, last).squeeze(1))
