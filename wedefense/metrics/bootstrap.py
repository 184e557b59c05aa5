"""Bootstrap confidence intervals for the Track-1 metrics (minDCF, EER, Cllr, actDCF).

Resampling is at the utterance level and stratified by class: each resample draws N_bona bona fide
trials and N_spoof spoof trials with replacement, so every resample has both classes and the same
class proportions as the evaluation set (the metrics are conditional on the class anyway).
Intervals are percentile intervals of the resampled metric values. The generator is seeded, so a
run is reproducible.

Each resample's metrics are *exactly* what :func:`compute_metrics` returns on the materialised
resample (the tests check it), but nothing is re-sorted: the trials are sorted once (bona fide
first among ties, as the official DET does), a resample is a vector of counts over the sorted
trials, and its sorted label sequence is ``repeat(labels, counts)`` — a counting sort. Resamples are
processed in blocks as 2-D arrays, so 1000 resamples of 100,000 trials take seconds.
"""

import math

import numpy as np

from wedefense.metrics.detection import (
    DEFAULT_C_FA,
    DEFAULT_C_MISS,
    DEFAULT_P_SPOOF,
    _check_operating_point,
    _check_scores,
    bayes_threshold,
)
from wedefense.utils.errors import InputError

METRICS = ("min_dcf", "eer", "cllr", "act_dcf")
# Elements per block of resamples (resamples x trials): bounds the memory to a few hundred MB.
_BLOCK_ELEMENTS = 2_000_000


def bootstrap_resamples(bonafide_scores, spoof_scores, num_resamples=1000, seed=0,
                        p_spoof=DEFAULT_P_SPOOF, c_miss=DEFAULT_C_MISS, c_fa=DEFAULT_C_FA):
    """``{metric: array (num_resamples,)}`` of the Track-1 metrics on each resample."""
    _check_operating_point(p_spoof, c_miss, c_fa)
    bona = _check_scores(bonafide_scores, "bona fide")
    spoof = _check_scores(spoof_scores, "spoof")
    if int(num_resamples) != num_resamples or num_resamples < 1:
        raise InputError(f"the number of resamples must be a positive integer, got {num_resamples}")
    num_resamples = int(num_resamples)
    n_bona, n_spoof = bona.size, spoof.size
    n = n_bona + n_spoof

    scores = np.concatenate((bona, spoof))
    order = np.argsort(scores, kind="stable")  # bona fide first among ties
    sorted_is_bona = order < n_bona
    # Per-trial terms, each class in its own original order.
    bona_cllr = np.logaddexp(0, -bona)
    spoof_cllr = np.logaddexp(0, spoof)
    tau = bayes_threshold(p_spoof, c_miss, c_fa)
    bona_miss = (bona < tau).astype(np.float64)
    spoof_fa = (spoof >= tau).astype(np.float64)
    # Sorted position of each original trial, to place a resample's counts in score order.
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    bona_rank, spoof_rank = rank[:n_bona], rank[n_bona:]
    a_miss, a_fa = c_miss * (1 - p_spoof), c_fa * p_spoof
    norm = min(a_miss, a_fa)

    rng = np.random.default_rng(seed)
    out = {name: np.empty(num_resamples) for name in METRICS}
    block = max(1, min(num_resamples, _BLOCK_ELEMENTS // n))
    steps = np.arange(n + 1)
    for start in range(0, num_resamples, block):
        b = min(block, num_resamples - start)
        rows = np.arange(b)[:, None]
        bona_counts = _counts(rng, b, n_bona)
        spoof_counts = _counts(rng, b, n_spoof)
        counts = np.empty((b, n), dtype=np.int64)
        counts[:, bona_rank] = bona_counts
        counts[:, spoof_rank] = spoof_counts
        # Counting sort: each row of `labels` is the resample's label sequence in score order.
        labels = np.repeat(np.broadcast_to(sorted_is_bona, (b, n)).ravel(),
                           counts.ravel()).reshape(b, n)
        rejected_bona = np.zeros((b, n + 1), dtype=np.int64)
        np.cumsum(labels, axis=1, out=rejected_bona[:, 1:])
        pmiss = rejected_bona / n_bona
        pfa = (n_spoof - (steps - rejected_bona)) / n_spoof
        k = np.argmin(np.abs(pmiss - pfa), axis=1)
        out["eer"][start:start + b] = (pmiss[rows[:, 0], k] + pfa[rows[:, 0], k]) / 2
        out["min_dcf"][start:start + b] = np.min((a_miss * pmiss + a_fa * pfa) / norm, axis=1)
        out["cllr"][start:start + b] = ((bona_counts @ bona_cllr) / n_bona
                                        + (spoof_counts @ spoof_cllr) / n_spoof) / (2 * math.log(2))
        act_miss = (bona_counts @ bona_miss) / n_bona
        act_fa = (spoof_counts @ spoof_fa) / n_spoof
        out["act_dcf"][start:start + b] = (a_miss * act_miss + a_fa * act_fa) / norm
    return out


def _counts(rng, rows, size):
    """How often each of ``size`` trials is drawn, for ``rows`` resamples of ``size`` draws."""
    draws = rng.integers(0, size, size=(rows, size))
    draws += np.arange(rows)[:, None] * size
    return np.bincount(draws.ravel(), minlength=rows * size).reshape(rows, size)


def bootstrap_intervals(bonafide_scores, spoof_scores, num_resamples=1000, seed=0,
                        confidence=0.95, **operating_point):
    """Percentile intervals ``{metric: [low, high]}`` plus how they were made."""
    if not 0 < confidence < 1:
        raise InputError(f"the confidence level must lie strictly between 0 and 1, "
                         f"got {confidence}")
    values = bootstrap_resamples(bonafide_scores, spoof_scores, num_resamples, seed,
                                 **operating_point)
    tail = 100 * (1 - confidence) / 2
    intervals = {name: [float(v) for v in np.percentile(values[name], [tail, 100 - tail])]
                 for name in METRICS}
    return {"num_resamples": int(num_resamples), "seed": seed, "confidence": confidence,
            "method": "percentile; utterance-level resampling with replacement, stratified "
                      "by class",
            "intervals": intervals}
