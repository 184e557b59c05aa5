"""A second, independent check of Track 1: a transcription of the ASVspoof5 package's documented
procedure (mergesort DET with a 'labels' vector, a Python loop for minDCF with a strict '<',
log1p(exp) Cllr), on inputs where that Cllr does not overflow. Agreement to 1e-9 required."""

import numpy as np
import pytest

from wedefense.metrics.detection import compute_metrics


def package_procedure(bona, spoof, p_spoof=0.05, c_miss=1, c_fa=10):
    scores = np.concatenate((bona, spoof))
    labels = np.concatenate((np.ones(bona.size), np.zeros(spoof.size)))[
        np.argsort(scores, kind="mergesort")]
    tar = np.cumsum(labels)
    non = spoof.size - (np.arange(1, scores.size + 1) - tar)
    frr = np.concatenate(([0], tar / bona.size))
    far = np.concatenate(([1], non / spoof.size))
    k = np.argmin(np.abs(frr - far))
    eer = np.mean((frr[k], far[k]))
    best = float("inf")
    for i in range(len(frr)):
        cost = c_miss * frr[i] * (1 - p_spoof) + c_fa * far[i] * p_spoof
        if cost < best:
            best = cost
    min_dcf = best / min(c_miss * (1 - p_spoof), c_fa * p_spoof)
    cllr = 0.5 * (np.mean(np.log1p(np.exp(-bona))) + np.mean(np.log1p(np.exp(spoof)))) / np.log(2)
    tau = -np.log(c_miss * (1 - p_spoof) / (c_fa * p_spoof))
    act = (c_miss * (1 - p_spoof) * np.sum(bona < tau) / bona.size
           + c_fa * p_spoof * np.sum(spoof >= tau) / spoof.size)
    act /= min(c_fa * p_spoof, c_miss * (1 - p_spoof))
    return {"min_dcf": min_dcf, "eer": eer, "cllr": cllr, "act_dcf": act}


def _cases():
    rng = np.random.default_rng(11)
    yield rng.normal(1, 2, 500), rng.normal(-1, 2, 4500)                   # imbalanced
    yield np.round(rng.normal(0, 1, 300)), np.round(rng.normal(-0.5, 1, 300))  # ties
    yield np.array([0.3]), np.array([0.3])                                 # one each, tied
    yield np.full(10, 1.5), np.full(7, 1.5)                                # all equal
    yield rng.normal(50, 1, 40), rng.normal(-50, 1, 60)                    # separated, large
    yield rng.normal(0, 1, 3), rng.normal(0, 1, 3000)                      # tiny class


@pytest.mark.parametrize("case", list(_cases()), ids=["imbalanced", "ties", "one_each",
                                                       "all_equal", "separated", "tiny_class"])
@pytest.mark.parametrize("operating_point", [{}, {"p_spoof": 0.5, "c_miss": 1, "c_fa": 1},
                                             {"p_spoof": 0.3, "c_miss": 2.5, "c_fa": 0.7}])
def test_agrees_with_the_package_procedure(case, operating_point):
    bona, spoof = case
    got = compute_metrics(bona, spoof, **operating_point)
    want = package_procedure(bona, spoof, **operating_point)
    for name, value in want.items():
        assert abs(got[name] - value) <= 1e-9, name
