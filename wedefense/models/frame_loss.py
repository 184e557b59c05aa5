"""Training loss of a localization model: frame cross-entropy that ignores padding, plus
optional multi-resolution branch and utterance terms.

Config (``loss_args``)::

    frame_weight: 1.0        # cross-entropy of the frame logits, mean over valid frames
    branch_weight: 1.0       # each coarser branch of a multi-resolution head, same weight each
    utterance_weight: 0.0    # cross-entropy of the utterance logits (an utterance is spoof if
                             # any of its frames is)

Frame labels are class indices with ``IGNORE`` (-100) on padding. A branch at ``factor`` times
the frame hop gets the labels of its segments by PartialSpoof's rule: spoof if any frame inside
is spoof; a segment with no valid frame is padding.
"""

import torch
import torch.nn.functional as F

from wedefense.utils.errors import InputError

IGNORE = -100
LOSS_KEYS = ("frame_weight", "branch_weight", "utterance_weight")


def loss_weights(config):
    args = dict(config.get("loss_args") or {})
    unknown = [k for k in args if k not in LOSS_KEYS]
    if unknown:
        raise InputError(f"loss_args: unknown key(s) {unknown} (known: {', '.join(LOSS_KEYS)})")
    weights = {"frame_weight": 1.0, "branch_weight": 1.0, "utterance_weight": 0.0, **args}
    for key, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InputError(f"loss_args.{key} must be a number >= 0, got {value!r}")
    return weights


def coarse_labels(labels, factor, bonafide_index):
    """Labels ``(B, T)`` of segments of ``factor`` frames: ``(B, ceil(T / factor))``."""
    valid = (labels != IGNORE).float()
    spoof = ((labels != IGNORE) & (labels != bonafide_index)).float()
    pad = (-labels.size(1)) % factor
    valid = F.max_pool1d(F.pad(valid, (0, pad)).unsqueeze(1), factor).squeeze(1) > 0
    spoof = F.max_pool1d(F.pad(spoof, (0, pad)).unsqueeze(1), factor).squeeze(1) > 0
    out = torch.full_like(valid, bonafide_index, dtype=torch.long)
    out[spoof] = 1 - bonafide_index
    out[~valid] = IGNORE
    return out


def utterance_labels(labels, bonafide_index):
    spoof = ((labels != IGNORE) & (labels != bonafide_index)).any(dim=1)
    return torch.where(spoof, 1 - bonafide_index, bonafide_index)


def localization_loss(outputs, labels, weights, bonafide_index=0):
    """``outputs``: :meth:`FrameSpoofModel.training_outputs`; ``labels (B, T)``. Returns
    ``(loss, {"frame": ..., "branch": ..., "utterance": ...})`` (parts as floats)."""
    frame = outputs["frame"]
    if frame.shape[:2] != labels.shape:
        raise ValueError(f"frame logits {tuple(frame.shape[:2])} and labels "
                         f"{tuple(labels.shape)} do not line up")
    labels = labels.to(frame.device)
    parts = {"frame": F.cross_entropy(frame.float().flatten(0, 1), labels.flatten(),
                                      ignore_index=IGNORE)}
    loss = weights["frame_weight"] * parts["frame"]
    branches = outputs.get("branches") or []
    if branches and weights["branch_weight"] > 0:
        terms = [F.cross_entropy(logits.float().flatten(0, 1),
                                 coarse_labels(labels, factor, bonafide_index).flatten(),
                                 ignore_index=IGNORE)
                 for factor, logits, _ in branches]
        parts["branch"] = torch.stack(terms).mean()
        loss = loss + weights["branch_weight"] * len(terms) * parts["branch"]
    if weights["utterance_weight"] > 0:
        parts["utterance"] = F.cross_entropy(outputs["utterance"].float(),
                                             utterance_labels(labels, bonafide_index))
        loss = loss + weights["utterance_weight"] * parts["utterance"]
    return loss, {k: float(v.detach()) for k, v in parts.items()}
