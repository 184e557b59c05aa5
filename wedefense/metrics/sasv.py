"""ASVspoof5 Track 2 (spoofing-aware speaker verification): a-DCF, min t-DCF and t-EER.

Trials are of three kinds (the ``asv-label``): ``target`` (bona fide, claimed speaker),
``nontarget`` (bona fide, another speaker) and ``spoof``. Higher scores mean "accept".

Reference implementation. The three metrics reproduce the ASVspoof5 evaluation package as of one
specific commit: repository ``asvspoof-challenge/asvspoof5``, folder ``evaluation-package/``,
commit ``78680450451bdbc5d3b0002f3fb79193cbca6095`` (``calculate_metrics.py``,
``calculate_modules.py`` and ``a_dcf.py`` there). Other versions of that package's
``calculate_metrics.py`` compute Track 2 differently and give different numbers: one builds the
a-DCF cost model from the t-DCF priors (``Ptar=0.9405, Pnon=0.0095, Pspf=0.05, Cmiss=1,
Cfa_asv=10, Cfa_cm=10``) and passes the organisers' spoof false-alarm rate to ``compute_tDCF``
where this commit passes one minus it; an older one takes the ASV error rates from the submitted
ASV scores at their EER threshold. Before comparing with published Track-2 results, check which
package version produced them.

- a-DCF (Shim et al., Odyssey 2024), the primary Track-2 metric, on one SASV score per trial:
  sort all scores (target, then nontarget, then spoof among ties, stable), reject the first k;
  ``a-DCF(k) = Cmiss*Ptar*Pmiss(k) + Cfa_asv*Pnon*Pfa_non(k) + Cfa_cm*Pspf*Pfa_spf(k)``, divided
  by the cost of the better trivial system, ``min(Cmiss*Ptar, Cfa_asv*Pnon + Cfa_cm*Pspf)``;
  the metric is the minimum over k. Default costs: the ``CostModel`` defaults of ``a_dcf.py`` at
  the commit above, ``Ptar=0.9, Pnon=0.05, Pspf=0.05, Cmiss=1, Cfa_asv=10, Cfa_cm=20``, which is
  what ``calculate_metrics.py`` there uses.
- min t-DCF of the CM scores against a *fixed* ASV system given by its error rates, in the
  ASVspoof 2019 ("legacy") normalised form of Kinnunen et al., "t-DCF: a detection cost function
  for the tandem assessment of spoofing countermeasures and automatic speaker verification",
  Odyssey 2018 (as in the ASVspoof 2019 evaluation plan), which ``compute_tDCF`` of the commit
  above implements. It is not the revised t-DCF of Kinnunen et al., IEEE/ACM TASLP 2020, which
  adds the constant ``C0`` of the ASV errors to the numerator and the normaliser and so gives
  other numbers. By default the organisers' ASV (constants below, copied from
  ``calculate_metrics.py`` at that commit), with ``Pspoof=0.05``, ``Ptar=0.95*0.99``,
  ``Pnon=0.95*0.01``, ``Cmiss_asv=Cmiss_cm=1``, ``Cfa_asv=Cfa_cm=10``:
  ``C1 = Ptar*(Cmiss_cm - Cmiss_asv*Pmiss_asv) - Pnon*Cfa_asv*Pfa_asv``,
  ``C2 = Cfa_cm*Pspoof*Pfa_spoof_asv``, ``t-DCF(k) = (C1*Pmiss_cm(k) + C2*Pfa_cm(k)) / min(C1, C2)``
  over the Track-1 DET points of the CM scores (cm-label), minimised over k.
- t-EER (Kinnunen et al., TPAMI 2023) from the CM and ASV scores of each trial, computed the way
  the ASVspoof5 package does: for each ASV threshold (ASV DET over target, nontarget, spoof) in
  the region ``Pmiss_asv < Pfa_non_asv``, the CM threshold ``k`` minimising
  ``|Pmiss_tdm - Pfa_tdm|`` with ``Pmiss_tdm = Pmiss_cm + (1-Pmiss_cm)*Pmiss_asv`` and
  ``Pfa_tdm = (1-Pmiss_cm)*Pfa_non_asv`` (the package evaluates the spoof prevalence rho = 0 only);
  then the ASV threshold whose point is nearest the concurrent point
  ``Pfa_non_asv/Pfa_spf_asv = Pfa_cm/(1-Pmiss_cm)`` (first one on ties); the t-EER is
  ``Pfa_spf_asv * Pfa_cm`` there. The CM DET here takes target and nontarget trials as bona fide.
  The package loops over thresholds (quadratic); here the monotonicity of ``Pmiss_tdm - Pfa_tdm``
  in ``Pmiss_cm`` gives the minimiser directly, and a brute-force test checks the equivalence.
  Returned as a fraction, like the EER (the package prints a percentage).

Files (ASVspoof5 Track 2, tab-separated with a header): scores ``spk filename cm-score asv-score
sasv-score`` ('-' for a system not submitted), key ``spk filename cm-label asv-label``; trials
are identified by the (spk, filename) pair.
"""

import argparse
import json
import math

import numpy as np

from wedefense.metrics.detection import _check_scores, _det_curve
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

# a-DCF costs: the CostModel defaults of a_dcf.py in the ASVspoof5 evaluation package at commit
# 78680450451bdbc5d3b0002f3fb79193cbca6095 (see the module docstring).
ADCF_COSTS = {"p_target": 0.9, "p_nontarget": 0.05, "p_spoof": 0.05,
              "c_miss": 1.0, "c_fa_asv": 10.0, "c_fa_cm": 20.0}

# t-DCF cost model of calculate_metrics.py in the ASVspoof5 evaluation package at that commit.
_TDCF_P_SPOOF = 0.05
TDCF_COSTS = {"p_spoof": _TDCF_P_SPOOF, "p_target": (1 - _TDCF_P_SPOOF) * 0.99,
              "p_nontarget": (1 - _TDCF_P_SPOOF) * 0.01, "c_miss_asv": 1.0, "c_fa_asv": 10.0,
              "c_miss_cm": 1.0, "c_fa_cm": 10.0}
# Error rates of the organisers' ASV system at its fixed threshold ("from default ASV from
# organizers" in the package): false alarms on nontargets, misses on targets, and false alarms
# on spoofs (so its miss rate on spoofs is one minus the last).
ORGANISERS_ASV = {"pfa_nontarget": 0.01881016557566423, "pmiss_target": 0.01880141010575793,
                  "pfa_spoof": 0.4607082907604729}

ASV_LABELS = ("target", "nontarget", "spoof")
CM_LABELS = ("bonafide", "spoof")
_ALIASES = {"tar_spk_anon": "spk", "trial_anon": "filename"}


def _three_class_curves(target, nontarget, spoof):
    """``(pmiss, pfa_non, pfa_spf)`` at the N+1 points of the stable target/non/spoof sort."""
    scores = np.concatenate((target, nontarget, spoof))
    order = np.argsort(scores, kind="stable")
    kind = np.repeat(np.arange(3, dtype=np.int8), (target.size, nontarget.size, spoof.size))[order]
    def rejected(c):
        return np.concatenate(([0], np.cumsum(kind == c)))
    pmiss = rejected(0) / target.size
    pfa_non = 1 - rejected(1) / nontarget.size
    pfa_spf = 1 - rejected(2) / spoof.size
    return pmiss, pfa_non, pfa_spf


def compute_a_dcf(target_scores, nontarget_scores, spoof_scores, **costs):
    """Minimum normalised a-DCF of SASV scores (defaults: :data:`ADCF_COSTS`)."""
    c = {**ADCF_COSTS, **costs}
    target = _check_scores(target_scores, "target")
    nontarget = _check_scores(nontarget_scores, "nontarget")
    spoof = _check_scores(spoof_scores, "spoof")
    pmiss, pfa_non, pfa_spf = _three_class_curves(target, nontarget, spoof)
    cost = (c["c_miss"] * c["p_target"] * pmiss + c["c_fa_asv"] * c["p_nontarget"] * pfa_non
            + c["c_fa_cm"] * c["p_spoof"] * pfa_spf)
    norm = min(c["c_fa_asv"] * c["p_nontarget"] + c["c_fa_cm"] * c["p_spoof"],
               c["c_miss"] * c["p_target"])
    return float(np.min(cost / norm))


def compute_min_tdcf(bonafide_scores, spoof_scores, asv=None, **costs):
    """Minimum normalised t-DCF of CM scores with a fixed ASV (:data:`ORGANISERS_ASV` default)."""
    c = {**TDCF_COSTS, **costs}
    a = {**ORGANISERS_ASV, **(asv or {})}
    if abs(c["p_target"] + c["p_nontarget"] + c["p_spoof"] - 1) > 1e-10:
        raise InputError("the t-DCF priors must sum to one")
    bona = _check_scores(bonafide_scores, "bona fide")
    spoof = _check_scores(spoof_scores, "spoof")
    c1 = (c["p_target"] * (c["c_miss_cm"] - c["c_miss_asv"] * a["pmiss_target"])
          - c["p_nontarget"] * c["c_fa_asv"] * a["pfa_nontarget"])
    c2 = c["c_fa_cm"] * c["p_spoof"] * a["pfa_spoof"]
    if c1 <= 0 or c2 <= 0:
        raise InputError(f"t-DCF weights C1={c1:g}, C2={c2:g} must be positive; check the ASV "
                         "error rates and costs")
    pmiss, pfa, _ = _det_curve(bona, spoof)
    return float(np.min((c1 * pmiss + c2 * pfa) / min(c1, c2)))


def compute_t_eer(cm_scores, asv_scores, asv_labels):
    """t-EER (fraction) from per-trial CM and ASV scores and ``target|nontarget|spoof`` labels."""
    cm = np.asarray(cm_scores, dtype=np.float64)
    asv = np.asarray(asv_scores, dtype=np.float64)
    labels = np.asarray(asv_labels)
    groups = [labels == name for name in ASV_LABELS]
    for mask, name in zip(groups, ASV_LABELS):
        if not mask.any():
            raise InputError(f"t-EER needs {name} trials; there are none")
    tar, non, spf = (_check_scores(asv[m], f"ASV {n}") for m, n in zip(groups, ASV_LABELS))
    pmiss_asv, pfa_non_asv, pfa_spf_asv = _three_class_curves(tar, non, spf)
    cm_bona = _check_scores(np.concatenate((cm[groups[0]], cm[groups[1]])), "CM bona fide")
    cm_spoof = _check_scores(cm[groups[2]], "CM spoof")
    pmiss_cm, pfa_cm, _ = _det_curve(cm_bona, cm_spoof)
    n_bona = cm_bona.size

    # The first DET index of each Pmiss_cm value j / n_bona (Pmiss_cm is a non-decreasing step).
    first = np.searchsorted(pmiss_cm * n_bona, np.arange(n_bona + 1) - 0.5)
    allowed = np.flatnonzero(pmiss_asv < pfa_non_asv)
    if allowed.size == 0:
        raise InputError("t-EER undefined: the ASV never has Pmiss < Pfa(nontarget)")
    a, f = pmiss_asv[allowed], pfa_non_asv[allowed]
    # Pmiss_tdm - Pfa_tdm = u + (1-u) a - (1-u) f is increasing in u = Pmiss_cm; zero at u*.
    u_star = (f - a) / (1 - a + f)
    base = np.floor(u_star * n_bona).astype(np.int64)
    candidates = np.clip(base[:, None] + np.arange(-2, 4), 0, n_bona)  # ascending j
    u = pmiss_cm[first[candidates]]
    gap = np.abs((u + (1 - u) * a[:, None]) - (1 - u) * f[:, None])
    k = first[candidates[np.arange(allowed.size), np.argmin(gap, axis=1)]]
    with np.errstate(divide="ignore", invalid="ignore"):
        crit = np.abs(pfa_non_asv[allowed] / pfa_spf_asv[allowed] - pfa_cm[k] / (1 - pmiss_cm[k]))
    finite = np.isfinite(crit)
    if not finite.any():
        raise InputError("t-EER undefined: no ASV/CM operating point to compare")
    best = np.flatnonzero(finite)[np.argmin(crit[finite])]
    return float(pfa_spf_asv[allowed[best]] * pfa_cm[k[best]])


# --- Track-2 files -----------------------------------------------------------------------------

def _read_tsv(path, needed):
    """``(rows {(spk, filename): (lineno, {column: value})}, columns)`` of a Track-2 TSV."""
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    rows, header = {}, None
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.split()
            if header is None:
                header = [_ALIASES.get(name, name) for name in fields]
                missing = [name for name in needed if name not in header]
                if missing:
                    raise InputError(f"the header lacks column(s) {', '.join(missing)} "
                                     f"(columns: {' '.join(header)})", path, lineno)
                continue
            if len(fields) != len(header):
                raise InputError(f"expected {len(header)} fields ({' '.join(header)}), got "
                                 f"{len(fields)}", path, lineno)
            row = dict(zip(header, fields))
            trial = (row["spk"], row["filename"])
            if trial in rows:
                raise InputError(f"duplicate trial {trial[0]} {trial[1]}", path, lineno)
            rows[trial] = (lineno, row)
    if not rows:
        raise InputError("no trials in the file", path)
    return rows


def read_sasv(scores_path, key_path):
    """Joined Track-2 trials: ``{"asv_label", "cm_label", "cm", "asv", "sasv"}`` arrays.

    A score column that is '-' on every line is None (that system was not submitted).
    """
    scores = _read_tsv(scores_path, ("spk", "filename", "cm-score", "asv-score", "sasv-score"))
    key = _read_tsv(key_path, ("spk", "filename", "cm-label", "asv-label"))
    for a, a_path, b, b_path in ((scores, scores_path, key, key_path),
                                 (key, key_path, scores, scores_path)):
        stray = [trial for trial in a if trial not in b]
        if stray:
            raise InputError(f"{len(stray)} trial(s) here are missing from {b_path}, the first "
                             f"is '{stray[0][0]} {stray[0][1]}'", a_path, a[stray[0]][0])
    trials = list(key)
    out = {"asv_label": [], "cm_label": []}
    for trial in trials:
        lineno, row = key[trial]
        asv_label, cm_label = row["asv-label"], row["cm-label"]
        if asv_label not in ASV_LABELS:
            raise InputError(f"unknown asv-label '{asv_label}' (expected one of "
                             f"{', '.join(ASV_LABELS)})", key_path, lineno)
        if cm_label not in CM_LABELS:
            raise InputError(f"unknown cm-label '{cm_label}' (expected one of "
                             f"{', '.join(CM_LABELS)})", key_path, lineno)
        if (asv_label == "spoof") != (cm_label == "spoof"):
            raise InputError(f"asv-label '{asv_label}' contradicts cm-label '{cm_label}'",
                             key_path, lineno)
        out["asv_label"].append(asv_label)
        out["cm_label"].append(cm_label)
    for column, name in (("cm-score", "cm"), ("asv-score", "asv"), ("sasv-score", "sasv")):
        raw = [scores[trial][1][column] for trial in trials]
        if all(value == "-" for value in raw):
            out[name] = None
            continue
        values = np.empty(len(raw))
        for i, (trial, value) in enumerate(zip(trials, raw)):
            try:
                values[i] = float(value)
            except ValueError:
                values[i] = math.nan
            if not math.isfinite(values[i]):
                raise InputError(f"bad {column} '{value}' (a finite number is needed, or '-' "
                                 "on every line for a system not submitted)",
                                 scores_path, scores[trial][0])
        out[name] = values
    out["asv_label"] = np.array(out["asv_label"])
    out["cm_label"] = np.array(out["cm_label"])
    return out


def compute_track2(trials):
    """The Track-2 metrics available from the submitted columns (None where not computable)."""
    labels = trials["asv_label"]
    results = {"a_dcf": None, "min_tdcf": None, "t_eer": None,
               "num_target": int(np.sum(labels == "target")),
               "num_nontarget": int(np.sum(labels == "nontarget")),
               "num_spoof": int(np.sum(labels == "spoof"))}
    if trials["sasv"] is not None:
        results["a_dcf"] = compute_a_dcf(*(trials["sasv"][labels == name] for name in ASV_LABELS))
    if trials["cm"] is not None:
        cm, is_bona = trials["cm"], trials["cm_label"] == "bonafide"
        results["min_tdcf"] = compute_min_tdcf(cm[is_bona], cm[~is_bona])
        if trials["asv"] is not None:
            results["t_eer"] = compute_t_eer(cm, trials["asv"], labels)
    return results


def get_parser():
    parser = argparse.ArgumentParser(
        prog="python -m wedefense.metrics.sasv",
        description="ASVspoof5 Track-2 metrics: a-DCF (from sasv-score), min t-DCF with the "
                    "organisers' ASV error rates (from cm-score) and t-EER (cm- and asv-score).")
    parser.add_argument("--scores", required=True,
                        help="TSV with header 'spk filename cm-score asv-score sasv-score'")
    parser.add_argument("--keys", required=True,
                        help="TSV with header 'spk filename cm-label asv-label'")
    parser.add_argument("--output_json", required=True)
    return parser


def main(argv=None):
    from wedefense.utils.cli import entry_point

    @entry_point
    def run(argv):
        args = get_parser().parse_args(argv)
        results = compute_track2(read_sasv(args.scores, args.keys))
        results.update(scores=args.scores, keys=args.keys, adcf_costs=ADCF_COSTS,
                       tdcf_costs=TDCF_COSTS, tdcf_asv=ORGANISERS_ASV)
        for name, label in (("a_dcf", "a-DCF"), ("min_tdcf", "min t-DCF"), ("t_eer", "t-EER")):
            value = results[name]
            shown = "n/a (column not submitted)" if value is None else (
                f"{100 * value:.3f} %" if name == "t_eer" else f"{value:.5f}")
            print(f"{label:<10} {shown}")
        with atomic_open(args.output_json) as f:
            json.dump(results, f, indent=2)
            f.write("\n")

    run(argv)


if __name__ == "__main__":
    main()
