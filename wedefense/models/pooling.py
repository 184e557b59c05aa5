"""Temporal pooling layers that ignore padded frames.

Each takes ``x (B, C, T)`` and ``lengths (B,)`` in frames and returns ``(B, out_dim)``; padded
frames never change the result, so a batched utterance scores exactly as it does alone.
"""

import torch
from torch import nn


def time_mask(lengths, max_len, dtype=torch.float32):
    """``(B, T)`` with 1 on valid frames and 0 on padding."""
    steps = torch.arange(max_len, device=lengths.device)
    return (steps.unsqueeze(0) < lengths.unsqueeze(1)).to(dtype)


class TSTP(nn.Module):
    """Temporal statistics pooling: mean and standard deviation over valid frames."""

    def __init__(self, in_dim):
        super().__init__()
        self.out_dim = 2 * in_dim

    def forward(self, x, lengths):
        mask = time_mask(lengths, x.shape[-1], x.dtype).unsqueeze(1)
        count = mask.sum(-1).clamp(min=1.0)
        mean = (x * mask).sum(-1) / count
        # unbiased like torch.std; the clamp keeps the sqrt differentiable at zero variance
        var = (((x - mean.unsqueeze(-1)) * mask) ** 2).sum(-1) / (count - 1).clamp(min=1.0)
        return torch.cat([mean, torch.sqrt(var.clamp(min=1e-7))], dim=-1)


POOLING = {"TSTP": TSTP}


def build_pooling(name, in_dim):
    if name not in POOLING:
        raise ValueError(f"unknown pooling '{name}' (known: {', '.join(sorted(POOLING))})")
    return POOLING[name](in_dim)
