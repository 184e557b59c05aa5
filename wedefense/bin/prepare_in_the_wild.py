"""Stage 1 for In-the-Wild (evaluation only): meta.csv -> data/eval.

    python -m wedefense.bin.prepare_in_the_wild <corpus_dir> <data_dir>

<corpus_dir> holds release_in_the_wild/ (or is it): <n>.wav files and meta.csv with the header
'file,speaker,label' (label bona-fide or spoof). Writes data/eval/{wav.scp, utt2lab, lab2utt,
utt2dur, utt2spk, utt2attack}; utt2attack is '-' for bona fide and 'unknown' for spoofs, as the
corpus names no attack systems.
"""

from wedefense.dataset import in_the_wild
from wedefense.dataset.prepare import format_summary
from wedefense.utils.cli import data_prep_parser, entry_point


@entry_point
def main(argv=None):
    parser = data_prep_parser(__doc__,
                              {"corpus_dir": "the folder holding release_in_the_wild/"},
                              "output: the data dir eval/ goes here")
    args = parser.parse_args(argv)
    print(format_summary(in_the_wild.prepare(args.corpus_dir, args.data_dir, args.num_workers)))


if __name__ == "__main__":
    main()
