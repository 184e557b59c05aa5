"""Stage 7: score LLRs against the key with the ASVspoof5 Track-1 metrics.

    python -m wedefense.bin.evaluate --scores posteriors/eval/llr.txt --keys data/eval/utt2lab \\
        --output_json results_eval.json --output_txt results_eval.txt \\
        [--attacks data/eval/utt2attack] [--metadata ASVspoof5.eval.track_1.tsv] \\
        [--bootstrap 1000] [--plot_dir plots/]

minDCF, EER, Cllr and actDCF reproduce the official ASVspoof5 package. Reported beside them,
under "beyond_official": minCllr (PAV), the calibration loss Cllr - minCllr and the ROCCH-EER.
"""

import argparse
import json
import logging
import os
import re

import numpy as np

from wedefense.dataset.tables import read_table
from wedefense.metrics.bootstrap import bootstrap_intervals
from wedefense.metrics.breakdown import breakdown, default_columns, read_metadata
from wedefense.metrics.detection import (
    DEFAULT_C_FA,
    DEFAULT_C_MISS,
    DEFAULT_P_SPOOF,
    bayes_threshold,
    compute_metrics,
    det_curve,
)
from wedefense.metrics.rocch import beyond_official_metrics
from wedefense.metrics.scores_io import (
    check_same_ids,
    find_line,
    read_trials,
)
from wedefense.utils.cli import entry_point, setup_logging
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

logger = logging.getLogger("wedefense.evaluate")

POOLED = "pooled"
# Attack ids a bona fide utterance may carry in an utt2attack table.
BONAFIDE_ATTACKS = ("-", "bonafide")


def get_parser():
    parser = argparse.ArgumentParser(
        description="Compute minDCF, EER, Cllr and actDCF of LLR scores against a key, with the "
                    "definitions of the official ASVspoof5 (Track 1) evaluation package. Prints a "
                    "table and writes the numbers as JSON (EER as a fraction there).")
    parser.add_argument("--scores", required=True,
                        help="score file: header 'filename<TAB>cm-score' then '<utt><TAB><llr>' "
                             "lines (stage 6 llr.txt); higher means more bona fide")
    parser.add_argument("--keys", required=True,
                        help="key: a tab-separated file whose header has 'filename' and "
                             "'cm-label' columns (ASVspoof5 style), or a Kaldi utt2lab "
                             "'<utt> bonafide|spoof'; it must hold exactly the scored ids")
    parser.add_argument("--output_json", required=True, help="results for machines")
    parser.add_argument("--output_txt", help="also write the printed table to this file")
    parser.add_argument("--attacks",
                        help="Kaldi table '<utt> <attack id>' ('-' for bona fide); adds a row "
                             "per attack: that attack's spoofs against all bona fide trials")
    parser.add_argument("--p_spoof", type=float, default=DEFAULT_P_SPOOF,
                        help="prior of spoof trials at the operating point (default: %(default)s)")
    parser.add_argument("--c_miss", type=float, default=DEFAULT_C_MISS,
                        help="cost of rejecting a bona fide trial (default: %(default)s)")
    parser.add_argument("--c_fa", type=float, default=DEFAULT_C_FA,
                        help="cost of accepting a spoof trial (default: %(default)s)")
    parser.add_argument("--metadata",
                        help="metadata for per-attack / per-condition tables: an ASVspoof5 "
                             "Track-1 protocol, a table with a header 'utt <column> ...', or a "
                             "Kaldi '<utt> <value>' table (see wedefense.metrics.breakdown)")
    parser.add_argument("--breakdown",
                        help="comma-separated metadata columns to break down by (default: "
                             "attack,codec for an ASVspoof5 protocol, else every column)")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="add percentile confidence intervals from N bootstrap resamples "
                             "(utterance level, stratified by class); 0 = off (default)")
    parser.add_argument("--bootstrap_seed", type=int, default=0,
                        help="seed of the resampling (default: %(default)s)")
    parser.add_argument("--confidence", type=float, default=0.95,
                        help="confidence level of the intervals (default: %(default)s)")
    parser.add_argument("--det_curve",
                        help="write the DET curve as data: a TSV 'threshold<TAB>pmiss<TAB>pfa' "
                             "with the N+1 official DET points (threshold: the largest rejected "
                             "score, -inf for the first point)")
    parser.add_argument("--plot_dir",
                        help="write det.png and hist.png here (needs matplotlib; skipped with a "
                             "warning when it is missing)")
    return parser


def _natural_key(name):
    """Sort A2 before A10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def spoof_scores_by_attack(scores, key, key_path, attacks_path):
    """``{attack: spoof scores}`` in natural attack order, checked against the key."""
    attacks = read_table(attacks_path)
    check_same_ids(attacks, attacks_path, key, key_path)
    by_attack = {}
    for utt, label in key.items():
        attack = attacks[utt]
        if (label == "bonafide") != (attack in BONAFIDE_ATTACKS):
            raise InputError(f"attack '{attack}' for '{utt}' contradicts its key label "
                             f"'{label}' (bona fide trials take '-')",
                             attacks_path, find_line(attacks_path, utt))
        if attack == POOLED:
            raise InputError(f"attack id '{POOLED}' is reserved for the pooled row",
                             attacks_path, find_line(attacks_path, utt))
        if label == "spoof":
            by_attack.setdefault(attack, []).append(scores[utt])
    return {attack: np.array(by_attack[attack], dtype=np.float64)
            for attack in sorted(by_attack, key=_natural_key)}


def format_table(rows, operating_point, scores_path, keys_path):
    """The human-readable report: one line per row of metrics."""
    width = max(len("attack"), *(len(name) for name in rows))
    lines = [
        f"scores: {scores_path}",
        f"key:    {keys_path}",
        f"operating point: Pspoof={operating_point['p_spoof']:g} "
        f"Cmiss={operating_point['c_miss']:g} Cfa={operating_point['c_fa']:g} "
        f"(actDCF threshold {operating_point['threshold']:.6f})",
        "",
        f"{'attack':<{width}}  {'minDCF':>8}  {'EER(%)':>8}  {'Cllr':>8}  {'actDCF':>8}  "
        f"{'#bonafide':>9}  {'#spoof':>9}",
    ]
    for name, m in rows.items():
        lines.append(f"{name:<{width}}  {m['min_dcf']:8.4f}  {100 * m['eer']:8.3f}  "
                     f"{m['cllr']:8.4f}  {m['act_dcf']:8.4f}  "
                     f"{m['num_bonafide']:9d}  {m['num_spoof']:9d}")
    return "\n".join(lines) + "\n"


def format_extras(results):
    """Lines for the metrics beyond the official package and the confidence intervals."""
    beyond = results["beyond_official"]
    lines = ["", "beyond the official package: "
             f"minCllr {beyond['min_cllr']:.4f}  calibration loss (Cllr - minCllr) "
             f"{beyond['calibration_loss']:.4f}  ROCCH-EER(%) {100 * beyond['rocch_eer']:.3f}"]
    if "bootstrap" in results:
        boot = results["bootstrap"]
        lines.append(f"{100 * boot['confidence']:g}% bootstrap intervals "
                     f"({boot['num_resamples']} resamples, seed {boot['seed']}):")
        for name, label, scale in (("min_dcf", "minDCF", 1), ("eer", "EER(%)", 100),
                                   ("cllr", "Cllr", 1), ("act_dcf", "actDCF", 1)):
            low, high = boot["intervals"][name]
            lines.append(f"  {label:<7} [{scale * low:.4f}, {scale * high:.4f}]")
    return "\n".join(lines) + "\n"


def format_breakdown(column, rows):
    width = max(len(column), *(len(name) for name in rows))
    lines = ["", f"{column:<{width}}  {'minDCF':>8}  {'EER(%)':>8}  {'Cllr':>8}  {'actDCF':>8}  "
                 f"{'#bonafide':>9}  {'#spoof':>9}"]
    for name, m in rows.items():
        if "eer" in m:
            lines.append(f"{name:<{width}}  {m['min_dcf']:8.4f}  {100 * m['eer']:8.3f}  "
                         f"{m['cllr']:8.4f}  {m['act_dcf']:8.4f}  "
                         f"{m['num_bonafide']:9d}  {m['num_spoof']:9d}")
        else:
            lines.append(f"{name:<{width}}  {'n/a (one class only)':>44}  "
                         f"{m['num_bonafide']:9d}  {m['num_spoof']:9d}")
    return "\n".join(lines) + "\n"


def write_det_curve(path, bona, spoof):
    pmiss, pfa, thresholds = det_curve(bona, spoof)
    with atomic_open(path) as f:
        f.write("threshold\tpmiss\tpfa\n")
        for start in range(0, pmiss.size, 100_000):
            part = slice(start, start + 100_000)
            f.write("".join(f"{t!r}\t{m!r}\t{a!r}\n" for t, m, a in zip(
                thresholds[part].tolist(), pmiss[part].tolist(), pfa[part].tolist())))


def write_plots(plot_dir, bona, spoof, cost, title):
    from wedefense.metrics import plots
    if not plots.have_matplotlib():
        logger.warning("matplotlib is not installed: no plots (pip install matplotlib, or "
                       "wedefense[plot])")
        return []
    os.makedirs(plot_dir, exist_ok=True)
    det, hist = os.path.join(plot_dir, "det.png"), os.path.join(plot_dir, "hist.png")
    plots.plot_det([(title, bona, spoof)], det, **cost)
    plots.plot_histograms(bona, spoof, hist, title=title, **cost)
    return [det, hist]


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logging()
    operating_point = {"p_spoof": float(args.p_spoof), "c_miss": float(args.c_miss),
                       "c_fa": float(args.c_fa)}
    operating_point["threshold"] = bayes_threshold(**operating_point)
    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {args.bootstrap}")

    trials = read_trials(args.scores, args.keys)
    bona, spoof = trials.bona, trials.spoof
    cost = {name: operating_point[name] for name in ("p_spoof", "c_miss", "c_fa")}
    rows = {POOLED: compute_metrics(bona, spoof, **cost)}
    utts = None
    if args.attacks:
        utts = trials.utts()
        scores = dict(zip(utts, trials.scores.tolist()))
        key = dict(zip(utts, np.where(trials.is_bona, "bonafide", "spoof").tolist()))
        by_attack = spoof_scores_by_attack(scores, key, args.keys, args.attacks)
        if len(by_attack) > 1:  # one attack's row would repeat the pooled one
            for attack, attack_spoof in by_attack.items():
                rows[attack] = compute_metrics(bona, attack_spoof, **cost)

    results = dict(rows[POOLED])
    results["operating_point"] = operating_point
    results["scores"] = args.scores
    results["keys"] = args.keys
    if args.attacks:
        results["per_attack"] = rows
    results["beyond_official"] = beyond_official_metrics(bona, spoof, cllr=results["cllr"])
    if args.bootstrap:
        results["bootstrap"] = bootstrap_intervals(
            bona, spoof, num_resamples=args.bootstrap, seed=args.bootstrap_seed,
            confidence=args.confidence, **cost)
    table = format_table(rows, operating_point, args.scores, args.keys)
    table += format_extras(results)
    if args.metadata:
        columns, metadata = read_metadata(args.metadata)
        wanted = args.breakdown.split(",") if args.breakdown else default_columns(columns)
        unknown = [c for c in wanted if c not in columns]
        if unknown:
            raise InputError(f"no column(s) {', '.join(unknown)} in the metadata (columns: "
                             f"{', '.join(columns)})", args.metadata)
        utts = utts or trials.utts()
        results["breakdowns"] = {}
        for column in wanted:
            column_rows = breakdown(utts, trials.scores, trials.is_bona, metadata, column,
                                    args.metadata, **cost)
            results["breakdowns"][column] = column_rows
            table += format_breakdown(column, column_rows)
    if args.det_curve:
        write_det_curve(args.det_curve, bona, spoof)
        results["det_curve"] = args.det_curve
    if args.plot_dir:
        results["plots"] = write_plots(args.plot_dir, bona, spoof, cost,
                                       os.path.basename(args.scores))
    print(table, end="")
    with atomic_open(args.output_json) as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    if args.output_txt:
        with atomic_open(args.output_txt) as f:
            f.write(table)
    logger.info("wrote %s", args.output_json)


if __name__ == "__main__":
    main()
