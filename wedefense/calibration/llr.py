"""Logits of a classifier -> bona fide vs spoof log-likelihood ratios (README.md, "Stage 6")."""

import math

import numpy as np

from wedefense.utils.errors import InputError


def bonafide_class_names(value, path=None):
    """The bona fide class names of a config value as a tuple: a list of names, or one name.

    A YAML ``bonafide_classes: bonafide`` is a string, which ``tuple()`` would split into its
    characters; it is one class. ``None`` (the key absent) means the usual ``("bonafide",)``.
    """
    if value is None:
        return ("bonafide",)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(name, str) for name in value):
        return tuple(value)
    raise InputError("'bonafide_classes' must be a class name or a list of class names, "
                     f"got {value!r}", path)


def bonafide_classes_of(config, path=None):
    """:func:`bonafide_class_names` of a training config's ``bonafide_classes`` (a dict)."""
    return bonafide_class_names(config.get("bonafide_classes"), path)


def removes_training_prior(config, path=None):
    """Whether stage 6 removes the training class prior from the logits of the model that a
    training config (a dict) describes; the one place that decides it (stage 6, validation and a
    bundle's ``LLRModel`` all ask here).

    True for heads trained with softmax cross-entropy (``projection_args.project_type`` linear,
    AM-softmax, AAM-softmax; the default is linear), whose logits are log posteriors. False for
    OC-softmax and P2SGrad: their logits are not log posteriors, so their bona fide minus spoof
    logit difference is kept as it is, a score that calibration must map to an LLR.
    """
    from wedefense.models.projections import logits_are_log_posteriors

    project_type = (config.get("projection_args") or {}).get("project_type", "linear")
    try:
        return logits_are_log_posteriors(project_type)
    except ValueError as e:
        raise InputError(f"projection_args: {e}", path) from None


def _check_classes(classes, class_counts, bonafide_classes):
    """Validate the class description; return the bona fide mask and the two group counts."""
    if len(classes) != len(class_counts):
        raise InputError(f"{len(classes)} classes but {len(class_counts)} class counts")
    if len(set(classes)) != len(classes):
        raise InputError(f"duplicate class names in {list(classes)}")
    for name, count in zip(classes, class_counts):
        try:
            valid = math.isfinite(count) and count > 0
        except TypeError:
            valid = False
        if not valid:
            raise InputError(f"class '{name}' has training count {count}; every class needs a "
                             "positive count to estimate its prior")
    unknown = [name for name in bonafide_classes if name not in classes]
    if unknown:
        raise InputError(f"bona fide class(es) {unknown} not among the classes {list(classes)}")
    is_bona = np.array([name in bonafide_classes for name in classes])
    if is_bona.all():
        raise InputError(f"every class in {list(classes)} is bona fide; no spoof class left")
    counts = np.asarray(class_counts, dtype=np.float64)
    return is_bona, counts[is_bona].sum(), counts[~is_bona].sum()


def logits_to_llr(logits, classes, class_counts, bonafide_classes=("bonafide",),
                  remove_prior=True):
    """``LLR = log p(x|bona fide) - log p(x|spoof)`` for each row of ``logits`` (N, C).

    The logits ``z_c`` are taken as log posteriors up to a per-row constant; Bayes' rule turns
    them into log likelihoods by removing the training prior ``pi_c = N_c / N`` of each class
    (``class_counts`` are the training-set counts, ``classes`` the names in logit order).

    Two classes: ``LLR = (z_bonafide - z_spoof) - ln(N_bonafide / N_spoof)``.

    More classes (several attack classes, speed-perturbed copies, ...) are grouped into the
    ``bonafide_classes`` and the rest. Within a group G the classes are mixed in their training
    proportions ``pi_c / pi_G``, so

        log p(x|G) = logsumexp_{c in G} (z_c - ln pi_c + ln(pi_c / pi_G))
                   = logsumexp_{c in G} z_c - ln pi_G        (+ the same constant for both groups)

    and the LLR is the difference for the two groups, which reduces to the two-class formula when
    each group holds one class. Adding a constant to a row of logits leaves its LLR unchanged.
    The application prior is not applied here: it only moves the decision threshold.

    ``remove_prior=False`` (give it :func:`removes_training_prior` of the training config) is for
    heads whose logits are not log posteriors (OC-softmax, P2SGrad): the prior term is left out
    and the result, the group log-sum-exp difference of the logits, is an uncalibrated score
    that needs calibration (stage 6 calibrates on dev) before it is an LLR.
    """
    if isinstance(bonafide_classes, str):
        # A bare string would be matched by substring; it almost surely means one class.
        bonafide_classes = (bonafide_classes,)
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != len(classes):
        raise InputError(f"expected logits of shape (N, {len(classes)}), got {z.shape}")
    is_bona, n_bona, n_spoof = _check_classes(classes, class_counts, bonafide_classes)
    finite = np.isfinite(z).all(axis=1)
    if not finite.all():
        raise InputError(f"non-finite logits in row {int(np.flatnonzero(~finite)[0])}")
    # ln(pi_bona / pi_spoof) = ln(N_bona / N_spoof): the total N cancels.
    log_prior_ratio = math.log(n_bona / n_spoof) if remove_prior else 0.0
    return ((np.logaddexp.reduce(z[:, is_bona], axis=1)
             - np.logaddexp.reduce(z[:, ~is_bona], axis=1))
            - log_prior_ratio)
