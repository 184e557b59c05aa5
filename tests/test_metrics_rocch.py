"""minCllr (PAV) and ROCCH-EER against plain-Python transcriptions of their definitions."""

import math

import numpy as np
import pytest

from wedefense.metrics.detection import compute_cllr, compute_metrics
from wedefense.metrics.rocch import beyond_official_metrics, min_cllr, rocch, rocch_eer


def reference_pav_min_cllr(bona, spoof):
    """Textbook PAV on unique scores (pool adjacent violators with a stack), then Cllr."""
    values = sorted(set(bona) | set(spoof))
    blocks = []  # [n_bona, n_total]
    for v in values:
        blocks.append([sum(1 for s in bona if s == v), sum(1 for s in bona + spoof if s == v), 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            b = blocks.pop()
            blocks[-1] = [blocks[-1][0] + b[0], blocks[-1][1] + b[1], blocks[-1][2] + b[2]]
    odds = len(bona) / len(spoof)
    total = 0.0
    for n_b, n, _ in blocks:
        p = n_b / n
        if n_b:
            total += n_b * math.log2((p + odds * (1 - p)) / p) / len(bona)
        if n - n_b:
            total += (n - n_b) * math.log2((p + odds * (1 - p)) / (odds * (1 - p))) / len(spoof)
    return total / 2


def reference_rocch_eer(bona, spoof):
    """Lower hull of the ROC points at unique thresholds (monotone chain), crossed with y = x."""
    values = sorted(set(bona) | set(spoof))
    points = [(1.0, 0.0)]  # (pfa, pmiss) with nothing rejected
    for v in values:
        points.append((sum(1 for s in spoof if s > v) / len(spoof),
                       sum(1 for s in bona if s <= v) / len(bona)))
    points.sort()
    hull = []
    for p in points:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) <= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    for (x1, y1), (x2, y2) in zip(hull, hull[1:]):
        if (y1 - x1) >= 0 >= (y2 - x2):
            if y1 - x1 == y2 - x2:
                return y1
            t = (y1 - x1) / ((y1 - x1) - (y2 - x2))
            return y1 + t * (y2 - y1)
    raise AssertionError("no crossing")


def _case(seed, ties=False):
    rng = np.random.default_rng(seed)
    nb, ns = rng.integers(1, 60, 2)
    bona, spoof = rng.normal(1, 1.5, nb), rng.normal(-1, 1.5, ns)
    if ties:
        bona, spoof = np.round(bona), np.round(spoof)
    return bona.tolist(), spoof.tolist()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_min_cllr_matches_reference(seed, ties):
    bona, spoof = _case(seed, ties)
    assert min_cllr(bona, spoof) == pytest.approx(reference_pav_min_cllr(bona, spoof), abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_rocch_eer_matches_reference(seed, ties):
    bona, spoof = _case(seed, ties)
    assert rocch_eer(bona, spoof) == pytest.approx(reference_rocch_eer(bona, spoof), abs=1e-12)


def test_min_cllr_bounds_any_affine_recalibration():
    bona, spoof = _case(3)
    best = min_cllr(bona, spoof)
    assert 0 <= best <= 1 + 1e-12
    for a in (0.1, 0.5, 1, 2, 5):
        for b in (-2, 0, 2):
            assert best <= compute_cllr(a * np.array(bona) + b, a * np.array(spoof) + b) + 1e-12


@pytest.mark.parametrize("bona, spoof, cllr_min, eer", [
    ([1.0, 2.0], [-1.0, 0.0], 0.0, 0.0),      # separated: free after calibration
    ([0.0, 0.0], [0.0], 1.0, 0.5),           # all tied: uninformative, one ROC point
    ([-5.0], [5.0], 1.0, 0.5),               # perfectly wrong: best monotone map is constant
])
def test_edge_cases(bona, spoof, cllr_min, eer):
    assert min_cllr(bona, spoof) == pytest.approx(cllr_min, abs=1e-12)
    assert rocch_eer(bona, spoof) == pytest.approx(eer, abs=1e-12)


def test_huge_scores_stay_finite():
    got = beyond_official_metrics([1e300, -1e300], [1e300, -1e300])
    assert all(math.isfinite(v) for v in got.values())


def test_calibration_loss_and_hull_ends():
    bona, spoof = _case(9)
    got = beyond_official_metrics(bona, spoof)
    assert got["calibration_loss"] == pytest.approx(compute_cllr(bona, spoof) - got["min_cllr"])
    assert got["rocch_eer"] <= compute_metrics(bona, spoof)["eer"] + 1e-12
    pmiss, pfa = rocch(bona, spoof)
    assert (pmiss[0], pfa[0], pmiss[-1], pfa[-1]) == (0, 1, 1, 0)
