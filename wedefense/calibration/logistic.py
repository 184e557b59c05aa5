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
"""

import json
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


def train_calibration(bonafide_scores, spoof_scores, p_spoof=DEFAULT_P_SPOOF,
                      c_miss=DEFAULT_C_MISS, c_fa=DEFAULT_C_FA):
    """Fit ``llr = w · x + b``. Scores are (trials,) for one system or (trials, systems).

    Returns a JSON-ready dict: ``weights``, ``offset``, the operating point, ``p_eff`` and the
    objective at the optimum (``cross_entropy_bits``; 1 bit = an uninformative system at p_eff).
    """
    p_eff = effective_prior(p_spoof, c_miss, c_fa)
    bona = _as_matrix(bonafide_scores, "bona fide")
    spoof = _as_matrix(spoof_scores, "spoof")
    if bona.shape[1] != spoof.shape[1]:
        raise InputError(f"{bona.shape[1]} systems for bona fide trials but {spoof.shape[1]} "
                         "for spoof trials")
    num_systems = bona.shape[1]
    # Start from the identity (scores already LLRs) scaled down, which keeps BFGS well inside
    # the region where the logistic terms are not saturated.
    start = np.concatenate((np.full(num_systems, 1.0 / num_systems), [0.0]))
    result = minimize(weighted_cross_entropy, start, args=(bona, spoof, p_eff), jac=True,
                      method="BFGS", options={"gtol": 1e-10, "maxiter": 1000})
    if not np.all(np.isfinite(result.x)):
        raise InputError("calibration did not converge (are the classes perfectly separated?)")
    return {
        "type": MODEL_TYPE,
        "num_systems": num_systems,
        "weights": [float(v) for v in result.x[:-1]],
        "offset": float(result.x[-1]),
        "p_spoof": float(p_spoof), "c_miss": float(c_miss), "c_fa": float(c_fa),
        "p_eff": p_eff,
        "cross_entropy_bits": float(result.fun),
        "converged": bool(result.success),
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
