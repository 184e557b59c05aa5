"""Stage 1 for In-the-Wild (evaluation only): meta.csv -> data/eval.

    python -m wedefense.bin.prepare_in_the_wild <corpus_dir> <data_dir>

<corpus_dir> holds release_in_the_wild/ (or is it): <n>.wav files and meta.csv with the header
'file,speaker,label' (label bona-fide or spoof). Writes data/eval/{wav.scp, utt2lab, lab2utt,
utt2dur, utt2spk, utt2attack}; utt2attack is '-' for bona fide and 'unknown' for spoofs, as the
corpus names no attack systems.
"""

import argparse

from wedefense.dataset import in_the_wild
from wedefense.dataset.prepare import format_summary
from wedefense.utils.cli import entry_point


@entry_point
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus_dir", help="the folder holding release_in_the_wild/")
    parser.add_argument("data_dir", help="output: the data dir eval/ goes here")
    parser.add_argument("--num_workers", type=int, default=8,
                        help="threads reading audio headers (default: %(default)s)")
    args = parser.parse_args(argv)
    print(format_summary(in_the_wild.prepare(args.corpus_dir, args.data_dir, args.num_workers)))


if __name__ == "__main__":
    main()
