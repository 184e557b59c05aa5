"""Temporal pooling layers that ignore padded frames.

Each takes ``x (B, C, T)`` and ``lengths (B,)`` in frames and returns ``(B, out_dim)``; padded
frames never change the result, so a batched utterance scores exactly as it does alone.
"""

import torch
from torch import nn


def time_mask(lengths: torch.Tensor, max_len: int,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(B, T)`` with 1 on valid frames and 0 on padding."""
    steps = torch.arange(max_len, device=lengths.device)
    return (steps.unsqueeze(0) < lengths.unsqueeze(1)).to(dtype)


class TSTP(nn.Module):
    """Temporal statistics pooling: mean and standard deviation over valid frames."""

    def __init__(self, in_dim):
        super().__init__()
        self.out_dim = 2 * in_dim

    def forward(self, x, lengths):
        mask = time_mask(lengths, x.shape[-1], stats_dtype(x)).unsqueeze(1)
        count = mask.sum(-1, keepdim=True).clamp(min=1.0)               # (B, 1, 1)
        mean, var = weighted_mean_var(x, mask / count)
        count = count.squeeze(-1)
        var = var * count / (count - 1).clamp(min=1.0)  # unbiased like torch.std
        return torch.cat([mean, sqrt_clamped(var)], dim=-1)


class TAP(nn.Module):
    """Temporal average pooling: the mean over valid frames (the LFCC-LCNN baseline's pooling)."""

    def __init__(self, in_dim):
        super().__init__()
        self.out_dim = in_dim

    def forward(self, x, lengths):
        mask = time_mask(lengths, x.shape[-1], x.dtype).unsqueeze(1)
        return (x * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)


def masked_softmax(scores, lengths):
    """Softmax over the last (time) axis of ``scores (B, H, T)`` ignoring padded frames.

    Padded frames get exactly zero weight; an utterance without frames gets zero weights.
    """
    valid = time_mask(lengths, scores.shape[-1], torch.bool).unsqueeze(1)
    scores = scores.masked_fill(~valid, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1) * valid.to(scores.dtype)


def stats_dtype(x):
    """At least float32: statistics of bf16/fp16 activations lose most of their digits."""
    return torch.promote_types(x.dtype, torch.float32)


def weighted_mean_var(x, weights):
    """Weighted mean and (biased) variance over the last axis of ``x``, with ``weights``
    (broadcastable to ``x``) summing to one over it; zero weights mask frames out.

    Two passes, ``sum(w * (x - mean)^2)``, in float32 or wider, autocast or not: the one-pass
    ``E[x^2] - mean^2`` cancels catastrophically when the mean is large against the spread
    (in bf16 a 10-40 % error at mean/std ~ 2-10; in float32 several times the true value at
    mean 100, std 0.01)."""
    # autocast leaves these elementwise ops and sums in their inputs' float32 (or casts to it)
    dtype = stats_dtype(x)
    x, weights = x.to(dtype), weights.to(dtype)
    mean = (x * weights).sum(-1)
    var = ((x - mean.unsqueeze(-1)) ** 2 * weights).sum(-1)
    return mean, var


def sqrt_clamped(var):
    """The clamp keeps the sqrt differentiable at zero variance."""
    return torch.sqrt(var.clamp(min=1e-7))


def weighted_stats(x, weights):
    """Weighted mean and standard deviation over time of ``x (B, C, T)`` with weights (B, C, T)
    summing to one over T (see :func:`weighted_mean_var`)."""
    mean, var = weighted_mean_var(x, weights)
    return mean, sqrt_clamped(var)


class ASTP(nn.Module):
    """Attentive statistics pooling (Okabe et al., 2018), channel-wise attention as in ECAPA.

    A 1x1-conv bottleneck (``in_dim -> bottleneck_dim``, tanh, ``-> in_dim``) scores every
    channel at every frame; a softmax over valid frames gives the weights of a weighted mean and
    standard deviation. With ``global_context`` the scorer also sees the utterance's (masked)
    mean and standard deviation.
    """

    def __init__(self, in_dim, bottleneck_dim=128, global_context=False):
        super().__init__()
        self.global_context = global_context
        scorer_in = 3 * in_dim if global_context else in_dim
        self.attention = nn.Sequential(nn.Conv1d(scorer_in, bottleneck_dim, 1), nn.Tanh(),
                                       nn.Conv1d(bottleneck_dim, in_dim, 1))
        self.out_dim = 2 * in_dim

    def forward(self, x, lengths):
        inputs = x
        if self.global_context:
            mask = time_mask(lengths, x.shape[-1], x.dtype).unsqueeze(1)
            uniform = mask / mask.sum(-1, keepdim=True).clamp(min=1.0)
            mean, std = weighted_stats(x, uniform)
            context = torch.cat([mean, std], dim=1).unsqueeze(-1).expand(-1, -1, x.shape[-1])
            inputs = torch.cat([x, context], dim=1)
        weights = masked_softmax(self.attention(inputs), lengths)
        mean, std = weighted_stats(x, weights)
        return torch.cat([mean, std], dim=-1)


class MQMHASTP(nn.Module):
    """Multi-query multi-head attentive statistics pooling (Zhao et al., 2022).

    The channels are split into ``num_heads`` heads; each of ``num_queries`` queries scores every
    frame of every head with its own small MLP (``in_dim / num_heads -> hidden_dim``, tanh,
    ``-> 1``), so each (query, head) pair has its own attention over valid frames and pools its
    head's channels to a weighted mean and standard deviation. Output:
    ``2 * in_dim * num_queries``.
    """

    def __init__(self, in_dim, num_queries=4, num_heads=4, hidden_dim=64):
        super().__init__()
        if in_dim % num_heads:
            raise ValueError(f"in_dim {in_dim} is not divisible by num_heads {num_heads}")
        self.num_queries = num_queries
        self.num_heads = num_heads
        # grouped 1x1 convs: one MLP per (head, query), each reading only its head's channels
        self.hidden = nn.Conv1d(in_dim, num_heads * num_queries * hidden_dim, 1,
                                groups=num_heads)
        self.score = nn.Conv1d(num_heads * num_queries * hidden_dim, num_heads * num_queries, 1,
                               groups=num_heads * num_queries)
        self.out_dim = 2 * in_dim * num_queries

    def forward(self, x, lengths):
        b, c, t = x.shape
        h, q = self.num_heads, self.num_queries
        scores = self.score(torch.tanh(self.hidden(x)))              # (B, H * Q, T), head-major
        weights = masked_softmax(scores, lengths).view(b, h, q, 1, t)
        heads = x.view(b, h, 1, c // h, t)
        mean, std = weighted_stats(heads, weights)                    # (B, H, Q, C / H)
        # query-major layout: [query 0: mean (all heads), std (all heads)], [query 1: ...], ...
        mean = mean.permute(0, 2, 1, 3).reshape(b, q, c)
        std = std.permute(0, 2, 1, 3).reshape(b, q, c)
        return torch.cat([mean, std], dim=-1).reshape(b, -1)


POOLING = {"TSTP": TSTP, "TAP": TAP, "ASTP": ASTP, "MQMHASTP": MQMHASTP}


def build_pooling(name, in_dim, **kwargs):
    """``name`` one of TSTP, TAP, ASTP, MQMHASTP; ``kwargs`` go to the layer."""
    if name not in POOLING:
        raise ValueError(f"unknown pooling '{name}' (known: {', '.join(sorted(POOLING))})")
    return POOLING[name](in_dim, **kwargs)
