"""Per-utterance feature normalisation for padded batches.

Features come as (B, T, F) with each utterance's valid frame count, as ``KaldiFbank`` returns
them; statistics are taken over an utterance's own frames only, so padding never shifts them.
"""

from typing import Tuple

import torch
from torch import Tensor, nn


def masked_mean_norm(feats: Tensor, frame_lengths: Tensor) -> Tensor:
    """Subtract each utterance's mean over its valid frames; padded frames come out zero.

    Args:
        feats: (B, T, F) features.
        frame_lengths: (B,) number of valid frames of each utterance.

    Returns:
        (B, T, F) mean-normalised features.
    """
    valid = torch.arange(feats.size(1), device=feats.device) < frame_lengths.unsqueeze(1)
    mask = valid.unsqueeze(-1).to(feats.dtype)
    # An utterance without frames has nothing to normalise; the clamp only avoids 0 / 0.
    count = frame_lengths.clamp(min=1).to(feats.dtype).view(-1, 1, 1)
    mean = (feats * mask).sum(dim=1, keepdim=True) / count
    return (feats - mean) * mask


class MeanNorm(nn.Module):
    """Module form of :func:`masked_mean_norm`.

    Takes and returns ``(feats, frame_lengths)``, the same pair ``KaldiFbank`` produces, so
    front-end stages can be chained.
    """

    def forward(self, feats: Tensor, frame_lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """Mean-normalise ``feats`` (B, T, F) over each utterance's valid frames."""
        return masked_mean_norm(feats, frame_lengths), frame_lengths
