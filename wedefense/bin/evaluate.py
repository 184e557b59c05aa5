"""Stage 7: score LLRs against the key with the ASVspoof5 Track-1 metrics.

    python wedefense/bin/evaluate.py --scores posteriors/eval/llr.txt --keys data/eval/utt2lab \\
        --output_json results_eval.json --output_txt results_eval.txt \\
        [--attacks data/eval/utt2attack]
"""

import argparse
import json
import logging
import re

import numpy as np

from wedefense.dataset.tables import read_table
from wedefense.metrics.detection import (
    DEFAULT_C_FA,
    DEFAULT_C_MISS,
    DEFAULT_P_SPOOF,
    bayes_threshold,
    compute_metrics,
)
from wedefense.metrics.scores_io import (
    check_same_ids,
    find_line,
    read_key,
    read_scores,
    split_by_label,
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


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logging()
    operating_point = {"p_spoof": float(args.p_spoof), "c_miss": float(args.c_miss),
                       "c_fa": float(args.c_fa)}
    operating_point["threshold"] = bayes_threshold(**operating_point)

    scores = read_scores(args.scores)
    key = read_key(args.keys)
    check_same_ids(scores, args.scores, key, args.keys)
    bona, spoof = split_by_label(scores, key, args.keys)
    cost = {name: operating_point[name] for name in ("p_spoof", "c_miss", "c_fa")}
    rows = {POOLED: compute_metrics(bona, spoof, **cost)}
    if args.attacks:
        for attack, attack_spoof in spoof_scores_by_attack(scores, key, args.keys,
                                                           args.attacks).items():
            rows[attack] = compute_metrics(bona, attack_spoof, **cost)

    results = dict(rows[POOLED])
    results["operating_point"] = operating_point
    results["scores"] = args.scores
    results["keys"] = args.keys
    if args.attacks:
        results["per_attack"] = rows
    table = format_table(rows, operating_point, args.scores, args.keys)
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
