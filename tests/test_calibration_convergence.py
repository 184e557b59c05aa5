"""Calibration numerics: badly scaled scores, convergence checking and separable classes."""

import json
import logging
import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from wedefense.bin import calibrate
from wedefense.calibration import logistic
from wedefense.calibration.logistic import (
    GRADIENT_TOLERANCE,
    SEPARABLE_RIDGE,
    apply_calibration,
    train_calibration,
)
from wedefense.utils.errors import InputError


def gaussian_scores(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(3, 2, n), rng.normal(-1, 2, n)


@pytest.mark.parametrize("shift, scale", [(1e3, 1), (1e5, 1), (1e6, 1), (0, 100), (0, 1e3),
                                          (0, 1e-4), (-2e4, 50)])
def test_affine_distortion_of_the_scores_gives_the_same_llrs(shift, scale):
    # llr = w*x + b is affine in x, so distorting the scores by x -> scale*x + shift must give
    # the same calibrated LLRs. BFGS on the raw scores stopped early when they were shifted by
    # 1e6 (weight 0.066 instead of 0.994) and reported converged=False on good fits too.
    bona, spoof = gaussian_scores()
    reference = train_calibration(bona, spoof)
    model = train_calibration(bona * scale + shift, spoof * scale + shift)
    probe = np.array([-5.0, -1.0, 0.0, 1.0, 3.0, 7.0])
    np.testing.assert_allclose(apply_calibration(model, probe * scale + shift),
                               apply_calibration(reference, probe), rtol=0, atol=1e-5)
    assert model["cross_entropy_bits"] == pytest.approx(reference["cross_entropy_bits"],
                                                        rel=1e-9)
    assert model["converged"] is True
    assert model["max_gradient"] <= GRADIENT_TOLERANCE and model["separable"] is False


def _stop_after_one_iteration(monkeypatch):
    real_minimize = logistic.minimize

    def one_step(*args, **kwargs):
        kwargs["options"] = {**kwargs.get("options", {}), "maxiter": 1}
        return real_minimize(*args, **kwargs)

    monkeypatch.setattr(logistic, "minimize", one_step)


def test_a_fit_that_does_not_converge_is_an_error(monkeypatch):
    bona, spoof = gaussian_scores()
    _stop_after_one_iteration(monkeypatch)
    with pytest.raises(InputError, match="did not converge"):
        train_calibration(bona, spoof)


def _write_trials(tmp_path, bona, spoof):
    utts = [f"T_{i:05d}" for i in range(len(bona) + len(spoof))]
    labels = ["bonafide"] * len(bona) + ["spoof"] * len(spoof)
    scores = np.concatenate((bona, spoof))
    path = tmp_path / "scores.txt"
    path.write_text("filename\tcm-score\n"
                    + "".join(f"{u}\t{float(s)!r}\n" for u, s in zip(utts, scores)))
    key = tmp_path / "key"
    key.write_text("".join(f"{u} {lab}\n" for u, lab in zip(utts, labels)))
    return str(path), str(key)


def test_calibrate_train_fails_without_writing_a_model_if_not_converged(
        tmp_path, monkeypatch, capsys):
    scores, key = _write_trials(tmp_path, *gaussian_scores(200))
    _stop_after_one_iteration(monkeypatch)
    out = tmp_path / "calib.json"
    with pytest.raises(SystemExit) as info:
        calibrate.main(["train", "--scores", scores, "--keys", key, "--out", str(out)])
    assert info.value.code != 0
    assert "did not converge" in capsys.readouterr().err
    assert not out.exists()


def _penalised_objective(params, bona, spoof, p_eff, ridge):
    """The separable-case objective written out: standardised scores, ridge on the weights."""
    pooled = np.concatenate((bona, spoof))
    mean, std = pooled.mean(axis=0), pooled.std(axis=0)
    v, c = params[:-1], params[-1]
    off = math.log(p_eff / (1 - p_eff))
    bona_llr = ((bona - mean) / std) @ v + c + off
    spoof_llr = ((spoof - mean) / std) @ v + c + off
    value = (p_eff * np.mean(np.log1p(np.exp(-bona_llr)))
             + (1 - p_eff) * np.mean(np.log1p(np.exp(spoof_llr)))) / math.log(2)
    return value + ridge / 2 * float(v @ v)


def _standardised_params(model, bona, spoof):
    pooled = np.concatenate((bona, spoof))
    mean, std = pooled.mean(axis=0), pooled.std(axis=0)
    w = np.asarray(model["weights"])
    return np.concatenate((w * std, [model["offset"] + float(w @ mean)]))


@pytest.mark.parametrize("bona, spoof, sign", [
    ([1.0, 2.0, 3.0], [-1.0, -2.0, -3.0], 1),
    ([0.0, 2.0, 5.0, 9.0], [-4.0, -0.5, 0.0], 1),   # touching at 0: still no finite optimum
    ([-1.0, -2.0, -3.0], [1.0, 2.0, 3.0], -1),     # perfectly wrong: slope towards -inf
])
def test_separable_single_system_is_detected_and_bounded(bona, spoof, sign, caplog):
    bona, spoof = np.array(bona), np.array(spoof)
    with caplog.at_level(logging.WARNING, logger="wedefense.calibration"):
        model = train_calibration(bona, spoof)
    assert "perfectly separable" in caplog.text
    assert model["separable"] is True and model["ridge"] == SEPARABLE_RIDGE
    assert np.sign(model["weights"][0]) == sign
    # Well defined: the unique optimum of the documented penalised objective, ...
    params = _standardised_params(model, bona[:, None], spoof[:, None])
    grad = approx_fprime(params, _penalised_objective, 1e-7, bona[:, None], spoof[:, None],
                         model["p_eff"], SEPARABLE_RIDGE)
    assert np.abs(grad).max() < 1e-5
    # ... bounded (the unregularised fit returned LLRs up to +-70 on the first case), ...
    llr = apply_calibration(model, np.concatenate((bona, spoof)))
    assert np.abs(llr).max() < 30
    # ... and independent of the units of the scores.
    scaled = train_calibration(bona * 1000 - 7, spoof * 1000 - 7)
    np.testing.assert_allclose(apply_calibration(scaled, np.concatenate((bona, spoof)) * 1000 - 7),
                               llr, rtol=0, atol=1e-6)


def test_separable_fusion_is_detected(caplog):
    # Neither system separates the classes on its own, their sum does.
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (400, 2))
    margin = x.sum(axis=1)
    x = x[np.abs(margin) > 0.5]
    margin = x.sum(axis=1)
    bona, spoof = x[margin > 0], x[margin < 0]
    for j in range(2):
        assert bona[:, j].min() < spoof[:, j].max()
    with caplog.at_level(logging.WARNING, logger="wedefense.calibration"):
        model = train_calibration(bona, spoof)
    assert "perfectly separable" in caplog.text and model["separable"] is True
    params = _standardised_params(model, bona, spoof)
    grad = approx_fprime(params, _penalised_objective, 1e-7, bona, spoof, model["p_eff"],
                         SEPARABLE_RIDGE)
    assert np.abs(grad).max() < 1e-5
    assert np.abs(apply_calibration(model, np.concatenate((bona, spoof)))).max() < 30


def test_one_separating_system_makes_the_fusion_separable(caplog):
    bona, spoof = gaussian_scores(300)
    rng = np.random.default_rng(1)
    clean = np.concatenate((rng.uniform(1, 2, 300), rng.uniform(-2, -1, 300)))
    with caplog.at_level(logging.WARNING, logger="wedefense.calibration"):
        model = train_calibration(np.stack([bona, clean[:300]], 1),
                                  np.stack([spoof, clean[300:]], 1))
    assert model["separable"] is True and "perfectly separable" in caplog.text


def test_overlapping_classes_are_not_flagged(caplog):
    with caplog.at_level(logging.WARNING, logger="wedefense.calibration"):
        model = train_calibration(*gaussian_scores(300))
    assert model["separable"] is False and model["ridge"] == 0 and not caplog.text


def test_constant_system_gets_weight_zero():
    bona, spoof = gaussian_scores(500)
    alone = train_calibration(bona, spoof)
    fused = train_calibration(np.stack([bona, np.full(500, 5.0)], 1),
                              np.stack([spoof, np.full(500, 5.0)], 1))
    assert fused["weights"][1] == 0.0
    assert fused["weights"][0] == pytest.approx(alone["weights"][0], rel=1e-7)
    assert fused["offset"] == pytest.approx(alone["offset"], abs=1e-7)


def test_calibrate_train_on_separable_data_warns_and_records_it(tmp_path, caplog):
    scores, key = _write_trials(tmp_path, [1.0, 2.0, 3.0, 2.5], [-1.0, -2.0, -3.0])
    out = tmp_path / "calib.json"
    with caplog.at_level(logging.WARNING, logger="wedefense.calibration"):
        calibrate.main(["train", "--scores", scores, "--keys", key, "--out", str(out)])
    assert "perfectly separable" in caplog.text
    model = json.loads(out.read_text())
    assert model["separable"] is True and model["ridge"] == SEPARABLE_RIDGE
    assert 0 < model["weights"][0] < 10
