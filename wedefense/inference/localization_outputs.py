"""Stages 4-6 of a localization model: frame embeddings -> frame logits -> frame LLRs ->
merged spoofed ranges.

- Stage 4 (``bin/extract.py``): one Kaldi float32 matrix ``(T, D)`` of frame embeddings per
  utterance (:meth:`FrameSpoofModel.frame_embeddings`, padding trimmed).
- Stage 5 (``bin/infer.py``): ``frame_logits.{ark,scp}`` (``(T, C)`` matrices) and, per
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

import math

import numpy as np
import torch

from wedefense.calibration.llr import bonafide_classes_of, logits_to_llr
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

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


def write_frame_llr(path, rows, resolution):
    """``rows``: ``[(utt, llrs (T,))]`` -> ``frame_llr.txt`` (times to the microsecond, LLRs to
    six decimals), atomically; a non-finite LLR is an error naming the utterance."""
    decimals = max(3, -int(math.floor(math.log10(resolution))) + 3)
    with atomic_open(path) as f:
        for utt, llrs in rows:
            if not np.isfinite(llrs).all():
                raise InputError(f"non-finite frame LLR for '{utt}'")
            for k, llr in enumerate(llrs):
                f.write(f"{utt} {k * resolution:.{decimals}f} {(k + 1) * resolution:.{decimals}f}"
                        f" {llr:.6f}\n")


def read_frame_llr(path):
    """``{utt: (starts, ends, llrs)}`` from ``frame_llr.txt`` (frames in file order)."""
    from wedefense.dataset.tables import iter_lines

    rows = {}
    for lineno, fields in iter_lines(path):
        if len(fields) != 4:
            raise InputError("expected '<utt> <start_s> <end_s> <llr>'", path, lineno)
        try:
            start, end, llr = map(float, fields[1:])
        except ValueError:
            raise InputError(f"bad number for '{fields[0]}'", path, lineno) from None
        if not (math.isfinite(start) and math.isfinite(end) and math.isfinite(llr)):
            raise InputError(f"non-finite value for '{fields[0]}'", path, lineno)
        rows.setdefault(fields[0], ([], [], []))
        for column, value in zip(rows[fields[0]], (start, end, llr)):
            column.append(value)
    return {utt: tuple(np.asarray(c) for c in cols) for utt, cols in rows.items()}


def spoofed_ranges(starts, ends, llrs, threshold):
    """Frames with LLR below ``threshold`` merged into ``[(start, end, min llr)]``."""
    ranges = []
    for start, end, llr in zip(starts, ends, llrs):
        if llr >= threshold:
            continue
        if ranges and abs(ranges[-1][1] - start) < 1e-9:
            ranges[-1] = (ranges[-1][0], end, min(ranges[-1][2], llr))
        else:
            ranges.append((start, end, llr))
    return ranges


def write_ranges(timestamps_path, rttm_path, frames, threshold):
    """The spoofed ranges of every utterance of ``frames`` (:func:`read_frame_llr`) as a
    timestamp table and RTTM."""
    with atomic_open(timestamps_path) as ts, atomic_open(rttm_path) as rttm:
        for utt, (starts, ends, llrs) in frames.items():
            ranges = spoofed_ranges(starts, ends, llrs, threshold)
            duration = float(ends[-1])
            fields, t = [], 0.0
            for start, end, _ in ranges:
                if start > t:
                    fields.append(f"{t:.3f}-{start:.3f}-bonafide")
                fields.append(f"{start:.3f}-{end:.3f}-spoof")
                rttm.write(f"SPEAKER {utt} 1 {start:.3f} {end - start:.3f} <NA> <NA> spoof "
                           "<NA> <NA>\n")
                t = end
            if t < duration:
                fields.append(f"{t:.3f}-{duration:.3f}-bonafide")
            ts.write(f"{utt} {duration:.3f} {'spoof' if ranges else 'bonafide'} "
                     f"{' '.join(fields)}\n")


def frame_labels(frames, timestamps, path=None, sample_rate=16000):
    """Spoof flags of every scored frame from a timestamp table (:func:`read_frame_llr` rows);
    an utterance without labels, or whose labels and scores disagree in length by more than one
    frame, is an error naming it."""
    from wedefense.dataset.frame_labels import spoof_segments

    flags = {}
    for utt, (starts, ends, _) in frames.items():
        if utt not in timestamps:
            raise InputError(f"no labels for scored utterance '{utt}'", path)
        duration, ranges = timestamps[utt]
        resolution = float(ends[0] - starts[0])
        hop = int(round(resolution * sample_rate))
        if abs(duration - len(starts) * resolution) > resolution + 1e-6:
            raise InputError(f"'{utt}': {len(starts)} scored frames of {resolution:g} s but a "
                             f"labelled duration of {duration:.3f} s", path)
        flags[utt] = spoof_segments(ranges, len(starts) * hop, hop, sample_rate)
    return flags
