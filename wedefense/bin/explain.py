"""Relevance maps: what in the audio made a detector lean towards a class.

    python -m wedefense.bin.explain --model exp/ResNet18_demo --wav_scp data/eval/wav.scp \\
        --out_dir exp/ResNet18_demo/explain/eval [--target spoof] [--method gradcam] \\
        [--timestamps data/eval/timestamps] [--utt2attack data/eval/utt2attack]

Writes maps/<utt>.npy, png/<utt>.png, index.tsv and summary.tsv under --out_dir (see
wedefense/explain/explain_files.py) and prints the summary: the share of relevance on spoofed
time (with --timestamps) and on speech (energy VAD), against the share of time they take.
"""

import argparse

from wedefense.explain.explain_files import explain_files, limit_threads
from wedefense.explain.relevance import METHODS, TARGETS
from wedefense.explain.relevance_summary import format_table
from wedefense.utils.cli import entry_point, setup_logging


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model bundle or an exp dir")
    parser.add_argument("--checkpoint", help="with an exp dir: the weights (default "
                        "models/avg_model.pt, else models/best_model.pt)")
    parser.add_argument("--wav_scp", required=True, help="'<utt> <audio path>' lines")
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--target", choices=TARGETS, default="spoof",
                        help="the class whose evidence to map (default: spoof)")
    parser.add_argument("--method", choices=METHODS, default="gradcam",
                        help="gradcam (CNN: time x frequency; SSL: frames) or occlusion "
                             "(any model, over time, no gradients)")
    parser.add_argument("--timestamps", help="spoofed ranges to mark and to measure relevance "
                        "on: data/<set>/timestamps, or PartialSpoof's <set>_seglab_<r>.npy")
    parser.add_argument("--utt2attack", help="'<utt> <attack>' lines: the summary per attack")
    parser.add_argument("--no_png", action="store_true", help="maps and tables only")
    return parser.parse_args(argv)


@entry_point
def main(argv=None):
    args = get_args(argv)
    setup_logging()
    limit_threads()
    table = explain_files(args.model, args.wav_scp, args.out_dir, args.target, args.method,
                          args.timestamps, args.utt2attack, not args.no_png, args.checkpoint)
    print(format_table(table))


if __name__ == "__main__":
    main()
