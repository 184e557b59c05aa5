"""Localization models: waveform -> front-end -> frame backbone -> frame head -> frame logits.

``FrameSpoofModel.forward(wav (B, N), lengths (B,))`` returns ``(frame_logits (B, T, C),
frame_lengths (B,), utterance_logits (B, C))``. Frame ``k`` of an utterance scores the samples
``[k h, (k + 1) h)``, ``h = frame_resolution * sample_rate`` (20 ms by default), the same span as
label segment ``k`` at that resolution (DESIGN.md §9); an utterance of ``n`` samples has
``ceil(n / h)`` frames, the last partial one included, as PartialSpoof's segment labels do. The
backbone's own frames (fbank or SSL hops, pooled to ``h``) are mapped onto that grid: frame
``k`` takes backbone frame ``min(k, L - 1)``; a backbone frame is centred within a few ms of
its segment's centre, so labels and scores line up to well under one frame.

The utterance LLR of a localization model (README, "Localization"): from its utterance branch
where the head has one (``utterance_branch: true``, the multi-resolution head), else the
*minimum* frame LLR over the utterance's frames (an utterance is as bona fide as its least
bona fide frame; PartialSpoof's rule for coarser segments, applied to the whole utterance).
Either way ``utterance_logits`` are logits, so stage 6 turns them into ``llr.txt`` exactly as
for a detector; without a branch they are the frame logits at the minimising frame.

Classes: exactly two, ``bonafide`` and one spoof class (frame labels are binary).
"""

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from wedefense.frontend.normalize import masked_mean_norm
from wedefense.models.pooling import time_mask


def ceil_div(a: Tensor, b: int) -> Tensor:
    return torch.div(a + b - 1, b, rounding_mode="floor")


def masked_mean(x: Tensor, lengths: Tensor) -> Tensor:
    """``x (B, T, D)`` averaged over each row's first ``lengths`` frames."""
    mask = time_mask(lengths, x.size(1), x.dtype).unsqueeze(-1)
    return (x * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def pool_time(x: Tensor, lengths: Tensor, factor: int) -> Tuple[Tensor, Tensor]:
    """Average ``factor`` consecutive frames of ``x (B, T, D)`` (a last partial group averaged
    over its valid frames); padding stays zero."""
    if factor == 1:
        return x, lengths
    mask = time_mask(lengths, x.size(1), x.dtype).unsqueeze(-1)
    pad = (-x.size(1)) % factor
    x = nn.functional.pad((x * mask).transpose(1, 2), (0, pad)).transpose(1, 2)
    mask = nn.functional.pad(mask.transpose(1, 2), (0, pad)).transpose(1, 2)
    b, t, d = x.shape
    total = x.reshape(b, t // factor, factor, d).sum(2)
    count = mask.reshape(b, t // factor, factor, 1).sum(2)
    return total / count.clamp(min=1.0), ceil_div(lengths, factor)


def min_margin_logits(frame_logits: Tensor, lengths: Tensor, bonafide_index: int) -> Tensor:
    """The logits of each utterance's frame with the lowest bona fide - spoof margin (two
    classes), i.e. the frame with the minimum LLR: ``(B, C)``."""
    margin = frame_logits[..., bonafide_index] - frame_logits[..., 1 - bonafide_index]
    valid = time_mask(lengths, frame_logits.size(1), torch.bool)
    margin = margin.masked_fill(~valid, float("inf"))
    index = margin.argmin(dim=1)
    return frame_logits[torch.arange(frame_logits.size(0), device=index.device), index]


class FrameLinearHead(nn.Module):
    """One linear layer per frame; ``utterance_branch`` adds a linear layer on the masked mean
    of the frame embeddings (trained jointly when the loss weights it)."""

    def __init__(self, in_dim: int, num_classes: int, utterance_branch: bool = False):
        super().__init__()
        self.frame = nn.Linear(in_dim, num_classes)
        self.utterance = nn.Linear(in_dim, num_classes) if utterance_branch else None

    def forward(self, emb: Tensor, lengths: Tensor):
        """-> ``(frame logits (B, T, C), utterance logits (B, C) or None, branches)``, branches
        a list of ``(factor, logits, lengths)`` at coarser resolutions (none here)."""
        utt = self.utterance(masked_mean(emb, lengths)) if self.utterance is not None else None
        return self.frame(emb), utt, []


class MultiResolutionHead(nn.Module):
    """Branches at ``resolution * 2^k``, ``k = 0 .. num_levels - 1`` (20-640 ms for six levels at
    20 ms) and an utterance branch, in the manner of the multi-resolution model of L. Zhang, X.
    Wang, E. Cooper, N. Evans, J. Yamagishi, "The PartialSpoof database and countermeasures for
    the detection of short fake speech segments embedded in an utterance", IEEE/ACM TASLP 31,
    2023. Level ``k + 1`` averages pairs of level-``k`` frames, then a residual 1-D convolution
    block (our choice; the paper uses gMLP blocks between poolings); each level has its own
    linear scorer, trained with labels at its resolution. The frame output is level 0; the
    utterance branch scores the masked mean of the coarsest level."""

    def __init__(self, in_dim: int, num_classes: int, num_levels: int = 6, hidden_dim: int = 0,
                 kernel_size: int = 3, utterance_branch: bool = True):
        super().__init__()
        if num_levels < 1:
            raise ValueError(f"num_levels must be at least 1, got {num_levels}")
        hidden_dim = hidden_dim or in_dim
        self.proj = nn.Linear(in_dim, hidden_dim)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(hidden_dim, hidden_dim, kernel_size, padding=kernel_size // 2),
                          nn.GELU()) for _ in range(num_levels - 1))
        self.scorers = nn.ModuleList(nn.Linear(hidden_dim, num_classes)
                                     for _ in range(num_levels))
        self.utterance = nn.Linear(hidden_dim, num_classes) if utterance_branch else None

    def forward(self, emb: Tensor, lengths: Tensor):
        x = self.proj(emb)
        frame = self.scorers[0](x)
        branches: List[Tuple[int, Tensor, Tensor]] = []
        level_lengths = lengths
        for k in range(len(self.blocks)):
            x, level_lengths = pool_time(x, level_lengths, 2)
            mask = time_mask(level_lengths, x.size(1), x.dtype).unsqueeze(-1)
            x = (x + self.blocks[k]((x * mask).transpose(1, 2)).transpose(1, 2)) * mask
            branches.append((2 ** (k + 1), self.scorers[k + 1](x), level_lengths))
        utt = self.utterance(masked_mean(x, level_lengths)) if self.utterance is not None \
            else None
        return frame, utt, branches


HEADS = {"linear": FrameLinearHead, "multireso": MultiResolutionHead}


class FrameSpoofModel(nn.Module):
    """Front-end + frame backbone + frame head, on a fixed output grid (module docstring).

    The backbone takes ``(feats, frame_lengths)`` and returns ``(emb (B, T', D), lengths
    (B,))`` at (about) the output resolution; it has ``embed_dim``.
    """

    is_frame_model = True

    def __init__(self, frontend, backbone, head, hop_samples: int, bonafide_index: int = 0,
                 mean_norm: bool = True):
        super().__init__()
        self.frontend = frontend
        self.backbone = backbone
        self.head = head
        self.hop_samples = int(hop_samples)
        self.bonafide_index = int(bonafide_index)
        self.mean_norm = mean_norm

    def num_frames(self, lengths: Tensor) -> Tensor:
        """Output frames of utterances of ``lengths`` samples: ``ceil(n / hop)``."""
        return ceil_div(lengths, self.hop_samples)

    def frame_embeddings(self, wav: Tensor, lengths: Optional[Tensor] = None):
        """``(emb (B, T, D), frame_lengths (B,))`` on the output grid; padding rows zero."""
        if lengths is None:
            lengths = torch.full((wav.shape[0],), wav.shape[1], dtype=torch.long,
                                 device=wav.device)
        feats, feat_lengths = self.frontend(wav, lengths)
        if self.mean_norm:
            feats = masked_mean_norm(feats, feat_lengths)
        emb, emb_lengths = self.backbone(feats, feat_lengths)
        out_lengths = self.num_frames(lengths.to(emb.device))
        # integer ceil: math.ceil would freeze the frame count into an exported graph
        num_steps = (wav.shape[1] + self.hop_samples - 1) // self.hop_samples
        steps = torch.arange(num_steps, device=emb.device)
        last = (emb_lengths.to(emb.device) - 1).clamp(min=0).unsqueeze(1)
        index = torch.minimum(steps.unsqueeze(0), last)                  # (B, T)
        emb = emb.gather(1, index.unsqueeze(-1).expand(-1, -1, emb.size(-1)))
        return emb * time_mask(out_lengths, emb.size(1), emb.dtype).unsqueeze(-1), out_lengths

    def score_embeddings(self, emb: Tensor, lengths: Tensor):
        """The head on frame embeddings: ``(frame logits, utterance logits, branches)``, the
        utterance logits from the branch or the minimum-LLR frame."""
        frame, utt, branches = self.head(emb, lengths)
        if utt is None:
            utt = min_margin_logits(frame, lengths, self.bonafide_index)
        return frame, utt, branches

    def training_outputs(self, wav: Tensor, lengths: Optional[Tensor] = None):
        emb, lengths = self.frame_embeddings(wav, lengths)
        frame, utt, branches = self.score_embeddings(emb, lengths)
        return {"frame": frame, "frame_lengths": lengths, "utterance": utt,
                "has_utterance_branch": getattr(self.head, "utterance", None) is not None,
                "branches": branches}

    def forward(self, wav: Tensor, lengths: Optional[Tensor] = None):
        emb, frame_lengths = self.frame_embeddings(wav, lengths)
        frame, utt, _ = self.score_embeddings(emb, frame_lengths)
        return frame, frame_lengths, utt
