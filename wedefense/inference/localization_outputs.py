"""Stages 4-6 of a localization model: frame embeddings -> frame logits -> frame LLRs ->
merged spoofed ranges.

- Stage 4 (``bin/extract.py``): one Kaldi float32 matrix ``(T, D)`` of frame embeddings per
  utterance (:meth:`FrameSpoofModel.frame_embeddings`, padding trimmed).
- Stage 5 (``bin/embeddings_to_logits.py``): ``frame_logits.{ark,scp}`` (``(T, C)``
  matrices) and, per
  utterance, ``logits``/``posteriors`` vectors (the utterance branch, or the minimum-LLR
  frame's logits; ``wedefense.models.frame_model``), so detection stages apply unchanged.
- Stage 6 (``bin/logits_to_llr.py``): ``frame_llr.txt``, ``<utt> <start_s> <end_s> <llr>`` per
  frame, on the segment grid ``[k r, (k + 1) r)`` (the last segment may run past the audio's end
  by less than ``r``, as PartialSpoof's last partial segment does); frame LLRs remove the
  training *frame* prior (``frame_class_counts``). The utterance ``llr.txt`` removes the
  utterance prior for an utterance branch, the frame prior for a minimum-LLR frame.

Calibration is trained on dev *frame* LLRs at the model's resolution against the frame labels
(``bin/calibrate_frames.py``): the frames are what is thresholded into ranges, and the affine map
keeps the frame order, so the minimum frame of a coarser segment is still its minimum. The
utterance ``llr.txt`` is calibrated as a detector's (``bin/calibrate.py`` with ``utt2lab``).
"""

import torch

from wedefense.calibration.llr import bonafide_classes_of, logits_to_llr
from wedefense.metrics.frame_scores import frame_times
from wedefense.utils.errors import InputError

TASK = "localization"


def is_localization(config):
    return config.get("task", "detection") == TASK


def frame_counts(config, path=None):
    counts = config.get("frame_class_counts")
    if not (isinstance(counts, list) and len(counts) == len(config.get("classes") or [])):
        raise InputError("a localization config needs 'frame_class_counts' (one per class), "
                         "written by training", path)
    return counts


def has_utterance_branch(config):
    """Whether the model a config describes has an utterance branch (registry defaults)."""
    head = config.get("frame_head", "multireso" if config.get("model") == "SSL_MultiReso"
                      else "linear")
    default = head == "multireso"
    return bool((config.get("frame_head_args") or {}).get("utterance_branch", default))


def utterance_prior_counts(config, path=None):
    """Class counts whose prior stage 6 removes from a localization model's utterance logits."""
    return config["class_counts"] if has_utterance_branch(config) else frame_counts(config, path)


@torch.inference_mode()
def logits_from_embeddings(model, pairs):
    """``[(key, frame embeddings (T, D))]`` -> ``[(key, frame logits (T, C), utterance logits
    (C,))]``; one utterance at a time (no padding to mask)."""
    out = []
    for key, emb in pairs:
        if emb.ndim != 2 or emb.shape[0] == 0:
            raise InputError(f"'{key}': expected a (frames, dim) matrix of frame embeddings, "
                             f"got shape {emb.shape}")
        x = torch.tensor(emb, dtype=torch.float32).unsqueeze(0)
        frame, utt, _ = model.score_embeddings(x, torch.tensor([x.shape[1]]))
        out.append((key, frame[0].float().numpy(), utt[0].float().numpy()))
    return out


def frame_llrs(frame_logits, config, path=None):
    """Frame logits ``(T, C)`` -> LLRs ``(T,)`` with the training frame prior removed."""
    return logits_to_llr(frame_logits, config["classes"], frame_counts(config, path),
                         bonafide_classes_of(config, path))


def frame_llr_rows(rows, resolution):
    """``[(utt, llrs (T,))]`` -> rows for :func:`~wedefense.metrics.frame_scores.
    write_frame_scores`: frames on the segment grid ``[k r, (k + 1) r)``."""
    for utt, llrs in rows:
        starts, ends = frame_times(len(llrs), resolution)
        yield utt, starts, ends, llrs


def frame_labels(frames, timestamps, path=None):
    """Spoof flags of every scored frame (``frames``: a :class:`~wedefense.metrics.
    frame_scores.FrameScores`) from a timestamp table; an utterance without labels, or whose
    labels and scores disagree in length by more than one frame, is an error naming it."""
    flags = {}
    for utt, starts, ends, _ in frames.items():
        if utt not in timestamps:
            raise InputError(f"no labels for scored utterance '{utt}'", path)
        ts, resolution = timestamps[utt], float(ends[0] - starts[0])
        if abs(ts.duration_s - len(starts) * resolution) > resolution + 1e-6:
            raise InputError(f"'{utt}': {len(starts)} scored frames of {resolution:g} s but a "
                             f"labelled duration of {ts.duration_s:.3f} s", path)
        mask = ts.chunk_spoof_mask(0.0, len(starts) * resolution, resolution)
        flags[utt] = mask[:len(starts)]
    return flags
