"""Metrics beyond the official ASVspoof5 package (reported under their own names, never mixed in).

- minCllr: the Cllr of the best monotone recalibration of the scores, found with the pool-
  adjacent-violators algorithm (PAV). ``Cllr - minCllr`` is the calibration loss: what a
  calibration stage could win back without changing how the scores rank trials.
- ROCCH-EER: the EER on the convex hull of the ROC (the EER of the best system that mixes the
  decisions of two thresholds), which needs no choice of a "first" DET point and is the value the
  BOSARIS toolkit reports. Tied scores form one ROC point here (no threshold can split them),
  unlike the official DET points, which break ties bona fide first.

PAV runs on the unique score values (tied scores must get one calibrated value, whichever class
they belong to), weighted by their counts per class, via :func:`scipy.optimize.isotonic_regression`.
"""

import numpy as np
from scipy.optimize import isotonic_regression

from wedefense.metrics.detection import _check_scores


def _pav(bona, spoof):
    """``(n_bona, n_spoof, posterior)`` per unique score, ascending: the PAV fit of P(bona)."""
    scores = np.concatenate((bona, spoof))
    is_bona = np.concatenate((np.ones(bona.size, bool), np.zeros(spoof.size, bool)))
    values, inverse = np.unique(scores, return_inverse=True)
    n_bona = np.bincount(inverse, weights=is_bona, minlength=values.size)
    n_all = np.bincount(inverse, minlength=values.size).astype(np.float64)
    fit = isotonic_regression(n_bona / n_all, weights=n_all, increasing=True)
    return n_bona, n_all - n_bona, np.clip(fit.x, 0.0, 1.0)


def min_cllr(bonafide_scores, spoof_scores):
    """Cllr (bits) after the optimal monotone calibration (PAV) of the scores.

    The PAV posteriors ``p`` are turned into LLRs by removing the empirical prior,
    ``llr = logit(p) - ln(N_bona / N_spoof)``; the Cllr of those is written in terms of ``p``
    directly so that blocks with ``p`` = 0 or 1 (which only hold one class) cost exactly 0.
    """
    bona = _check_scores(bonafide_scores, "bona fide")
    spoof = _check_scores(spoof_scores, "spoof")
    n_bona, n_spoof, p = _pav(bona, spoof)
    odds = bona.size / spoof.size
    with np.errstate(divide="ignore", invalid="ignore"):
        # bona fide: log2(1 + e^-llr) = log2((p + odds (1-p)) / p)
        bona_cost = np.where(n_bona > 0, np.log2((p + odds * (1 - p)) / p), 0.0)
        # spoof: log2(1 + e^llr) = log2((p + odds (1-p)) / (odds (1-p)))
        spoof_cost = np.where(n_spoof > 0, np.log2((p + odds * (1 - p)) / (odds * (1 - p))), 0.0)
    return float((np.sum(n_bona * bona_cost) / bona.size
                  + np.sum(n_spoof * spoof_cost) / spoof.size) / 2)


def rocch(bonafide_scores, spoof_scores):
    """Vertices ``(pmiss, pfa)`` of the ROC convex hull, from (0, 1) to (1, 0).

    The hull's vertices are the block boundaries of the PAV fit (each block is a hull segment of
    constant slope), so it comes from the same isotonic regression as minCllr.
    """
    bona = _check_scores(bonafide_scores, "bona fide")
    spoof = _check_scores(spoof_scores, "spoof")
    n_bona, n_spoof, p = _pav(bona, spoof)
    # Block ends: where the fitted value changes (and the very end).
    ends = np.flatnonzero(np.concatenate((np.diff(p) != 0, [True])))
    rejected_bona = np.concatenate(([0.0], np.cumsum(n_bona)[ends]))
    rejected_spoof = np.concatenate(([0.0], np.cumsum(n_spoof)[ends]))
    return rejected_bona / bona.size, 1 - rejected_spoof / spoof.size


def rocch_eer(bonafide_scores, spoof_scores):
    """EER where the ROC convex hull crosses Pmiss = Pfa (linear on the crossing segment)."""
    pmiss, pfa = rocch(bonafide_scores, spoof_scores)
    gap = pmiss - pfa  # -1 at the start, +1 at the end, non-decreasing along the hull
    k = int(np.argmax(gap >= 0))
    if gap[k] == 0 or k == 0:
        return float(pmiss[k])
    # Segment from k-1 (gap < 0) to k (gap > 0): the point where pmiss = pfa.
    t = -gap[k - 1] / (gap[k] - gap[k - 1])
    return float(pmiss[k - 1] + t * (pmiss[k] - pmiss[k - 1]))


def beyond_official_metrics(bonafide_scores, spoof_scores, cllr=None):
    """``{"min_cllr", "calibration_loss", "rocch_eer"}``; pass ``cllr`` to avoid recomputing it."""
    if cllr is None:
        from wedefense.metrics.detection import compute_cllr
        cllr = compute_cllr(bonafide_scores, spoof_scores)
    best = min_cllr(bonafide_scores, spoof_scores)
    return {"min_cllr": best, "calibration_loss": float(cllr - best),
            "rocch_eer": rocch_eer(bonafide_scores, spoof_scores)}

