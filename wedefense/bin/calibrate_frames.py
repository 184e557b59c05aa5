"""Stage 6 (localization): calibrate frame LLRs by prior-weighted logistic regression, trained
on the dev frames against their labels, applied to any set's frames.

    python -m wedefense.bin.calibrate_frames train --scores exp/x/posteriors/dev/frame_llr.txt \\
        --labels data/dev/timestamps --out exp/x/frame_calibration.json
    python -m wedefense.bin.calibrate_frames apply --model exp/x/frame_calibration.json \\
        --scores exp/x/posteriors/eval/frame_llr.txt \\
        --out exp/x/posteriors/eval/frame_llr_calibrated.txt

Each frame at the model's resolution is one trial (the model of ``calibrate.py``, same JSON).
Why frames and not coarser segments: wedefense/inference/localization_outputs.py.
"""

import argparse
import json
import logging

import numpy as np

from wedefense.calibration.logistic import apply_calibration, load_model, train_calibration
from wedefense.dataset.timestamps import read_timestamps
from wedefense.inference import localization_outputs as loc
from wedefense.metrics.detection import DEFAULT_C_FA, DEFAULT_C_MISS, DEFAULT_P_SPOOF
from wedefense.metrics.frame_scores import read_frame_scores, write_frame_scores
from wedefense.utils.cli import entry_point, setup_logging
from wedefense.utils.fileio import atomic_open

logger = logging.getLogger("wedefense.calibrate_frames")


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="fit on labelled dev frames")
    train.add_argument("--scores", required=True, help="frame_llr.txt of the dev set")
    train.add_argument("--labels", required=True, help="the dev set's timestamp table")
    train.add_argument("--p_spoof", type=float, default=DEFAULT_P_SPOOF)
    train.add_argument("--c_miss", type=float, default=DEFAULT_C_MISS)
    train.add_argument("--c_fa", type=float, default=DEFAULT_C_FA)
    train.add_argument("--out", required=True, help="model to write (JSON)")
    apply = sub.add_parser("apply", help="calibrate a frame_llr.txt")
    apply.add_argument("--model", required=True, help="model written by 'train'")
    apply.add_argument("--scores", required=True, help="frame_llr.txt to calibrate")
    apply.add_argument("--out", required=True, help="calibrated frame_llr.txt to write")
    return parser


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logging()
    frames = read_frame_scores(args.scores)
    if args.command == "train":
        flags = loc.frame_labels(frames, read_timestamps(args.labels), args.labels)
        llrs = frames.llr
        spoof = np.concatenate([flags[u] for u in frames.utts])
        model = train_calibration(llrs[~spoof], llrs[spoof], p_spoof=args.p_spoof,
                                  c_miss=args.c_miss, c_fa=args.c_fa)
        model["trained_on"] = {"scores": args.scores, "labels": args.labels, "unit": "frame"}
        with atomic_open(args.out) as f:
            json.dump(model, f, indent=2)
            f.write("\n")
        logger.info("trained frame calibration on %d frames: weight %.6g, offset %.6g; wrote %s",
                    llrs.size, model["weights"][0], model["offset"], args.out)
        return
    model = load_model(args.model)
    write_frame_scores(args.out, ((utt, starts, ends, apply_calibration(model, llr))
                                  for utt, starts, ends, llr in frames.items()))
    logger.info("wrote calibrated frame LLRs of %d utterances to %s", len(frames.utts),
                args.out)


if __name__ == "__main__":
    main()
