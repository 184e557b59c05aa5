"""Score one model bundle on every prepared evaluation set and write one table.

    python -m wedefense.bin.cross_corpus --model exp/x/bundle \\
        --sets egs/detection/in_the_wild/eval_only/data \\
               egs/detection/asvspoof5/v03_resnet18/data/eval \\
        --out table.md --output_json table.json [--bootstrap 1000]

--sets takes data dirs (with wav.scp and utt2lab, as stage 1 writes them) and directories to
search for them. Rows are sets (named by their path below the searched directory), columns
minDCF, EER (%), Cllr and actDCF with seeded percentile bootstrap intervals; the JSON holds the
same numbers (EER as a fraction) and how the intervals were made.
"""

import argparse
import logging
import os

from wedefense.metrics.cross_corpus import (
    find_sets,
    score_sets,
    set_row,
    split_by_label,
    write_table,
)
from wedefense.metrics.detection import DEFAULT_C_FA, DEFAULT_C_MISS, DEFAULT_P_SPOOF
from wedefense.utils.cli import entry_point, setup_logging
from wedefense.utils.errors import InputError

logger = logging.getLogger("wedefense.cross_corpus")


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="bundle directory (wedefense export)")
    parser.add_argument("--sets", nargs="+", required=True,
                        help="data dirs and/or directories to search for them")
    parser.add_argument("--out", required=True, help="Markdown table")
    parser.add_argument("--output_json", default=None, help="also write the table as JSON")
    parser.add_argument("--bootstrap", type=int, default=1000,
                        help="bootstrap resamples per set (0: no intervals; default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--backend", default="pytorch", choices=("pytorch", "torchscript", "onnx"))
    parser.add_argument("--p_spoof", type=float, default=DEFAULT_P_SPOOF)
    parser.add_argument("--c_miss", type=float, default=DEFAULT_C_MISS)
    parser.add_argument("--c_fa", type=float, default=DEFAULT_C_FA)
    return parser


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logging()
    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    from wedefense.inference.detector import Detector

    sets = find_sets(args.sets)
    logger.info("%d set(s): %s", len(sets), ", ".join(name for name, _ in sets))
    detector = Detector.load(args.model, device=args.device, backend=args.backend)
    operating_point = {"p_spoof": args.p_spoof, "c_miss": args.c_miss, "c_fa": args.c_fa}
    rows = []
    for (name, data_dir), scores in zip(sets, score_sets(detector, sets).values()):
        bona, spoof = split_by_label(scores, os.path.join(data_dir, "utt2lab"))
        rows.append(set_row(name, bona, spoof, args.bootstrap, args.seed, args.confidence,
                            **operating_point))
        logger.info("%s: EER %.2f%%, minDCF %.4f", name, 100 * rows[-1]["eer"],
                    rows[-1]["min_dcf"])
    write_table(rows, args.out, args.output_json, model=args.model, confidence=args.confidence,
                operating_point=operating_point, num_resamples=args.bootstrap, seed=args.seed)


if __name__ == "__main__":
    main()
