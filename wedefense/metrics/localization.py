"""Spoof-localization metrics from frame LLRs against reference spoofed ranges.

Definitions (README.md, "Localization formats and metrics"); every EER uses detection's rule
(:mod:`wedefense.metrics.detection`: bona fide is the positive class, stable bona-fide-first sort,
EER = (Pmiss + Pfa) / 2 at the first point minimising |Pmiss - Pfa|, no interpolation):

- segment EER at resolution r (PartialSpoof, Zhang et al., IEEE/ACM TASLP 2023): segment
  ``[k r, (k+1) r)`` is spoof if any part of it is; its score is the minimum LLR of the frames that
  overlap it, so a coarser segment takes its lowest frame and a finer one repeats the score of
  the frame around it. All segments of all utterances are pooled.
- range-based EER (Zhang et al., "Range-Based Equal Error Rate for Spoof Localization",
  Interspeech 2023, pp. 3212-3216): the same error rates measured in time rather than counted in
  segments. At a threshold, the miss rate is the bona fide time scored below it over all bona fide
  time, the false-alarm rate the spoofed time scored at or above it over all spoofed time, pooled
  over utterances. The reference implementation bisects over thresholds with pyannote; here every
  threshold is visited exactly (a time-weighted DET curve), so there is no search precision; the
  time at one LLR value and class counts as one block (a frame cut in two changes nothing).
- utterance EER: an utterance's score is its minimum frame LLR (a spoofed word anywhere makes the
  utterance spoofed, as PartialSpoof's utterance EER from segment scores); its label is spoof iff
  it has spoofed time.
- precision, recall, F1 of spoofed time at a threshold (default the Bayes threshold ``-ln(beta)``):
  a frame is decided spoof when its LLR is below it; precision = correctly flagged spoofed time /
  flagged time, recall = correctly flagged spoofed time / spoofed time.

Frames are compared with the reference on time (microsecond ticks): the frames of an utterance
are cut at its duration and the last one stretched to it, after checking that the two disagree
by no more than one frame (or the ``tolerance`` given). A metric that is undefined (a class with
no time or trials) is None, never a made-up number.
"""

import numpy as np

from wedefense.dataset.timestamps import TICKS_PER_SECOND, to_ticks
from wedefense.metrics.detection import _eer, bayes_threshold
from wedefense.utils.errors import InputError

DEFAULT_RESOLUTIONS = (0.02, 0.04, 0.08, 0.16, 0.32, 0.64)
BONAFIDE_ATTACKS = ("-", "bonafide")


def resolution_key(resolution):
    """The JSON key of a resolution: ``0.02 -> "0.02"``."""
    return f"{float(resolution):g}"


def count_eer(keys):
    """Detection's EER of trials given as integer keys ``2 * score_rank + is_spoof``.

    Sorting the keys orders trials by score with bona fide first among ties, as detection's
    stable sort does; trials with equal keys are interchangeable, so a plain integer sort gives
    the same DET points as :func:`wedefense.metrics.detection.compute_eer` (and is faster).
    None if a class is empty.
    """
    is_spoof = (np.sort(keys) & 1).astype(bool)
    num_spoof = int(is_spoof.sum())
    num_bona = is_spoof.size - num_spoof
    if not num_bona or not num_spoof:
        return None
    rejected_b = np.concatenate(([0], np.cumsum(~is_spoof)))
    rejected_s = np.arange(is_spoof.size + 1) - rejected_b
    return float(_eer(rejected_b / num_bona, (num_spoof - rejected_s) / num_spoof))


def weighted_eer(scores, bona_weight, spoof_weight):
    """EER of trials that carry a bona fide and a spoof weight each (time, for the range EER).

    Detection's rule with weights: trials sorted by score, bona fide first among ties; all the
    weight at one score and class is one block (a frame cut in two changes nothing). None if a
    class has no weight.
    """
    ranks = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True)[1]
    return _weighted_eer_ranked(ranks.reshape(-1), np.asarray(bona_weight),
                                np.asarray(spoof_weight))


def _weighted_eer_ranked(ranks, bona_weight, spoof_weight):
    bona_total, spoof_total = bona_weight.sum(), spoof_weight.sum()
    if bona_total <= 0 or spoof_total <= 0:
        return None
    keep_b, keep_s = bona_weight > 0, spoof_weight > 0
    keys = np.concatenate((2 * ranks[keep_b], 2 * ranks[keep_s] + 1))
    weights = np.concatenate((bona_weight[keep_b], spoof_weight[keep_s]))
    order = np.argsort(keys)
    keys, weights = keys[order], weights[order]
    cuts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    block = np.add.reduceat(weights, cuts)
    is_spoof = (keys[cuts] & 1).astype(bool)
    rejected_b = np.concatenate(([0], np.cumsum(np.where(is_spoof, 0, block))))
    rejected_s = np.concatenate(([0], np.cumsum(np.where(is_spoof, block, 0))))
    return float(_eer(rejected_b / bona_total, (spoof_total - rejected_s) / spoof_total))


class _Aligned:
    """Frames of the scored utterances cut to the reference durations, all in ticks."""

    def __init__(self, scores, reference, tolerance):
        utts = scores.utts
        missing = [u for u in utts if u not in reference]
        if missing:
            raise InputError(f"{len(missing)} scored utterance(s) have no labels, the first is "
                             f"'{missing[0]}'")
        scored = set(utts)
        unscored = [u for u in reference if u not in scored]
        if unscored:
            raise InputError(f"{len(unscored)} labelled utterance(s) have no scores, the first "
                             f"is '{unscored[0]}'")
        if not np.isfinite(scores.llr).all():
            bad = int(np.flatnonzero(~np.isfinite(scores.llr))[0])
            utt = utts[int(np.searchsorted(scores.offsets, bad, side="right")) - 1]
            raise InputError(f"non-finite frame LLR for '{utt}'")
        offsets = scores.offsets
        counts = np.diff(offsets)
        if (counts == 0).any():
            raise InputError(f"no frames for '{utts[int(np.flatnonzero(counts == 0)[0])]}'")
        self.utts = utts
        self.num_utts = len(utts)
        refs = [reference[u] for u in utts]
        self.durations = np.array([r.duration for r in refs], dtype=np.int64)
        utt_of_frame = np.repeat(np.arange(self.num_utts), counts)
        last = offsets[1:] - 1
        step = scores.ends[offsets[:-1]] - scores.starts[offsets[:-1]]
        allowed = step if tolerance is None else np.maximum(step, to_ticks(tolerance))
        gap = np.abs(scores.ends[last] - self.durations)
        if (gap > allowed).any():
            i = int(np.flatnonzero(gap > allowed)[0])
            raise InputError(f"the frames of '{utts[i]}' end at "
                             f"{scores.ends[last[i]] / TICKS_PER_SECOND} s but its labels last "
                             f"{self.durations[i] / TICKS_PER_SECOND} s (more than one frame "
                             "apart)")
        ends = np.minimum(scores.ends, self.durations[utt_of_frame])
        ends[last] = self.durations
        starts = np.minimum(scores.starts, ends)  # frames past the end get no time
        keep = ends > starts
        self.utt = utt_of_frame[keep]
        self.starts, self.ends, self.llr = starts[keep], ends[keep], scores.llr[keep]
        # every EER only compares scores: work on their ranks (one float sort for all metrics)
        self.rank = np.unique(self.llr, return_inverse=True)[1].reshape(-1).astype(np.int64)
        # utterances laid end to end on one time line, for vectorised range arithmetic
        self.base = np.concatenate(([0], np.cumsum(self.durations)[:-1]))
        spoof = [r.spoof + b for r, b in zip(refs, self.base.tolist()) if len(r.spoof)]
        self.spoof = np.concatenate(spoof) if spoof else np.zeros((0, 2), np.int64)
        self.spoof_utt = np.repeat(np.arange(self.num_utts), [len(r.spoof) for r in refs])
        self.is_spoof_utt = np.array([len(r.spoof) > 0 for r in refs])
        # an utterance's score: its lowest frame (every utterance keeps at least one frame)
        self.utt_ranks = np.minimum.reduceat(
            self.rank, np.searchsorted(self.utt, np.arange(self.num_utts)))

    def spoof_time_before(self, t):
        """Spoofed time in ``[0, t)`` of the global time line, for an array of ticks."""
        if not len(self.spoof):
            return np.zeros_like(t)
        a, b = self.spoof[:, 0], self.spoof[:, 1]
        before = np.concatenate(([0], np.cumsum(b - a)))
        j = np.searchsorted(a, t, side="right") - 1
        inside = np.where(j >= 0, np.minimum(t, b[np.maximum(j, 0)]) - a[np.maximum(j, 0)], 0)
        return before[np.maximum(j, 0)] * (j >= 0) + inside

    def frame_spoof_time(self):
        g0, g1 = self.starts + self.base[self.utt], self.ends + self.base[self.utt]
        return self.spoof_time_before(g1) - self.spoof_time_before(g0)


def _segment_scores(al, resolution, frames, utts):
    """``(score ranks, is_spoof)`` of every segment of the utterances ``utts`` (a bool mask)."""
    step = to_ticks(resolution)
    nseg = -(-al.durations // step)
    nseg = np.where(utts, nseg, 0)
    seg_base = np.concatenate(([0], np.cumsum(nseg)))
    first = al.starts[frames] // step
    last = (al.ends[frames] - 1) // step
    span = last - first + 1
    frame_of_pair = np.repeat(np.arange(span.size), span)
    within = np.arange(frame_of_pair.size) - np.repeat(np.cumsum(span) - span, span)
    gid = seg_base[al.utt[frames][frame_of_pair]] + first[frame_of_pair] + within
    rank = al.rank[frames][frame_of_pair]
    cuts = np.flatnonzero(np.concatenate(([True], gid[1:] != gid[:-1])))
    seg_ranks = np.minimum.reduceat(rank, cuts)
    # spoof labels: +1 at the first segment a range touches, -1 after the last one
    ranges = utts[al.spoof_utt]
    u, a, b = al.spoof_utt[ranges], al.spoof[ranges, 0], al.spoof[ranges, 1]
    a, b = a - al.base[u], b - al.base[u]
    delta = np.zeros(seg_base[-1] + 1, dtype=np.int64)
    np.add.at(delta, seg_base[u] + a // step, 1)
    np.add.at(delta, seg_base[u] + (b - 1) // step + 1, -1)
    is_spoof = np.cumsum(delta[:-1]) > 0
    return seg_ranks, is_spoof


def _metrics(al, utts, resolutions, threshold, spoof_time):
    """All metrics over the utterances selected by the bool mask ``utts``."""
    frames = utts[al.utt]
    segment = {}
    for r in resolutions:
        seg, is_spoof = _segment_scores(al, r, frames, utts)
        segment[resolution_key(r)] = count_eer(2 * seg + is_spoof)
    length = (al.ends - al.starts)[frames]
    spoofed = spoof_time[frames]
    llr = al.llr[frames]
    flagged = llr < threshold
    tp = int(spoofed[flagged].sum())
    total_spoof, total_flagged = int(spoofed.sum()), int(length[flagged].sum())
    precision = tp / total_flagged if total_flagged else None
    recall = tp / total_spoof if total_spoof else None
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    idx = np.flatnonzero(utts)
    is_spoof_utt = al.is_spoof_utt[idx]
    return {
        "segment_eer": segment,
        "range_eer": _weighted_eer_ranked(al.rank[frames], length - spoofed, spoofed),
        "utterance_eer": count_eer(2 * al.utt_ranks[idx] + is_spoof_utt),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "counts": {
            "utterances": int(idx.size),
            "bonafide_utterances": int((~is_spoof_utt).sum()),
            "spoof_utterances": int(is_spoof_utt.sum()),
            "frames": int(frames.sum()),
            "bonafide_seconds": float(length.sum() - total_spoof) / TICKS_PER_SECOND,
            "spoof_seconds": total_spoof / TICKS_PER_SECOND,
        },
    }


def evaluate_localization(scores, reference, resolutions=DEFAULT_RESOLUTIONS, threshold=None,
                          utt2attack=None, tolerance=None):
    """Localization metrics of :class:`~wedefense.metrics.frame_scores.FrameScores` against
    ``{utt: Timestamps}``; keys ``segment_eer`` (``{"0.02": eer, ...}``), ``range_eer``,
    ``utterance_eer``, ``precision``, ``recall``, ``f1``, ``threshold``, ``counts`` and, with
    ``utt2attack`` (``{utt: attack}``), ``per_attack``: the same for each attack's utterances
    pooled with all bona fide utterances. EERs are fractions."""
    if threshold is None:
        threshold = bayes_threshold()
    for r in resolutions:
        if not to_ticks(r) > 0:
            raise InputError(f"resolution must be positive, got {r}")
    al = _Aligned(scores, reference, tolerance)
    spoof_time = al.frame_spoof_time()
    everyone = np.ones(al.num_utts, dtype=bool)
    result = _metrics(al, everyone, resolutions, float(threshold), spoof_time)
    result["threshold"] = float(threshold)
    if utt2attack is not None:
        attacks = []
        for i, utt in enumerate(al.utts):
            if utt not in utt2attack:
                if al.is_spoof_utt[i]:
                    raise InputError(f"spoofed utterance '{utt}' has no attack in the "
                                     "utt2attack table")
                attacks.append(BONAFIDE_ATTACKS[0])
            else:
                attacks.append(utt2attack[utt])
        attacks = np.array(attacks, dtype=object)
        per_attack = {}
        for attack in sorted(set(attacks[al.is_spoof_utt].tolist())):
            if attack in BONAFIDE_ATTACKS:
                continue
            chosen = ~al.is_spoof_utt | (attacks == attack)
            per_attack[attack] = _metrics(al, chosen, resolutions, float(threshold), spoof_time)
        result["per_attack"] = per_attack
    return result
