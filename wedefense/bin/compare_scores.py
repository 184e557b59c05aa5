"""Score several systems' score files against one key and write them side by side.

    python -m wedefense.bin.compare_scores --keys data/eval/utt2lab \\
        --scores resnet=exp/a/posteriors/eval/llr.txt rawnet2=exp/b/posteriors/eval/llr.txt \\
                 fusion=exp/fusion/posteriors/eval/llr.txt \\
        --out results_eval.md --output_json results_eval.json [--bootstrap 1000]

Each --scores is NAME=FILE (the ASVspoof5 layout with a header, or '<utt> <score>' lines); every
file must score exactly the key's utterances. One row per system: minDCF, EER (%), Cllr and
actDCF with seeded percentile bootstrap intervals (the same table as wedefense.bin.cross_corpus,
whose rows are sets). The fusion recipes (egs/detection/*/fusion) write their table with it.
"""

import argparse

from wedefense.metrics.cross_corpus import set_row, split_by_label, write_table
from wedefense.metrics.detection import DEFAULT_C_FA, DEFAULT_C_MISS, DEFAULT_P_SPOOF
from wedefense.metrics.scores_io import read_scores
from wedefense.utils.cli import entry_point
from wedefense.utils.errors import InputError


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", required=True, help="utt2lab of the scored set")
    parser.add_argument("--scores", nargs="+", required=True, metavar="NAME=FILE")
    parser.add_argument("--out", required=True, help="Markdown table")
    parser.add_argument("--output_json", default=None, help="also write the table as JSON")
    parser.add_argument("--bootstrap", type=int, default=1000,
                        help="bootstrap resamples per system (0: no intervals)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--p_spoof", type=float, default=DEFAULT_P_SPOOF)
    parser.add_argument("--c_miss", type=float, default=DEFAULT_C_MISS)
    parser.add_argument("--c_fa", type=float, default=DEFAULT_C_FA)
    return parser


def parse_named(items):
    named = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--scores takes NAME=FILE, got {item!r}")
        if name in dict(named):
            raise InputError(f"two score files are named {name!r}")
        named.append((name, path))
    return named


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    operating_point = {"p_spoof": args.p_spoof, "c_miss": args.c_miss, "c_fa": args.c_fa}
    rows = []
    for name, path in parse_named(args.scores):
        bona, spoof = split_by_label(read_scores(path), args.keys)
        row = set_row(name, bona, spoof, args.bootstrap, args.seed, args.confidence,
                      **operating_point)
        rows.append({"system": row.pop("set"), "scores": path, **row})
    write_table(rows, args.out, args.output_json, confidence=args.confidence,
                operating_point=operating_point, num_resamples=args.bootstrap, seed=args.seed,
                first_column="system")


if __name__ == "__main__":
    main()
