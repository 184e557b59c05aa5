"""Detection metrics against a brute-force transcription of the ASVspoof5 definitions."""

import math
import time

import numpy as np
import pytest

from wedefense.metrics.detection import (
    bayes_threshold,
    compute_act_dcf,
    compute_cllr,
    compute_eer,
    compute_metrics,
    compute_min_dcf,
    det_curve,
)
from wedefense.utils.errors import InputError

TOL = 1e-9


def reference_metrics(bona, spoof, p_spoof=0.05, c_miss=1, c_fa=10):
    """The definitions in ``wedefense.metrics.detection``'s docstring word for word, with plain
    Python loops and no numpy."""
    bona = [float(s) for s in bona]
    spoof = [float(s) for s in spoof]
    trials = [(s, True) for s in bona] + [(s, False) for s in spoof]
    ranked = sorted(trials, key=lambda t: t[0])  # Python's sort is stable
    n = len(trials)
    norm = min(c_miss * (1 - p_spoof), c_fa * p_spoof)
    best_gap = eer = min_dcf = None
    for k in range(n + 1):
        rejected = ranked[:k]
        pmiss = sum(1 for _, is_bona in rejected if is_bona) / len(bona)
        pfa = (len(spoof) - sum(1 for _, is_bona in rejected if not is_bona)) / len(spoof)
        gap = abs(pmiss - pfa)
        if best_gap is None or gap < best_gap:
            best_gap, eer = gap, (pmiss + pfa) / 2
        dcf = (c_miss * (1 - p_spoof) * pmiss + c_fa * p_spoof * pfa) / norm
        min_dcf = dcf if min_dcf is None else min(min_dcf, dcf)
    tau = -math.log(c_miss * (1 - p_spoof) / (c_fa * p_spoof))
    pmiss = sum(1 for s in bona if s < tau) / len(bona)
    pfa = sum(1 for s in spoof if s >= tau) / len(spoof)
    act_dcf = (c_miss * (1 - p_spoof) * pmiss + c_fa * p_spoof * pfa) / norm

    def softplus(x):  # log(1 + e^x) without overflow
        return max(x, 0.0) + math.log1p(math.exp(-abs(x)))

    cllr = (sum(softplus(-s) for s in bona) / len(bona)
            + sum(softplus(s) for s in spoof) / len(spoof)) / (2 * math.log(2))
    return {"min_dcf": min_dcf, "eer": eer, "cllr": cllr, "act_dcf": act_dcf,
            "num_bonafide": len(bona), "num_spoof": len(spoof)}


def assert_matches_reference(bona, spoof, **operating_point):
    got = compute_metrics(bona, spoof, **operating_point)
    want = reference_metrics(bona, spoof, **operating_point)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == pytest.approx(want[name], abs=TOL, rel=TOL), name
    return got


def _random_case(seed):
    rng = np.random.default_rng(seed)
    n_bona, n_spoof = rng.integers(1, 120, size=2)
    return rng.normal(1, 2, n_bona), rng.normal(-1, 2, n_spoof)


@pytest.mark.parametrize("seed", range(8))
def test_random_scores(seed):
    assert_matches_reference(*_random_case(seed))


@pytest.mark.parametrize("seed", range(4))
def test_other_operating_points(seed):
    bona, spoof = _random_case(100 + seed)
    rng = np.random.default_rng(seed)
    assert_matches_reference(bona, spoof, p_spoof=float(rng.uniform(0.01, 0.99)),
                             c_miss=float(rng.uniform(0.1, 5)), c_fa=float(rng.uniform(0.1, 20)))


@pytest.mark.parametrize("seed", range(6))
def test_ties_across_classes(seed):
    # Few distinct values, so most scores tie with scores of the other class.
    rng = np.random.default_rng(seed)
    bona = rng.integers(-2, 3, rng.integers(1, 60)).astype(float)
    spoof = rng.integers(-3, 2, rng.integers(1, 60)).astype(float)
    assert_matches_reference(bona, spoof)


def test_ties_are_broken_bona_fide_first():
    # Equal scores: the bona fide one is rejected first, so point 1 is (Pmiss=1, Pfa=1).
    pmiss, pfa, thresholds = det_curve([0.0], [0.0])
    np.testing.assert_array_equal(pmiss, [0, 1, 1])
    np.testing.assert_array_equal(pfa, [1, 1, 0])
    np.testing.assert_array_equal(thresholds, [-np.inf, 0, 0])


@pytest.mark.parametrize("bona, spoof", [([0.3], [-0.2]), ([-5.0], [7.0]), ([1.0], [1.0])])
def test_one_score_per_class(bona, spoof):
    assert_matches_reference(bona, spoof)


@pytest.mark.parametrize("n_bona, n_spoof", [(1, 400), (400, 1), (3, 300), (250, 7)])
def test_heavily_imbalanced(n_bona, n_spoof):
    rng = np.random.default_rng(n_bona * 1000 + n_spoof)
    assert_matches_reference(rng.normal(0.5, 1, n_bona), rng.normal(-0.5, 1, n_spoof))


def test_all_equal_scores():
    # The bona-fide-first tie rule makes all-equal scores the worst case: at k = N_bona every
    # bona fide score is rejected and no spoof one, Pmiss = Pfa = 1, so EER = 1 (not 0.5).
    got = assert_matches_reference(np.full(7, 0.25), np.full(5, 0.25))
    assert got["eer"] == 1.0
    assert got["min_dcf"] == 1.0


def test_all_zero_scores_cost_one_bit():
    got = assert_matches_reference(np.zeros(10), np.zeros(4))
    assert got["cllr"] == pytest.approx(1.0, abs=1e-15)
    # 0 is above the default threshold -ln(1.9): everything accepted, every spoof a false alarm.
    assert got["act_dcf"] == pytest.approx(1.0, abs=1e-15)


def test_perfect_separation():
    got = assert_matches_reference([3.0, 4.0, 5.0], [-5.0, -1.0])
    assert got["eer"] == 0.0
    assert got["min_dcf"] == 0.0
    assert got["act_dcf"] == 0.0


def test_perfectly_wrong():
    got = assert_matches_reference([-3.0, -4.0], [5.0, 1.0, 2.0])
    assert got["eer"] == 1.0


def test_huge_magnitudes():
    bona = np.array([1e6, -1e6, 3.0, 1e6])
    spoof = np.array([-1e6, 1e6, -2.0])
    got = assert_matches_reference(bona, spoof)
    assert math.isfinite(got["cllr"])
    # ln(1 + e^1e6) is 1e6 to double precision and ln(1 + e^-1e6) is 0.
    expected = ((1e6 + math.log1p(math.exp(-3.0))) / 4
                + (1e6 + math.log1p(math.exp(-2.0))) / 3) / (2 * math.log(2))
    assert got["cllr"] == pytest.approx(expected, rel=1e-12)


def test_confident_and_right_is_nearly_free():
    assert compute_cllr([1e6], [-1e6]) == 0.0


def test_cllr_closed_form():
    # One trial per class at s = ln 3: each costs log2(1 + 1/3).
    s = math.log(3)
    assert compute_cllr([s], [-s]) == pytest.approx(math.log2(4 / 3), abs=1e-15)


def test_pieces_agree_with_compute_metrics():
    bona, spoof = _random_case(42)
    metrics = compute_metrics(bona, spoof, p_spoof=0.1, c_miss=2, c_fa=3)
    assert compute_eer(bona, spoof) == metrics["eer"]
    assert compute_min_dcf(bona, spoof, p_spoof=0.1, c_miss=2, c_fa=3) == metrics["min_dcf"]
    assert compute_act_dcf(bona, spoof, p_spoof=0.1, c_miss=2, c_fa=3) == metrics["act_dcf"]
    assert compute_cllr(bona, spoof) == metrics["cllr"]


def test_det_curve_shape_and_ends():
    bona, spoof = _random_case(7)
    pmiss, pfa, thresholds = det_curve(bona, spoof)
    n = len(bona) + len(spoof)
    assert pmiss.shape == pfa.shape == thresholds.shape == (n + 1,)
    assert (pmiss[0], pfa[0], pmiss[-1], pfa[-1]) == (0, 1, 1, 0)
    assert np.all(np.diff(pmiss) >= 0) and np.all(np.diff(pfa) <= 0)


def test_bayes_threshold_default():
    assert bayes_threshold() == pytest.approx(-math.log(0.95 / 0.5), abs=1e-15)


def test_act_dcf_threshold_boundary():
    # At exactly tau a bona fide score is accepted and a spoof score is a false alarm.
    tau = bayes_threshold()
    assert compute_act_dcf([tau], [tau - 1]) == 0.0
    assert compute_act_dcf([tau], [tau]) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("bona, spoof, message", [
    ([], [1.0], "no bona fide scores"),
    ([1.0], [], "no spoof scores"),
    ([1.0, float("nan")], [0.0], "not finite"),
    ([1.0], [0.0, float("inf")], "not finite"),
    ([1.0], [-float("inf")], "not finite"),
    ([[1.0]], [0.0], "1-D"),
])
def test_bad_scores(bona, spoof, message):
    with pytest.raises(InputError, match=message):
        compute_metrics(bona, spoof)


@pytest.mark.parametrize("p_spoof, c_miss, c_fa", [(0, 1, 10), (1, 1, 10), (0.05, 0, 10),
                                                   (0.05, 1, -1)])
def test_bad_operating_point(p_spoof, c_miss, c_fa):
    with pytest.raises(InputError):
        compute_metrics([1.0], [0.0], p_spoof=p_spoof, c_miss=c_miss, c_fa=c_fa)


def test_million_trials_is_fast():
    rng = np.random.default_rng(0)
    bona, spoof = rng.normal(2, 1, 100_000), rng.normal(-2, 1, 900_000)
    start = time.perf_counter()
    metrics = compute_metrics(bona, spoof)
    elapsed = time.perf_counter() - start
    assert metrics["num_bonafide"] + metrics["num_spoof"] == 1_000_000
    # Generous bound: the machine is shared; it takes about 0.2 s on one idle core.
    assert elapsed < 3.0


@pytest.mark.parametrize("p_spoof, c_miss, c_fa, message", [
    (0.05, 1, float("inf"), "finite and positive"),
    (0.05, float("inf"), 10, "finite and positive"),
    (0.05, float("nan"), 10, "finite and positive"),
    (0.05, 1, float("nan"), "finite and positive"),
    (float("nan"), 1, 10, "strictly between 0 and 1"),
    (float("inf"), 1, 10, "strictly between 0 and 1"),
    (0.05, 1e-300, 1e300, "too extreme"),
])
def test_non_finite_or_extreme_operating_point(p_spoof, c_miss, c_fa, message):
    # Each of these used to reach math.log with a zero or NaN beta ("math domain error") or to
    # return NaN costs; every entry point checks the operating point the same way.
    for compute in (compute_metrics, compute_act_dcf, compute_min_dcf):
        with pytest.raises(InputError, match=message):
            compute([1.0], [0.0], p_spoof=p_spoof, c_miss=c_miss, c_fa=c_fa)
    with pytest.raises(InputError, match=message):
        bayes_threshold(p_spoof, c_miss, c_fa)
