"""Stage 1 for ASVspoof 2021 LA or DF (evaluation only): trial_metadata.txt -> data/eval.

    python -m wedefense.bin.prepare_asvspoof2021 <corpus_dir> <data_dir> --track LA|DF \\
        [--keys trial_metadata.txt] [--subsets eval,progress,hidden|all]

<corpus_dir> holds ASVspoof2021_<track>_eval/flac/ (DF: also the ASVspoof2021_DF_eval_part0N/
folders) and the full keys unpacked there (keys/<track>/CM/trial_metadata.txt). Writes
data/eval/{wav.scp, utt2lab, lab2utt, utt2dur, utt2spk, utt2attack} and data/eval/metadata, a
header table of the meta-labels (LA: codec transmission attack trim subset; DF: codec source
attack vocoder trim subset) that stage 7 breaks results down by.
"""

import argparse

from wedefense.dataset import asvspoof2021
from wedefense.dataset.prepare import format_summary
from wedefense.utils.cli import data_prep_parser, entry_point


def subsets_arg(value):
    if value == "all":
        return None
    names = tuple(v for v in value.split(",") if v)
    unknown = [n for n in names if n not in asvspoof2021.SUBSETS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected 'all' or a comma-separated list of {', '.join(asvspoof2021.SUBSETS)}, "
            f"got '{value}'")
    return names


@entry_point
def main(argv=None):
    parser = data_prep_parser(__doc__,
                              {"corpus_dir": "the folder holding ASVspoof2021_<track>_eval/"},
                              "output: the data dir eval/ goes here")
    parser.add_argument("--track", required=True, choices=asvspoof2021.TRACKS)
    parser.add_argument("--keys", default=None,
                        help="the track's CM trial_metadata.txt (default: looked up in "
                             "<corpus_dir>/keys/<track>/CM/ and <corpus_dir>/<track>-keys-full/)")
    parser.add_argument("--subsets", type=subsets_arg, default=asvspoof2021.DEFAULT_SUBSETS,
                        help="trials to keep: comma-separated subsets of the keys or 'all' "
                             "(default: eval, the subset published results use)")
    args = parser.parse_args(argv)
    print(format_summary(asvspoof2021.prepare(args.corpus_dir, args.data_dir, args.track,
                                              args.num_workers, keys=args.keys,
                                              subsets=args.subsets)))


if __name__ == "__main__":
    main()
