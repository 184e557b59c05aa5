"""SLS: sensitive layer selection over all SSL layers (Q. Zhang, S. Wen, T. Hu, "Audio deepfake
detection with self-supervised XLS-R and SLS classifier", ACM Multimedia 2024), an
utterance-level back-end for ``frontend: ssl``.

As published: each hidden layer's time average goes through one shared linear layer
(``D -> 1``) and a sigmoid, giving that layer's weight (independent weights, not a softmax); the
weighted layers are summed, then BatchNorm over the one-channel (time x feature) map, SELU, a
3 x 3 max-pool, flattening and a linear layer (1024 units) with SELU: the embedding. The published
output layer (1024 -> 2) is the projection head here (the paper's code also puts a SELU on the two
logits; a linear head leaves it out).

Not published, chosen here: the paper trains on 4-s inputs (201 frames, 67 after the pool), so
its flattened size fixes the input length. To score any length, the pooled frames of each
utterance are averaged into ``pooled_frames`` equal segments (adaptive average pooling over its
own valid frames); at 201 input frames and the default 67 segments this is the published model
exactly (one frame per segment). Padded frames never change the result.

The frame-level SLS for localization is a different model (per-frame outputs, no flattening).
"""

import torch
import torch.nn.functional as F
from torch import nn

from wedefense.models.mhfa import _check_ssl_input
from wedefense.models.pooling import time_mask


def segment_means(x, lengths, segments: int):
    """``x (B, T, F)`` -> ``(B, segments, F)``: each utterance's ``lengths[b]`` valid frames
    split as ``adaptive_avg_pool1d`` splits them (segment ``s`` covers frames
    ``floor(s n / S)`` to ``ceil((s + 1) n / S)``), each segment averaged."""
    n = lengths.view(-1, 1, 1)
    s = torch.arange(segments, device=x.device).view(1, -1, 1)
    t = torch.arange(x.size(1), device=x.device).view(1, 1, -1)
    start = torch.div(s * n, segments, rounding_mode="floor")
    end = torch.div((s + 1) * n + segments - 1, segments, rounding_mode="floor")
    inside = ((t >= start) & (t < end)).to(x.dtype)                   # (B, S, T)
    weights = inside / inside.sum(-1, keepdim=True).clamp(min=1.0)
    return torch.bmm(weights, x)


class SLS(nn.Module):
    """Sensitive layer selection back-end.

    Args:
        feat_dim, num_layers: SSL hidden size and number of hidden layers (all are used).
        pooled_frames: segments the pooled time axis is averaged into (67 as published).
        hidden_dim: units of the linear layer after flattening (the embedding; 1024 published).
    """

    def __init__(self, feat_dim=1024, num_layers=None, pooled_frames=67, hidden_dim=1024):
        super().__init__()
        _check_ssl_input("SSL_SLS_Utt", num_layers)
        self.layer_score = nn.Linear(feat_dim, 1)
        self.first_bn = nn.BatchNorm2d(1)
        self.pooled_frames = pooled_frames
        self.hidden = nn.Linear(pooled_frames * (feat_dim // 3), hidden_dim)
        self.min_frames = 3
        self.feat_dim = feat_dim
        self.embed_dim = hidden_dim

    def forward(self, hidden, frame_lengths):
        if hidden.size(2) < self.min_frames:
            raise ValueError(f"SSL_SLS_Utt needs at least {self.min_frames} frames, "
                             f"got a batch of {hidden.size(2)}")
        lengths = frame_lengths.to(hidden.device)
        mask = time_mask(lengths, hidden.size(2), hidden.dtype)          # (B, T)
        count = mask.sum(1).clamp(min=1.0).view(-1, 1, 1)
        layer_means = (hidden * mask[:, None, :, None]).sum(2) / count   # (B, L, D)
        weights = torch.sigmoid(self.layer_score(layer_means))          # (B, L, 1)
        x = (hidden * weights.unsqueeze(-1)).sum(1).unsqueeze(1)         # (B, 1, T, D)
        x = F.selu(self.first_bn(x)) * mask[:, None, :, None]
        x = F.max_pool2d(x, 3).squeeze(1)                                # (B, T / 3, D / 3)
        lengths = torch.div(lengths, 3, rounding_mode="floor")
        x = segment_means(x, lengths, self.pooled_frames)
        return F.selu(self.hidden(x.flatten(1)))
