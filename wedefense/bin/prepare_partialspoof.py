"""Stage 1 for PartialSpoof-layout corpora: protocols -> data/{train,dev,eval}.

    python -m wedefense.bin.prepare_partialspoof <corpus_dir> <data_dir>

<corpus_dir> holds database/{train,dev,eval}/con_wav and database/protocols/. Writes wav.scp,
utt2lab, lab2utt, utt2dur (from headers), utt2spk and utt2attack for each set.
"""

from wedefense.dataset import partialspoof
from wedefense.dataset.prepare import format_summary
from wedefense.utils.cli import data_prep_parser, entry_point


@entry_point
def main(argv=None):
    parser = data_prep_parser(__doc__,
                              {"corpus_dir": "the folder holding database/"},
                              "output: data dirs train/, dev/, eval/ go here")
    args = parser.parse_args(argv)
    print(format_summary(partialspoof.prepare(args.corpus_dir, args.data_dir,
                                              args.num_workers)))


if __name__ == "__main__":
    main()
