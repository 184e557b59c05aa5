"""Calibrate or fuse LLR scores with prior-weighted logistic regression (Brümmer's recipe).

Train on the dev set, apply to the eval set:

    python -m wedefense.bin.calibrate train --scores exp/a/posteriors/dev/llr.txt [more systems] \\
        --keys data/dev/utt2lab --p_spoof 0.05 --c_miss 1 --c_fa 10 --out exp/a/calib.json
    python -m wedefense.bin.calibrate apply --model exp/a/calib.json \\
        --scores exp/a/posteriors/eval/llr.txt [same systems, same order] \\
        --out exp/a/posteriors/eval/llr_calibrated.txt

One score file is calibration; several are fusion (one weight each, joined by utterance id, in
the order given). Every score file must hold exactly the ids of the key (train) or of the first
score file (apply): a stray or missing id is an error naming the file and line.
"""

import argparse
import json
import logging

import numpy as np

from wedefense.calibration.logistic import apply_calibration, load_model, train_calibration
from wedefense.metrics.detection import DEFAULT_C_FA, DEFAULT_C_MISS, DEFAULT_P_SPOOF
from wedefense.metrics.scores_io import (
    join_scores,
    read_score_column,
    read_trials,
    write_scores,
)
from wedefense.utils.cli import entry_point, setup_logging
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

logger = logging.getLogger("wedefense.calibrate")


def get_parser():
    parser = argparse.ArgumentParser(
        description="Linear calibration (one system) or fusion (several) of LLR scores by "
                    "logistic regression weighted by the effective prior "
                    "p_eff = Pbona*Cmiss / (Pbona*Cmiss + Pspoof*Cfa).")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="fit the calibration/fusion on scored, labelled trials")
    train.add_argument("--scores", nargs="+", required=True,
                       help="score files (header 'filename<TAB>cm-score'), one per system")
    train.add_argument("--keys", required=True,
                       help="key with exactly the scored ids (ASVspoof5 TSV or protocol, or a "
                            "Kaldi utt2lab)")
    train.add_argument("--p_spoof", type=float, default=DEFAULT_P_SPOOF,
                       help="spoof prior of the target application (default: %(default)s)")
    train.add_argument("--c_miss", type=float, default=DEFAULT_C_MISS,
                       help="cost of rejecting a bona fide trial (default: %(default)s)")
    train.add_argument("--c_fa", type=float, default=DEFAULT_C_FA,
                       help="cost of accepting a spoof trial (default: %(default)s)")
    train.add_argument("--out", required=True, help="model to write (JSON)")
    apply = sub.add_parser("apply", help="turn scores into calibrated/fused LLRs")
    apply.add_argument("--model", required=True, help="model written by 'train'")
    apply.add_argument("--scores", nargs="+", required=True,
                       help="score files of the same systems, in the same order as in training")
    apply.add_argument("--out", required=True,
                       help="calibrated score file to write ('filename<TAB>cm-score', in the "
                            "order of the first score file)")
    return parser


def train(args):
    first = read_trials(args.scores[0], args.keys)
    columns = [first.scores]
    for path in args.scores[1:]:
        trials = read_trials(path, args.keys)
        # Same key, so the same order; checked all the same.
        columns.append(trials.scores[join_scores(first.ids, args.keys, trials.ids, args.keys)])
    scores = np.stack(columns, axis=1)
    model = train_calibration(scores[first.is_bona], scores[~first.is_bona],
                              p_spoof=args.p_spoof, c_miss=args.c_miss, c_fa=args.c_fa)
    model["trained_on"] = {"scores": list(args.scores), "keys": args.keys}
    with atomic_open(args.out) as f:
        json.dump(model, f, indent=2)
        f.write("\n")
    logger.info("trained %s on %d trials of %d system(s): weights %s, offset %.6g, "
                "%.4f bits at p_eff=%.4f; wrote %s",
                "calibration" if len(columns) == 1 else "fusion", scores.shape[0], len(columns),
                model["weights"], model["offset"], model["cross_entropy_bits"], model["p_eff"],
                args.out)


def apply(args):
    model = load_model(args.model)
    if len(args.scores) != model["num_systems"]:
        raise InputError(f"the model fuses {model['num_systems']} system(s) but "
                         f"{len(args.scores)} score file(s) were given", args.model)
    ids, first = read_score_column(args.scores[0])
    columns = [first]
    for path in args.scores[1:]:
        other_ids, values = read_score_column(path)
        columns.append(values[join_scores(ids, args.scores[0], other_ids, path)])
    llr = apply_calibration(model, np.stack(columns, axis=1))
    write_scores(args.out, (u.decode("utf-8") for u in ids.tolist()), llr)
    logger.info("wrote %d calibrated scores to %s", llr.size, args.out)


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logging()
    if args.command == "train":
        train(args)
    else:
        apply(args)


if __name__ == "__main__":
    main()
