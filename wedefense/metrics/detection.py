"""Spoof-detection metrics with the ASVspoof5 Track-1 definitions (README.md, "Stage 7").

Scores are log-likelihood ratios: higher means more bona fide. Every function takes the bona fide
scores and the spoof scores as two 1-D sequences, and reproduces the official evaluation package
to 1e-9:

- DET points: bona fide scores first, then spoof, stable ascending sort; N+1 points from
  (Pmiss=0, Pfa=1) to (1, 0), point k rejecting the first k sorted scores. Ties between the classes
  are therefore broken in favour of rejecting bona fide first, exactly as the official code does.
- EER: at the first point minimising |Pmiss - Pfa|, (Pmiss + Pfa) / 2 (no interpolation).
- minDCF: the smallest normalised detection cost over the DET points.
- actDCF: the normalised cost at the Bayes threshold ``-ln(beta)`` of the operating point.
- Cllr: the cross-entropy of the scores taken as LLRs, in bits.

Everything is vectorised (one sort, O(N log N)); a million trials take a fraction of a second.
"""

import math

import numpy as np

from wedefense.utils.errors import InputError

# The ASVspoof5 operating point.
DEFAULT_P_SPOOF = 0.05
DEFAULT_C_MISS = 1
DEFAULT_C_FA = 10


def _check_scores(scores, name):
    """Scores as a float64 1-D array; empty or non-finite input is an error, not a quiet NaN."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 1:
        raise InputError(f"{name} scores must be a 1-D sequence, got shape {array.shape}")
    if array.size == 0:
        raise InputError(f"no {name} scores: every metric needs both classes")
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(f"{bad.size} {name} score(s) are not finite "
                         f"(first at index {bad[0]}: {array[bad[0]]})")
    return array


def _check_operating_point(p_spoof, c_miss, c_fa):
    """Raise an :class:`InputError` unless ``0 < p_spoof < 1`` and both costs are finite and
    positive (NaN and inf are refused), with a Bayes threshold that is a finite number."""
    try:
        values = [float(v) for v in (p_spoof, c_miss, c_fa)]
    except (TypeError, ValueError):
        raise InputError(f"the operating point must be numbers, got p_spoof={p_spoof!r}, "
                         f"c_miss={c_miss!r}, c_fa={c_fa!r}") from None
    p, miss, fa = values
    if not 0 < p < 1:
        raise InputError(f"p_spoof must lie strictly between 0 and 1, got {p_spoof}")
    if not all(math.isfinite(c) and c > 0 for c in (miss, fa)):
        raise InputError(f"costs must be finite and positive, got c_miss={c_miss}, c_fa={c_fa}")
    # beta = Cmiss*(1-Pspoof) / (Cfa*Pspoof) and the normalised costs (up to 1 + max(beta,
    # 1/beta)) must be finite numbers: refuse the operating points where they under/overflow.
    weighted = sorted((miss * (1 - p), fa * p))
    if not (weighted[0] > 0 and weighted[1] < math.inf and weighted[1] / weighted[0] < 1e300):
        raise InputError(f"the operating point p_spoof={p_spoof}, c_miss={c_miss}, c_fa={c_fa} "
                         "is too extreme: Cmiss*(1-Pspoof) and Cfa*Pspoof must be positive and "
                         "within a factor 1e300 of each other")


def bayes_threshold(p_spoof=DEFAULT_P_SPOOF, c_miss=DEFAULT_C_MISS, c_fa=DEFAULT_C_FA):
    """The LLR threshold ``-ln(beta)``, ``beta = Cmiss*(1-Pspoof) / (Cfa*Pspoof)``."""
    _check_operating_point(p_spoof, c_miss, c_fa)
    beta = c_miss * (1 - p_spoof) / (c_fa * p_spoof)
    return -math.log(beta)


def _normalised_cost(pmiss, pfa, p_spoof, c_miss, c_fa):
    """Detection cost divided by the cost of the best trivial system (accept all or reject all)."""
    cost = c_miss * (1 - p_spoof) * pmiss + c_fa * p_spoof * pfa
    return cost / min(c_miss * (1 - p_spoof), c_fa * p_spoof)


def _det_rates(bona, spoof):
    """``(pmiss, pfa)`` at the N+1 DET points."""
    # Where each bona fide score lands in the stable bona-fide-first sort of all scores: after
    # the lower bona fide ones and the strictly lower spoof ones (ties reject bona fide first).
    # Two plain sorts and a merge: several times faster than a stable argsort of everything.
    sorted_spoof = np.sort(spoof)
    landing = np.arange(bona.size) + np.searchsorted(sorted_spoof, np.sort(bona), side="left")
    is_bona = np.zeros(bona.size + spoof.size, dtype=np.int64)
    is_bona[landing] = 1
    rejected_bona = np.concatenate(([0], np.cumsum(is_bona)))
    rejected_spoof = np.arange(is_bona.size + 1) - rejected_bona
    pmiss = rejected_bona / bona.size
    pfa = (spoof.size - rejected_spoof) / spoof.size
    return pmiss, pfa


def _det_curve(bona, spoof):
    """``(pmiss, pfa, thresholds)``: the rates and the largest rejected score at each point."""
    pmiss, pfa = _det_rates(bona, spoof)
    thresholds = np.concatenate(([-np.inf], np.sort(np.concatenate((bona, spoof)), kind="stable")))
    return pmiss, pfa, thresholds


def det_curve(bonafide_scores, spoof_scores):
    """The N+1 DET points ``(pmiss, pfa, thresholds)``, from (0, 1) to (1, 0).

    At point k the k lowest scores (in the stable bona-fide-first order) are rejected;
    ``thresholds[k]`` is the largest rejected score, ``-inf`` at k = 0 where nothing is.
    """
    return _det_curve(_check_scores(bonafide_scores, "bona fide"),
                      _check_scores(spoof_scores, "spoof"))


def _eer(pmiss, pfa):
    # argmin returns the first minimiser, which is what the definition asks for.
    k = int(np.argmin(np.abs(pmiss - pfa)))
    return (pmiss[k] + pfa[k]) / 2


def compute_eer(bonafide_scores, spoof_scores):
    """Equal error rate (a fraction): (Pmiss + Pfa) / 2 at the first point nearest Pmiss = Pfa."""
    pmiss, pfa, _ = det_curve(bonafide_scores, spoof_scores)
    return float(_eer(pmiss, pfa))


def _min_dcf(pmiss, pfa, p_spoof, c_miss, c_fa):
    return np.min(_normalised_cost(pmiss, pfa, p_spoof, c_miss, c_fa))


def compute_min_dcf(bonafide_scores, spoof_scores, p_spoof=DEFAULT_P_SPOOF,
                    c_miss=DEFAULT_C_MISS, c_fa=DEFAULT_C_FA):
    """Minimum normalised detection cost over all DET points."""
    _check_operating_point(p_spoof, c_miss, c_fa)
    pmiss, pfa, _ = det_curve(bonafide_scores, spoof_scores)
    return float(_min_dcf(pmiss, pfa, p_spoof, c_miss, c_fa))


def _act_dcf(bona, spoof, p_spoof, c_miss, c_fa):
    tau = bayes_threshold(p_spoof, c_miss, c_fa)
    pmiss = np.count_nonzero(bona < tau) / bona.size
    pfa = np.count_nonzero(spoof >= tau) / spoof.size
    return _normalised_cost(pmiss, pfa, p_spoof, c_miss, c_fa)


def compute_act_dcf(bonafide_scores, spoof_scores, p_spoof=DEFAULT_P_SPOOF,
                    c_miss=DEFAULT_C_MISS, c_fa=DEFAULT_C_FA):
    """Normalised detection cost of the decisions taken at the Bayes threshold ``-ln(beta)``.

    A bona fide score below the threshold is a miss; a spoof score at or above it a false alarm.
    """
    return float(_act_dcf(_check_scores(bonafide_scores, "bona fide"),
                          _check_scores(spoof_scores, "spoof"), p_spoof, c_miss, c_fa))


def _cllr(bona, spoof):
    # log(1 + e^x) as logaddexp(0, x): exact for large |x| where log1p(exp(x)) overflows to inf.
    return (np.mean(np.logaddexp(0, -bona)) + np.mean(np.logaddexp(0, spoof))) / (2 * math.log(2))


def compute_cllr(bonafide_scores, spoof_scores):
    """Log-likelihood-ratio cost in bits; 1 for an uninformative system that always says 0."""
    return float(_cllr(_check_scores(bonafide_scores, "bona fide"),
                       _check_scores(spoof_scores, "spoof")))


def compute_metrics(bonafide_scores, spoof_scores, p_spoof=DEFAULT_P_SPOOF,
                    c_miss=DEFAULT_C_MISS, c_fa=DEFAULT_C_FA):
    """All ASVspoof5 Track-1 metrics from one sort of the scores.

    Returns a dict with ``min_dcf``, ``eer`` (a fraction), ``cllr`` (bits), ``act_dcf``,
    ``num_bonafide`` and ``num_spoof``.
    """
    _check_operating_point(p_spoof, c_miss, c_fa)
    bona = _check_scores(bonafide_scores, "bona fide")
    spoof = _check_scores(spoof_scores, "spoof")
    pmiss, pfa = _det_rates(bona, spoof)
    return {
        "min_dcf": float(_min_dcf(pmiss, pfa, p_spoof, c_miss, c_fa)),
        "eer": float(_eer(pmiss, pfa)),
        "cllr": float(_cllr(bona, spoof)),
        "act_dcf": float(_act_dcf(bona, spoof, p_spoof, c_miss, c_fa)),
        "num_bonafide": int(bona.size),
        "num_spoof": int(spoof.size),
    }
