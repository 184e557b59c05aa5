"""More back-ends over SSL hidden layers (``frontend: ssl``); see ``wedefense.models.mhfa``.

``SSLPool``: a learnt weighted sum of the layers, an optional linear projection, then any pooling
layer of ``wedefense.models.pooling`` (TSTP, TAP, ASTP, MQMHASTP) and a linear embedding.

``SSLAASIST``: the AASIST spectro-temporal graph back-end on SSL features, after H. Tak et al.,
"Automatic speaker verification spoofing and deepfake detection using wav2vec 2.0 and data
augmentation", Odyssey 2022. The (layer-weighted) SSL features are projected to ``proj_dim``
channels and treated as a one-channel (feature x time) map: BatchNorm + SELU, a max-pool over the
feature axis, then AASIST's residual encoder, graph attention, graph pooling and heterogeneous
stacking graph attention modules (``wedefense.models.aasist``), with the same masking. Each
residual block max-pools time by 3; at the SSL frame rate (50 frames/s) two blocks (the default)
leave about 22 temporal nodes for a 4 s chunk.
"""

import torch
import torch.nn.functional as F
from torch import nn

from wedefense.models import aasist
from wedefense.models.mhfa import LayerWeightedSum, _check_ssl_input
from wedefense.models.pooling import build_pooling, time_mask


class SSLPool(nn.Module):
    """Weighted layer sum -> (projection) -> pooling -> linear embedding.

    Args:
        feat_dim, num_layers: SSL hidden size and number of hidden layers.
        proj_dim: size of a linear projection before pooling (None: no projection).
        pooling, pooling_args: a pooling layer of ``wedefense.models.pooling``.
        embed_dim: output embedding size.
    """

    def __init__(self, feat_dim=768, num_layers=None, proj_dim=None, pooling="ASTP",
                 pooling_args=None, embed_dim=256):
        super().__init__()
        _check_ssl_input("SSL_Pool", num_layers)
        self.layers = LayerWeightedSum(num_layers)
        self.proj = nn.Linear(feat_dim, proj_dim) if proj_dim else nn.Identity()
        self.pool = build_pooling(pooling, proj_dim or feat_dim, **(pooling_args or {}))
        self.embedding = nn.Linear(self.pool.out_dim, embed_dim)
        self.feat_dim = feat_dim
        self.embed_dim = embed_dim

    def forward(self, hidden, frame_lengths):
        x = self.proj(self.layers(hidden)).transpose(1, 2)           # (B, C, T)
        return self.embedding(self.pool(x, frame_lengths.to(hidden.device)))


class SSLAASIST(nn.Module):
    """AASIST graph back-end on SSL features.

    Args:
        feat_dim, num_layers: SSL hidden size and number of hidden layers.
        layer: ``None`` for a learnt weighted sum of all layers, or the index of one layer
            (``-1``: the last, as in Tak et al. 2022).
        proj_dim: channels of the linear projection of the SSL features (the feature axis).
        feature_pool: max-pool factor over the feature axis before the encoder.
        channels: output channels of the residual blocks (each pools time by 3).
        gat_dims, pool_ratios (spectral, temporal, HS-GAL), temperatures (same order), dropout,
        branch_dropout: as in ``wedefense.models.aasist.AASIST``.
    """

    def __init__(self, feat_dim=1024, num_layers=None, layer=None, proj_dim=128, feature_pool=3,
                 channels=(32, 64), gat_dims=(64, 32), pool_ratios=(0.5, 0.5, 0.5),
                 temperatures=(2.0, 2.0, 100.0), dropout=0.5, branch_dropout=0.2):
        super().__init__()
        _check_ssl_input("SSL_AASIST", num_layers)
        if layer is not None and not -num_layers <= layer < num_layers:
            raise ValueError(f"layer {layer} out of range for {num_layers} hidden layers")
        self.layer = layer
        self.layers = LayerWeightedSum(num_layers) if layer is None else None
        self.proj = nn.Linear(feat_dim, proj_dim)
        self.first_bn = nn.BatchNorm2d(1)
        self.feature_pool = feature_pool
        blocks, in_channels = [], 1
        for i, out_channels in enumerate(channels):
            blocks.append(aasist.ResidualBlock(in_channels, out_channels, first=i == 0))
            in_channels = out_channels
        self.encoder = nn.ModuleList(blocks)
        self.graph = aasist.GraphStack(in_channels, proj_dim // feature_pool, gat_dims,
                                       pool_ratios, temperatures, dropout, branch_dropout)
        self.min_frames = 3 ** len(channels)
        self.feat_dim = feat_dim
        self.embed_dim = self.graph.embed_dim

    def forward(self, hidden, frame_lengths):
        if hidden.size(2) < self.min_frames:
            raise ValueError(f"SSL_AASIST needs at least {self.min_frames} frames, "
                             f"got a batch of {hidden.size(2)}")
        lengths = frame_lengths.to(hidden.device)
        feats = self.layers(hidden) if self.layer is None else hidden[:, self.layer]
        x = self.proj(feats).transpose(1, 2).unsqueeze(1)             # (B, 1, F, T)
        mask = time_mask(lengths, x.size(-1), x.dtype)[:, None, None, :]
        x = F.max_pool2d(F.selu(self.first_bn(x * mask)), (self.feature_pool, 1)) * mask
        for block in self.encoder:
            x = block(x, mask)
            lengths = torch.div(lengths, 3, rounding_mode="floor")
            mask = time_mask(lengths, x.size(-1), x.dtype)[:, None, None, :]
            x = x * mask
        return self.graph(x, lengths)
