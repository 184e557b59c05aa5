"""Linear calibration and fusion of detection scores by prior-weighted logistic regression.

This is Brümmer's recipe (FoCal / BOSARIS): the calibrated LLR of a trial with scores
``x = (x_1 … x_S)`` from S systems is ``llr = w · x + b``; ``w`` and ``b`` minimise the
cross-entropy of the LLRs at the *effective prior* of the application,

    p_eff = Pbona*Cmiss / (Pbona*Cmiss + Pspoof*Cfa),       Pbona = 1 - Pspoof,

i.e. (in bits)

    C(w, b) = [ p_eff     * mean_bona  log(1 + exp(-(llr + logit p_eff)))
              + (1-p_eff) * mean_spoof log(1 + exp(  llr + logit p_eff )) ] / ln 2.

Each class is weighted by its effective prior, not by its count in the training set, so the
result does not depend on the class proportions of the data it is trained on, and it is optimised
for the costs the system will be judged by. The optimum is reached at the true LLR whenever that
is linear in the scores (e.g. Gaussian scores with equal variances), whatever p_eff; p_eff only
decides which errors matter most when the model is not exact.

One system is calibration (``w`` a slope, ``b`` an offset); several are fusion. The objective is
convex, and it is minimised with BFGS using its exact gradient.

Numerics. Each system's scores are standardised first (mean and standard deviation over all the
training trials, both classes pooled), the weights are fitted in those units and mapped back
(``w = v / std``, ``b = c - sum(v * mean / std)``). The optimum is the same; only the
conditioning changes, so raw logits, scores shifted by 1e6 or scaled by 1e-4 all fit alike. A
system whose training scores are all equal carries no information and gets weight 0.

Convergence is judged by this module, not by the optimiser's status (BFGS often reports a
"precision loss" at a perfectly good optimum): the fit has converged when every component of the
objective's gradient in the standardised units is at most :data:`GRADIENT_TOLERANCE` (bits per
standard deviation). A fit that does not converge raises :class:`InputError`, so no
half-optimised model is ever written: its LLRs would be silently miscalibrated, and after the
standardisation a failure points at pathological input rather than at a tuning problem.

Separable classes. When a weighted sum of the scores puts every bona fide trial at or above every
spoof trial, the objective has no minimum: it keeps falling as the weights grow, and an
unregularised fit would return whatever slope the optimiser stopped at. This is detected (one
system: ``max(spoof) <= min(bona fide)`` or the reverse; any number of systems: a single system
separating on its own, or a fitted fusion whose LLRs separate the classes), a warning is logged,
and the weights are instead fitted with a ridge penalty ``SEPARABLE_RIDGE/2 * |v|^2`` (bits, on
the standardised weights ``v``, not on the offset). That optimum is unique and finite, independent
of the scale and shift of the scores, and moderate: for two well separated clusters the trials
nearest the boundary get LLRs of a few nats. The model records ``"separable": true`` and the
``"ridge"`` used; treat such a calibration as provisional and train on data with errors in it.
"""

import json
import logging
import math

import numpy as np
from scipy.optimize import minimize

from wedefense.metrics.detection import (
    DEFAULT_C_FA,
    DEFAULT_C_MISS,
    DEFAULT_P_SPOOF,
    _check_operating_point,
)
from wedefense.utils.errors import InputError

MODEL_TYPE = "wedefense-linear-calibration"

# Largest gradient component (bits per standard deviation of a system's scores) of a converged fit.
GRADIENT_TOLERANCE = 1e-6
# Ridge penalty on the standardised weights, used only when the classes are separable.
SEPARABLE_RIDGE = 1e-3

logger = logging.getLogger("wedefense.calibration")


def effective_prior(p_spoof=DEFAULT_P_SPOOF, c_miss=DEFAULT_C_MISS, c_fa=DEFAULT_C_FA):
    """``p_eff = Pbona*Cmiss / (Pbona*Cmiss + Pspoof*Cfa)``, the objective's bona fide prior."""
    _check_operating_point(p_spoof, c_miss, c_fa)
    p_bona = 1 - p_spoof
    return p_bona * c_miss / (p_bona * c_miss + p_spoof * c_fa)


def _as_matrix(scores, name):
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"{name} scores must be a non-empty (trials, systems) array, "
                         f"got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InputError(f"{name} scores contain NaN or inf")
    return x


def weighted_cross_entropy(params, bona, spoof, p_eff):
    """``(objective in bits, gradient)`` of the prior-weighted logistic regression."""
    w, b = params[:-1], params[-1]
    offset = math.log(p_eff / (1 - p_eff))
    bona_llr = bona @ w + b + offset
    spoof_llr = spoof @ w + b + offset
    # log(1 + e^x) = logaddexp(0, x); its derivative is the logistic sigmoid.
    value = (p_eff * np.mean(np.logaddexp(0, -bona_llr))
             + (1 - p_eff) * np.mean(np.logaddexp(0, spoof_llr)))
    bona_grad = -p_eff * _sigmoid(-bona_llr) / bona.shape[0]
    spoof_grad = (1 - p_eff) * _sigmoid(spoof_llr) / spoof.shape[0]
    grad = np.concatenate((bona.T @ bona_grad + spoof.T @ spoof_grad,
                           [bona_grad.sum() + spoof_grad.sum()]))
    return value / math.log(2), grad / math.log(2)


def _sigmoid(x):
    return np.exp(-np.logaddexp(0, -x))


def _standardise(bona, spoof):
    """``(bona_z, spoof_z, mean, scale)``: each system's scores in units of its pooled std."""
    pooled = np.concatenate((bona, spoof))
    mean = pooled.mean(axis=0)
    scale = pooled.std(axis=0)
    # An exactly constant system (max == min) has no information: map it to 0, weight 0.
    constant = pooled.max(axis=0) == pooled.min(axis=0)
    mean[constant], scale[constant] = pooled[0, constant], 1.0
    return (bona - mean) / scale, (spoof - mean) / scale, mean, scale


def _separates(bona, spoof):
    """True if ``bona >= spoof`` or ``bona <= spoof`` for every pair of trials (1-D arrays)."""
    if bona.max() == bona.min() == spoof.max() == spoof.min():
        return False  # a constant system separates nothing
    return bool(bona.min() >= spoof.max() or bona.max() <= spoof.min())


def _objective(params, bona, spoof, p_eff, ridge):
    value, grad = weighted_cross_entropy(params, bona, spoof, p_eff)
    if ridge:
        weights = params[:-1]
        value = value + 0.5 * ridge * float(weights @ weights)
        grad = grad + ridge * np.concatenate((weights, [0.0]))
    return value, grad


def _fit(bona, spoof, p_eff, ridge):
    """``(params, max |gradient|, iterations)`` minimising the (penalised) objective."""
    start = np.zeros(bona.shape[1] + 1)  # LLR 0 for every trial: the uninformative system
    result = minimize(_objective, start, args=(bona, spoof, p_eff, ridge), jac=True,
                      method="BFGS", options={"gtol": 1e-10, "maxiter": 1000})
    params = result.x
    if not np.all(np.isfinite(params)):
        return params, math.inf, result.nit
    _, grad = _objective(params, bona, spoof, p_eff, ridge)
    return params, float(np.abs(grad).max()), result.nit


def train_calibration(bonafide_scores, spoof_scores, p_spoof=DEFAULT_P_SPOOF,
                      c_miss=DEFAULT_C_MISS, c_fa=DEFAULT_C_FA):
    """Fit ``llr = w · x + b``. Scores are (trials,) for one system or (trials, systems).

    Returns a JSON-ready dict: ``weights``, ``offset``, the operating point, ``p_eff``, the
    objective at the optimum (``cross_entropy_bits``; 1 bit = an uninformative system at p_eff),
    ``separable`` and the ``ridge`` penalty used (0 unless separable; see the module docstring).
    Raises :class:`InputError` if the fit does not converge.
    """
    p_eff = effective_prior(p_spoof, c_miss, c_fa)
    bona = _as_matrix(bonafide_scores, "bona fide")
    spoof = _as_matrix(spoof_scores, "spoof")
    if bona.shape[1] != spoof.shape[1]:
        raise InputError(f"{bona.shape[1]} systems for bona fide trials but {spoof.shape[1]} "
                         "for spoof trials")
    num_systems = bona.shape[1]
    bona_z, spoof_z, mean, scale = _standardise(bona, spoof)
    separable = any(_separates(bona_z[:, j], spoof_z[:, j]) for j in range(num_systems))
    ridge = 0.0
    if not separable:
        params, max_grad, iterations = _fit(bona_z, spoof_z, p_eff, 0.0)
        if np.all(np.isfinite(params)):
            # A fusion whose fitted LLRs split the classes proves them linearly separable.
            separable = _separates(bona_z @ params[:-1], spoof_z @ params[:-1])
    if separable:
        ridge = SEPARABLE_RIDGE
        logger.warning("the bona fide and spoof training scores are perfectly separable, so "
                       "the unregularised calibration has no finite optimum; fitting with a "
                       "ridge penalty %g on the standardised weights instead (a bounded, "
                       "provisional calibration: train on data with errors in it)", ridge)
        params, max_grad, iterations = _fit(bona_z, spoof_z, p_eff, ridge)
    if not max_grad <= GRADIENT_TOLERANCE:
        raise InputError(f"calibration did not converge after {iterations} iterations (largest "
                         f"gradient component {max_grad:.3g} bits per standard deviation, "
                         f"tolerance {GRADIENT_TOLERANCE:g}); no model written. Check the "
                         "scores for extreme outliers or degenerate systems")
    value, _ = weighted_cross_entropy(params, bona_z, spoof_z, p_eff)
    v, c = params[:-1], params[-1]
    weights = v / scale
    offset = c - float(np.sum(v * mean / scale))
    return {
        "type": MODEL_TYPE,
        "num_systems": num_systems,
        "weights": [float(x) for x in weights],
        "offset": float(offset),
        "p_spoof": float(p_spoof), "c_miss": float(c_miss), "c_fa": float(c_fa),
        "p_eff": p_eff,
        "cross_entropy_bits": float(value),
        "converged": True,
        "max_gradient": max_grad,
        "separable": bool(separable),
        "ridge": ridge,
        "num_bonafide": int(bona.shape[0]), "num_spoof": int(spoof.shape[0]),
    }


def apply_calibration(model, scores):
    """Calibrated LLRs ``w · x + b`` for scores of shape (trials,) or (trials, systems)."""
    check_model(model)
    x = _as_matrix(scores, "input")
    if x.shape[1] != model["num_systems"]:
        raise InputError(f"the model fuses {model['num_systems']} system(s) but "
                         f"{x.shape[1]} were given")
    return x @ np.asarray(model["weights"], dtype=np.float64) + float(model["offset"])


def check_model(model, path=None):
    """Raise an :class:`InputError` unless ``model`` is a calibration model of this module."""
    if not isinstance(model, dict) or model.get("type") != MODEL_TYPE:
        raise InputError(f"not a calibration model (expected \"type\": \"{MODEL_TYPE}\")", path)
    weights = model.get("weights")
    if (not isinstance(weights, list) or not weights
            or len(weights) != model.get("num_systems")
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in weights)
            or not isinstance(model.get("offset"), (int, float))
            or not math.isfinite(model["offset"])):
        raise InputError("the calibration model has malformed weights/offset/num_systems", path)
    return model


def load_model(path):
    """Read and check a calibration model written by ``wedefense/bin/calibrate.py train``."""
    try:
        with open(path, encoding="utf-8") as f:
            model = json.load(f)
    except FileNotFoundError:
        raise InputError("calibration model not found", path) from None
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e.msg})", path, e.lineno) from None
    return check_model(model, path)
