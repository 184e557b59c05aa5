"""Stage 6 (localization): merge frames whose LLR is below a threshold into spoofed ranges,
written as a timestamp table and RTTM.

    python -m wedefense.bin.frame_llr_to_ranges \\
        --scores exp/x/posteriors/eval/frame_llr_calibrated.txt \\
        --timestamps exp/x/posteriors/eval/spoofed_timestamps \\
        --rttm exp/x/posteriors/eval/spoofed.rttm

The default threshold is the Bayes threshold ``-ln(beta)`` of the detection operating point
(Pspoof 0.05, Cmiss 1, Cfa 10: -0.642), meaningful for calibrated LLRs.
"""

import argparse

from wedefense.inference.spoofed_ranges import write_spoofed_ranges
from wedefense.metrics.detection import bayes_threshold
from wedefense.metrics.frame_scores import read_frame_scores
from wedefense.utils.cli import entry_point


@entry_point
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", required=True, help="frame_llr.txt")
    parser.add_argument("--timestamps", required=True, help="timestamp table to write")
    parser.add_argument("--rttm", required=True, help="RTTM to write")
    parser.add_argument("--threshold", type=float, default=bayes_threshold(),
                        help="frames with an LLR below it are spoof (default: %(default).4f)")
    args = parser.parse_args(argv)
    frames = read_frame_scores(args.scores)
    write_spoofed_ranges(frames, args.threshold, args.timestamps, args.rttm)
    print(f"wrote spoofed ranges of {len(frames.utts)} utterances to {args.timestamps} and "
          f"{args.rttm}")


if __name__ == "__main__":
    main()
