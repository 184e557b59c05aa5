"""Back-ends over the stacked hidden layers of an SSL front-end (``frontend: ssl``).

Every SSL back-end takes ``hidden (B, L, T, D)`` (``L`` = the front-end's ``num_layers``) and
``frame_lengths (B,)`` and returns ``(B, embed_dim)``; padded frames never change the result.

``MHFA``: multi-head factorized attentive pooling (J. Peng, O. Plchot, T. Stafylakis, L. Mošner,
L. Burget, J. Černocký, "An attention-based backend allowing efficient fine-tuning of transformer
models for speaker verification", IEEE SLT 2022). Keys and values are two different learnt
softmax-weighted sums of the layers, each compressed by a linear layer to ``compression_dim``;
a linear layer on the keys gives one attention score per head and frame; each head's softmax over
the valid frames pools the values; the heads' pooled values, concatenated, go through a linear
layer to the embedding.
"""

import torch
from torch import nn

from wedefense.models.pooling import masked_softmax


class LayerWeightedSum(nn.Module):
    """Learnt convex combination of hidden layers: ``softmax(w)`` over ``L`` layers.

    The weights start equal; ``weights()`` returns them (they sum to one).
    """

    def __init__(self, num_layers):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_layers))

    def weights(self):
        return torch.softmax(self.logits, dim=0)

    def forward(self, hidden):
        """``hidden (B, L, T, D)`` -> ``(B, T, D)``."""
        if hidden.size(1) != self.logits.numel():
            raise ValueError(f"expected {self.logits.numel()} hidden layers, got {hidden.size(1)}")
        return torch.einsum("bltd,l->btd", hidden, self.weights().to(hidden.dtype))


def _check_ssl_input(name, num_layers):
    if num_layers is None:
        raise ValueError(f"{name} needs the hidden layers of an SSL front-end (frontend: ssl)")


def add_mhfa_layers(module, name, feat_dim, num_layers, num_heads, compression_dim, embed_dim,
                    dropout):
    """MHFA's parameters, set on ``module`` (the utterance and the frame variants share them,
    under the same state-dict names): layer weightings and projections of keys and values, the
    heads' scores, and the embedding of the concatenated heads."""
    _check_ssl_input(name, num_layers)
    module.key_layers = LayerWeightedSum(num_layers)
    module.value_layers = LayerWeightedSum(num_layers)
    module.key_proj = nn.Linear(feat_dim, compression_dim)
    module.value_proj = nn.Linear(feat_dim, compression_dim)
    module.head_scores = nn.Linear(compression_dim, num_heads)
    module.drop = nn.Dropout(dropout)
    module.embedding = nn.Linear(num_heads * compression_dim, embed_dim)


class MHFA(nn.Module):
    """Multi-head factorized attentive pooling over SSL layers.

    Args:
        feat_dim: hidden size ``D`` of the SSL model.
        num_layers: hidden layers given (``L``, the front-end's ``num_layers``).
        num_heads: attention heads (each pools its own weighting of the frames).
        compression_dim: size of the compressed keys and values.
        embed_dim: output embedding size.
        dropout: dropout on the concatenated heads (training only).
    """

    def __init__(self, feat_dim=768, num_layers=None, num_heads=64, compression_dim=128,
                 embed_dim=256, dropout=0.0):
        super().__init__()
        add_mhfa_layers(self, "SSL_MHFA", feat_dim, num_layers, num_heads, compression_dim,
                        embed_dim, dropout)
        self.feat_dim = feat_dim
        self.embed_dim = embed_dim

    def forward(self, hidden, frame_lengths):
        keys = self.key_proj(self.key_layers(hidden))                # (B, T, C)
        values = self.value_proj(self.value_layers(hidden))          # (B, T, C)
        scores = self.head_scores(keys).transpose(1, 2)              # (B, H, T)
        attention = masked_softmax(scores, frame_lengths.to(hidden.device))
        pooled = torch.matmul(attention, values)                     # (B, H, C)
        return self.embedding(self.drop(pooled.flatten(1)))
