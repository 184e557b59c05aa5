"""Bootstrap intervals: each resample equals compute_metrics on the materialised resample."""

import time

import numpy as np
import pytest

from wedefense.metrics.bootstrap import bootstrap_intervals, bootstrap_resamples
from wedefense.metrics.detection import compute_metrics
from wedefense.utils.errors import InputError


def _materialised(bona, spoof, num_resamples, seed):
    # The same draws as the implementation makes for one block: bona fide rows, then spoof rows.
    rng = np.random.default_rng(seed)
    bona_draws = rng.integers(0, bona.size, size=(num_resamples, bona.size))
    spoof_draws = rng.integers(0, spoof.size, size=(num_resamples, spoof.size))
    return [(bona[b], spoof[s]) for b, s in zip(bona_draws, spoof_draws)]


@pytest.mark.parametrize("seed", range(3))
def test_resamples_equal_direct_computation(seed):
    rng = np.random.default_rng(100 + seed)
    # Rounded scores: many ties inside and across classes, where the ordering rules matter.
    bona = np.round(rng.normal(1, 1, 37), 1)
    spoof = np.round(rng.normal(-1, 1, 53), 1)
    got = bootstrap_resamples(bona, spoof, num_resamples=20, seed=seed, p_spoof=0.2, c_fa=3)
    for i, (b, s) in enumerate(_materialised(bona, spoof, 20, seed)):
        want = compute_metrics(b, s, p_spoof=0.2, c_fa=3)
        assert got["eer"][i] == want["eer"]
        assert got["min_dcf"][i] == want["min_dcf"]
        assert got["act_dcf"][i] == pytest.approx(want["act_dcf"], abs=1e-15)
        assert got["cllr"][i] == pytest.approx(want["cllr"], rel=1e-12)


def test_seeded_and_sensible():
    rng = np.random.default_rng(0)
    bona, spoof = rng.normal(2, 1, 300), rng.normal(-2, 1, 700)
    a = bootstrap_intervals(bona, spoof, num_resamples=200, seed=5)
    b = bootstrap_intervals(bona, spoof, num_resamples=200, seed=5)
    c = bootstrap_intervals(bona, spoof, num_resamples=200, seed=6)
    assert a == b and a != c
    point = compute_metrics(bona, spoof)
    for name, (low, high) in a["intervals"].items():
        assert low <= point[name] <= high, name


def test_bad_arguments():
    with pytest.raises(InputError, match="positive integer"):
        bootstrap_resamples([1.0], [0.0], num_resamples=0)
    with pytest.raises(InputError, match="confidence"):
        bootstrap_intervals([1.0], [0.0], num_resamples=2, confidence=1.5)


def test_many_resamples_are_fast():
    rng = np.random.default_rng(1)
    bona, spoof = rng.normal(2, 1, 2_000), rng.normal(-2, 1, 18_000)
    start = time.perf_counter()
    bootstrap_resamples(bona, spoof, num_resamples=200)
    # 200 x 20k trials; a loop of 200 sorts would also pass, a loop of Python points would not.
    assert time.perf_counter() - start < 10
