"""Back-ends that score every frame of an SSL front-end (``frontend: ssl``, 20 ms hops).

Each takes ``hidden (B, L, T, D)`` and ``frame_lengths (B,)`` and returns ``(emb (B, T', D'),
lengths)`` with ``T' = ceil(T / time_pool)`` (``time_pool`` is set by the model builder from
``frame_resolution``: 1 at 20 ms); padded frames never change a valid frame's embedding.

``SSLFrameMHFA``: MHFA (Peng et al., IEEE SLT 2022; ``wedefense.models.mhfa``) made local: keys
and values are two learnt layer-weighted sums, compressed; each head's attention pools the values
over a window of ``2 * context + 1`` frames around every frame (the utterance-level MHFA pools the
whole utterance once), the heads' outputs concatenated and projected per frame.

``SSLSLS``: the SLS classifier of Q. Zhang, S. Wen, T. Hu, "Audio deepfake detection with
self-supervised XLS-R and SLS classifier", ACM Multimedia 2024, per frame: each layer is gated
by a sigmoid of a linear score of its time-averaged hidden state (the "sensitive layer
selection"), the gated layers summed; then BatchNorm, a max-pool over the feature axis (3) and a
two-layer SELU MLP (the paper's head, which flattens a fixed 4 s input, applied to each frame
instead, so any length works).

``SSLFrameProj``: a learnt layer-weighted sum and a linear projection; the back-end under the
multi-resolution head (``SSL_MultiReso``).
"""

import torch
from torch import nn

from wedefense.models.frame_model import pool_time
from wedefense.models.mhfa import LayerWeightedSum, _check_ssl_input, add_mhfa_layers
from wedefense.models.pooling import time_mask


class SSLFrameProj(nn.Module):
    def __init__(self, feat_dim=768, num_layers=None, embed_dim=256, time_pool=1):
        super().__init__()
        _check_ssl_input("SSL_MultiReso", num_layers)
        self.layers = LayerWeightedSum(num_layers)
        self.proj = nn.Linear(feat_dim, embed_dim)
        self.time_pool = int(time_pool)
        self.embed_dim = embed_dim

    def forward(self, hidden, frame_lengths):
        x = self.proj(self.layers(hidden))
        return pool_time(x, frame_lengths.to(hidden.device), self.time_pool)


class SSLFrameMHFA(nn.Module):
    """Args: feat_dim, num_layers (the SSL model's), num_heads, compression_dim, embed_dim as
    in MHFA; ``context``: frames each side of the attention window; ``time_pool``."""

    def __init__(self, feat_dim=768, num_layers=None, num_heads=8, compression_dim=128,
                 embed_dim=256, context=5, dropout=0.0, time_pool=1):
        super().__init__()
        add_mhfa_layers(self, "SSL_FrameMHFA", feat_dim, num_layers, num_heads, compression_dim,
                        embed_dim, dropout)
        self.context = int(context)
        self.num_heads = num_heads
        self.time_pool = int(time_pool)
        self.embed_dim = embed_dim

    def forward(self, hidden, frame_lengths):
        lengths = frame_lengths.to(hidden.device)
        b, _, t, _ = hidden.shape
        w = 2 * self.context + 1
        keys = self.key_proj(self.key_layers(hidden))                     # (B, T, C)
        values = self.value_proj(self.value_layers(hidden))               # (B, T, C)
        scores = self.head_scores(keys)                                   # (B, T, H)
        # windows of frames around every frame: (B, T, W, .); out-of-range positions masked
        pad = (0, 0, self.context, self.context)
        score_win = nn.functional.pad(scores, pad).unfold(1, w, 1)       # (B, T, H, W)
        value_win = nn.functional.pad(values, pad).unfold(1, w, 1)       # (B, T, C, W)
        position = torch.arange(t, device=hidden.device).unsqueeze(1) + \
            torch.arange(w, device=hidden.device).unsqueeze(0) - self.context   # (T, W)
        valid = (position >= 0).unsqueeze(0) & (position.unsqueeze(0) < lengths.view(-1, 1, 1))
        score_win = score_win.masked_fill(~valid.unsqueeze(2), torch.finfo(scores.dtype).min)
        attention = torch.softmax(score_win, dim=-1)                      # (B, T, H, W)
        pooled = torch.einsum("bthw,btcw->bthc", attention, value_win)    # (B, T, H, C)
        x = self.embedding(self.drop(pooled.flatten(2)))
        x = x * time_mask(lengths, t, x.dtype).unsqueeze(-1)
        return pool_time(x, lengths, self.time_pool)


class SSLSLS(nn.Module):
    """Args: feat_dim, num_layers (the SSL model's); ``feature_pool`` (max-pool over the feature
    axis, 3 in the paper); ``hidden_dim`` (the MLP's, 1024 in the paper); ``embed_dim``."""

    def __init__(self, feat_dim=1024, num_layers=None, feature_pool=3, hidden_dim=1024,
                 embed_dim=256, time_pool=1):
        super().__init__()
        _check_ssl_input("SSL_SLS", num_layers)
        self.gate = nn.Linear(feat_dim, 1)
        self.norm = nn.BatchNorm1d(feat_dim)
        self.feature_pool = int(feature_pool)
        self.fc1 = nn.Linear(feat_dim // self.feature_pool, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, embed_dim)
        self.time_pool = int(time_pool)
        self.embed_dim = embed_dim

    def layer_gates(self, hidden, lengths):
        """``(B, L)`` sigmoid gates from each layer's mean over the valid frames."""
        mask = time_mask(lengths, hidden.size(2), hidden.dtype)[:, None, :, None]
        mean = (hidden * mask).sum(2) / mask.sum(2).clamp(min=1.0)        # (B, L, D)
        return torch.sigmoid(self.gate(mean)).squeeze(-1)

    def forward(self, hidden, frame_lengths):
        lengths = frame_lengths.to(hidden.device)
        mask = time_mask(lengths, hidden.size(2), hidden.dtype).unsqueeze(-1)
        x = torch.einsum("bltd,bl->btd", hidden, self.layer_gates(hidden, lengths))
        x = self.norm(x.transpose(1, 2)).transpose(1, 2) * mask
        x = nn.functional.max_pool1d(x, self.feature_pool)                # pools the last axis
        x = self.fc2(nn.functional.selu(self.fc1(x))) * mask
        return pool_time(x, lengths, self.time_pool)
