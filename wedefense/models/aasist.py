"""AASIST and AASIST-L (Jung et al., ICASSP 2022): raw waveform -> spectro-temporal graph attention.

Architecture, as published:

- a sinc-conv front-end: 70 fixed band-pass filters (129 taps, band edges equally spaced on the
  mel scale from 0 Hz to Nyquist, Hamming-windowed ideal band-pass responses), then |.|, a 3x3
  max-pool over (filter, time), BatchNorm and SELU;
- a residual encoder of 6 blocks (pre-activation BN-SELU, (2,3) convs, a (1,3) conv shortcut when
  the width changes, a (1,3) max-pool over time);
- two graphs from the encoder output ``e (B, C, F, T)``: spectral nodes ``max_t |e|`` (plus a
  learnt positional embedding) and temporal nodes ``max_f |e|``, each through a graph attention
  layer and a graph pooling (top-k nodes by a learnt sigmoid score);
- two parallel branches of two heterogeneous stacking graph attention layers (HS-GAL: both node
  types in one graph, type-pair-specific attention weights and a "master" stack node), with graph
  pooling in between; the branches are merged by an element-wise maximum ("max graph operation");
- readout: max of |nodes| and mean of nodes for each node type, plus the master node:
  ``embed_dim = 5 * gat_dims[1]`` (160). The published output layer (160 -> 2) is the projection
  head here; with the linear head AASIST has 297,866 parameters and AASIST-L 85,306.

The pre-activation of the residual blocks is applied as the paper describes it (BN-SELU feeds the
first conv); the parameter count is unaffected.

Padding: the waveform is zeroed past each utterance's length, every activation is zeroed past the
utterance's (downsampled) length, temporal nodes of padding are masked out of every attention
softmax, graph pooling keeps ``max(1, floor(n_i * ratio))`` of each utterance's own ``n_i`` nodes,
and the readout is masked. Graph attention and the readout are invariant to node order, so in eval
mode a padded batch gives each utterance its lone embedding up to float rounding. In training,
BatchNorm statistics (taken over the whole padded batch) and dropout differ anyway.
"""

import math
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from wedefense.models.pooling import time_mask


def _mel(hz):
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def _hz(mel):
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def sinc_bandpass_filters(num_filters=70, kernel_size=129, sample_rate=16000):
    """``(num_filters, 1, K)`` Hamming-windowed ideal band-pass filters whose band edges are
    ``num_filters + 1`` points equally spaced in mel from 0 Hz to Nyquist; ``K`` is
    ``kernel_size`` made odd (one more tap if even), so the filters are centred."""
    kernel_size += 1 - kernel_size % 2
    top = _mel(sample_rate / 2.0)
    edges = torch.tensor([_hz(top * i / num_filters) for i in range(num_filters + 1)],
                         dtype=torch.float64)
    t = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2.0

    def lowpass(cutoff):  # ideal low-pass impulse response, cutoff in Hz, (num_filters, K)
        normalised = 2.0 * cutoff.unsqueeze(1) / sample_rate
        return normalised * torch.sinc(normalised * t.unsqueeze(0))

    window = torch.hamming_window(kernel_size, periodic=False, dtype=torch.float64)
    filters = (lowpass(edges[1:]) - lowpass(edges[:-1])) * window
    return filters.float().unsqueeze(1)


def masked_sinc(wav: torch.Tensor, lengths: torch.Tensor,
                sinc: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The fixed front layer of RawNet2 and AASIST on a padded batch: ``|sinc filters * wav|``
    ``(B, filters, N - K + 1)``, zero past each utterance's valid outputs, and their counts."""
    wav = wav * time_mask(lengths, wav.size(1), wav.dtype)
    x = F.conv1d(wav.unsqueeze(1), sinc)
    lengths = (lengths - (sinc.size(-1) - 1)).clamp(min=0)
    return x.abs() * time_mask(lengths, x.size(-1), x.dtype).unsqueeze(1), lengths


def _masked_softmax(scores, valid, dim):
    """Softmax along ``dim`` where ``valid`` (broadcastable bool) is False gets zero weight."""
    scores = scores.masked_fill(~valid, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=dim) * valid.to(scores.dtype)


def _node_bn(bn, x):
    """BatchNorm1d over the features of ``x (B, N, D)``."""
    return bn(x.transpose(1, 2)).transpose(1, 2)


class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, first=False):
        super().__init__()
        self.first = first
        self.bn1 = None if first else nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, (2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, (2, 3), padding=(0, 1))
        self.shortcut = (nn.Conv2d(in_channels, out_channels, (1, 3), padding=(0, 1))
                         if in_channels != out_channels else None)

    def forward(self, x, mask):
        """``x (B, C, F, T)`` zero past each length; ``mask (B, 1, 1, T)``. Returns the block
        output at T // 3 frames (not yet masked)."""
        out = x if self.first else F.selu(self.bn1(x)) * mask
        out = F.selu(self.bn2(self.conv1(out))) * mask
        out = self.conv2(out) + (x if self.shortcut is None else self.shortcut(x))
        return F.max_pool2d(out * mask, (1, 3))


class GraphAttention(nn.Module):
    """Graph attention over a fully connected graph of ``(B, N, in_dim)`` nodes."""

    def __init__(self, in_dim, out_dim, temperature=1.0, dropout=0.2):
        super().__init__()
        self.pair_proj = nn.Linear(in_dim, out_dim)
        self.pair_weight = nn.Parameter(torch.empty(out_dim, 1))
        nn.init.xavier_normal_(self.pair_weight)
        self.with_att = nn.Linear(in_dim, out_dim)
        self.without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.drop = nn.Dropout(dropout)
        self.temperature = temperature

    def forward(self, x, valid):
        x = self.drop(x) * valid.unsqueeze(-1).to(x.dtype)
        pairs = torch.tanh(self.pair_proj(x.unsqueeze(2) * x.unsqueeze(1)))  # (B, N, N, D)
        scores = torch.matmul(pairs, self.pair_weight).squeeze(-1) / self.temperature
        att = _masked_softmax(scores, valid.unsqueeze(1), dim=2)  # over neighbours j
        out = self.with_att(torch.matmul(att, x)) + self.without_att(x)
        return F.selu(_node_bn(self.bn, out)) * valid.unsqueeze(-1).to(out.dtype)


class HeteroGraphAttention(nn.Module):
    """Heterogeneous stacking graph attention: two node types in one graph plus a master node.

    Attention weights depend on the pair of node types (1-1, 2-2, 1-2); the master node attends
    over all nodes and is updated alongside them.
    """

    def __init__(self, in_dim, out_dim, temperature=1.0, dropout=0.2):
        super().__init__()
        self.type1_proj = nn.Linear(in_dim, in_dim)
        self.type2_proj = nn.Linear(in_dim, in_dim)
        self.pair_proj = nn.Linear(in_dim, out_dim)
        self.master_pair_proj = nn.Linear(in_dim, out_dim)
        # columns: type 1-1, type 2-2, mixed pairs
        self.pair_weight = nn.Parameter(torch.empty(out_dim, 3))
        self.master_weight = nn.Parameter(torch.empty(out_dim, 1))
        nn.init.xavier_normal_(self.pair_weight)
        nn.init.xavier_normal_(self.master_weight)
        self.with_att = nn.Linear(in_dim, out_dim)
        self.without_att = nn.Linear(in_dim, out_dim)
        self.master_with_att = nn.Linear(in_dim, out_dim)
        self.master_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.drop = nn.Dropout(dropout)
        self.temperature = temperature

    def forward(self, x1, valid1, x2, valid2, master):
        n1, n2 = x1.size(1), x2.size(1)
        valid = torch.cat([valid1, valid2], dim=1)
        node_mask = valid.unsqueeze(-1).to(x1.dtype)
        x = torch.cat([self.type1_proj(x1), self.type2_proj(x2)], dim=1)
        x = self.drop(x) * node_mask

        types = torch.cat([x.new_zeros(n1, dtype=torch.long), x.new_ones(n2, dtype=torch.long)])
        pair_type = torch.where(types.unsqueeze(1) == types.unsqueeze(0), types.unsqueeze(1),
                                torch.full_like(types.unsqueeze(1), 2))  # (N, N)
        pairs = torch.tanh(self.pair_proj(x.unsqueeze(2) * x.unsqueeze(1)))
        scores = torch.matmul(pairs, self.pair_weight)  # (B, N, N, 3)
        index = pair_type.expand(x.size(0), -1, -1).unsqueeze(-1)
        scores = scores.gather(-1, index).squeeze(-1) / self.temperature
        att = _masked_softmax(scores, valid.unsqueeze(1), dim=2)

        master_scores = torch.matmul(torch.tanh(self.master_pair_proj(x * master)),
                                     self.master_weight) / self.temperature  # (B, N, 1)
        master_att = _masked_softmax(master_scores, valid.unsqueeze(-1), dim=1)
        new_master = (self.master_with_att(torch.matmul(master_att.transpose(1, 2), x))
                      + self.master_without_att(master))

        out = self.with_att(torch.matmul(att, x)) + self.without_att(x)
        out = F.selu(_node_bn(self.bn, out)) * node_mask
        return out[:, :n1], out[:, n1:], new_master


class GraphPool(nn.Module):
    """Keep the top ``max(1, floor(n * ratio))`` of each graph's ``n`` valid nodes, ranked by a
    learnt sigmoid score that also gates the kept nodes."""

    def __init__(self, ratio, in_dim, dropout=0.3):
        super().__init__()
        self.ratio = ratio
        self.proj = nn.Linear(in_dim, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, h, valid):
        scores = torch.sigmoid(self.proj(self.drop(h)))  # (B, N, 1)
        count = valid.sum(1)
        keep = torch.floor(count.double() * self.ratio).long().clamp(min=1)
        keep = torch.minimum(keep, count)
        width = max(1, min(int(keep.max()), h.size(1)))
        ranking = scores.squeeze(-1).masked_fill(~valid, float("-inf"))
        index = ranking.topk(width, dim=1).indices
        kept = (h * scores).gather(1, index.unsqueeze(-1).expand(-1, -1, h.size(-1)))
        new_valid = torch.arange(width, device=h.device).unsqueeze(0) < keep.unsqueeze(1)
        return kept * new_valid.unsqueeze(-1).to(kept.dtype), new_valid


def _masked_max_abs(x, valid):
    return (x.abs() * valid.unsqueeze(-1).to(x.dtype)).max(dim=1).values


def _masked_mean(x, valid):
    mask = valid.unsqueeze(-1).to(x.dtype)
    return (x * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class GraphStack(nn.Module):
    """AASIST's graph half: spectral and temporal graph attention with pooling, two branches of
    heterogeneous stacking graph attention with a master node, the max graph operation and the
    readout. Takes the encoder's ``(B, C, F', T')`` map, zero past each utterance's
    ``lengths`` (in T' frames), and returns the ``(B, 5 * gat_dims[1])`` embedding."""

    def __init__(self, in_channels, spectral_nodes, gat_dims, pool_ratios, temperatures,
                 dropout, branch_dropout):
        super().__init__()
        self.pos_spectral = nn.Parameter(torch.randn(1, spectral_nodes, in_channels))
        gat0, gat1 = gat_dims
        self.gat_spectral = GraphAttention(in_channels, gat0, temperatures[0])
        self.gat_temporal = GraphAttention(in_channels, gat0, temperatures[1])
        self.pool_spectral = GraphPool(pool_ratios[0], gat0)
        self.pool_temporal = GraphPool(pool_ratios[1], gat0)
        self.masters = nn.ParameterList([nn.Parameter(torch.randn(1, 1, gat0)) for _ in "ab"])
        self.hsgal_first = nn.ModuleList(
            [HeteroGraphAttention(gat0, gat1, temperatures[2]) for _ in "ab"])
        self.hsgal_second = nn.ModuleList(
            [HeteroGraphAttention(gat1, gat1, temperatures[2]) for _ in "ab"])
        self.pool_h_spectral = nn.ModuleList([GraphPool(pool_ratios[2], gat1) for _ in "ab"])
        self.pool_h_temporal = nn.ModuleList([GraphPool(pool_ratios[2], gat1) for _ in "ab"])
        self.branch_drop = nn.Dropout(branch_dropout)
        self.drop = nn.Dropout(dropout)
        self.embed_dim = 5 * gat1

    def forward(self, x, lengths):
        e = x.abs()  # zero past each length, so maxima over time ignore padding
        spectral = e.max(dim=3).values.transpose(1, 2) + self.pos_spectral  # (B, F', C)
        temporal = e.max(dim=2).values.transpose(1, 2)  # (B, T', C)
        s_valid = torch.ones(spectral.shape[:2], dtype=torch.bool, device=x.device)
        t_valid = time_mask(lengths, temporal.size(1), torch.bool)
        out_s, s_valid = self.pool_spectral(self.gat_spectral(spectral, s_valid), s_valid)
        out_t, t_valid = self.pool_temporal(self.gat_temporal(temporal, t_valid), t_valid)

        branches = []
        for i in range(2):
            master = self.masters[i].expand(x.size(0), -1, -1)
            t1, s1, m1 = self.hsgal_first[i](out_t, t_valid, out_s, s_valid, master)
            s1, s1_valid = self.pool_h_spectral[i](s1, s_valid)
            t1, t1_valid = self.pool_h_temporal[i](t1, t_valid)
            t2, s2, m2 = self.hsgal_second[i](t1, t1_valid, s1, s1_valid, m1)
            branches.append((self.branch_drop(t1 + t2), self.branch_drop(s1 + s2),
                             self.branch_drop(m1 + m2)))
        # both branches keep the same number of nodes per utterance, so their masks agree
        out_t = torch.maximum(branches[0][0], branches[1][0])
        out_s = torch.maximum(branches[0][1], branches[1][1])
        master = torch.maximum(branches[0][2], branches[1][2])
        hidden = torch.cat([_masked_max_abs(out_t, t1_valid), _masked_mean(out_t, t1_valid),
                            _masked_max_abs(out_s, s1_valid), _masked_mean(out_s, s1_valid),
                            master.squeeze(1)], dim=1)
        return self.drop(hidden)


class AASIST(nn.Module):
    """AASIST over raw waveforms; ``feats (B, N, 1)`` from the ``raw`` front-end, lengths in
    samples. Defaults are the published AASIST; ``AASIST_L`` builds the light variant.

    Args:
        feat_dim: must be 1 (raw waveform).
        sinc_filters, sinc_kernel: sinc front-end filters and taps (an even kernel gets one more).
        channels: output channels of the 6 residual blocks (input of the first is 1).
        gat_dims: widths of the spectral/temporal GAT layers and of the HS-GAL layers.
        pool_ratios: graph pooling ratios (spectral, temporal, HS-GAL; a 4th value is accepted
            for compatibility with the published configs and unused, as there).
        temperatures: attention temperatures (spectral, temporal, HS-GAL; 4th unused).
        dropout: dropout of the final embedding (training only); branch_dropout: of the branch
            outputs before the max graph operation.
    """

    def __init__(self, feat_dim=1, sample_rate=16000, sinc_filters=70, sinc_kernel=128,
                 channels=(32, 32, 64, 64, 64, 64), gat_dims=(64, 32),
                 pool_ratios=(0.5, 0.7, 0.5, 0.5), temperatures=(2.0, 2.0, 100.0, 100.0),
                 dropout=0.5, branch_dropout=0.2):
        super().__init__()
        if feat_dim != 1:
            raise ValueError(f"AASIST takes raw waveforms (frontend: raw, feature_dim 1), "
                             f"got feat_dim {feat_dim}")
        self.register_buffer("sinc", sinc_bandpass_filters(sinc_filters, sinc_kernel,
                                                           sample_rate), persistent=False)
        self.first_bn = nn.BatchNorm2d(1)
        blocks, in_channels = [], 1
        for i, out_channels in enumerate(channels):
            blocks.append(ResidualBlock(in_channels, out_channels, first=i == 0))
            in_channels = out_channels
        self.encoder = nn.ModuleList(blocks)
        self.graph = GraphStack(in_channels, sinc_filters // 3, gat_dims, pool_ratios,
                                temperatures, dropout, branch_dropout)
        self.num_blocks = len(channels)
        self.feat_dim = feat_dim
        self.embed_dim = self.graph.embed_dim

    def min_samples(self):
        """Shortest input that leaves one temporal node."""
        return self.sinc.size(-1) - 1 + 3 ** (self.num_blocks + 1)

    def forward(self, feats, lengths):
        wav = feats[..., 0] if feats.dim() == 3 else feats
        if wav.size(1) < self.min_samples():
            raise ValueError(f"AASIST needs at least {self.min_samples()} samples, "
                             f"got a batch of {wav.size(1)}")
        x, lengths = masked_sinc(wav, lengths.to(wav.device), self.sinc)
        x = F.max_pool2d(x.unsqueeze(1), (3, 3))  # (B, 1, filters / 3, T / 3)
        lengths = torch.div(lengths, 3, rounding_mode="floor")
        mask = time_mask(lengths, x.size(-1), x.dtype)[:, None, None, :]
        x = F.selu(self.first_bn(x)) * mask
        for block in self.encoder:
            x = block(x, mask)
            lengths = torch.div(lengths, 3, rounding_mode="floor")
            mask = time_mask(lengths, x.size(-1), x.dtype)[:, None, None, :]
            x = x * mask

        return self.graph(x, lengths)


def AASIST_L(**kwargs):
    """AASIST-L, the light configuration published with AASIST (~85k parameters)."""
    options = dict(channels=(32, 32, 24, 24, 24, 24), gat_dims=(24, 32),
                   pool_ratios=(0.4, 0.5, 0.7, 0.5))
    options.update(kwargs)
    return AASIST(**options)
