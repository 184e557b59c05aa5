"""Stage 1 for ASVspoof 2019 LA: CM protocols -> data/{train,dev,eval}.

    python -m wedefense.bin.prepare_asvspoof2019 <corpus_dir> <data_dir>

<corpus_dir> holds LA/ (or is LA/ itself): LA/ASVspoof2019_LA_{train,dev,eval}/flac/*.flac and
LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt. Writes
wav.scp, utt2lab, lab2utt, utt2dur (from headers), utt2spk and utt2attack (A01-A19, '-' for
bona fide) for each set.
"""

from wedefense.dataset import asvspoof2019
from wedefense.dataset.prepare import format_summary
from wedefense.utils.cli import data_prep_parser, entry_point


@entry_point
def main(argv=None):
    parser = data_prep_parser(__doc__,
                              {"corpus_dir": "the folder holding LA/"},
                              "output: data dirs train/, dev/, eval/ go here")
    args = parser.parse_args(argv)
    print(format_summary(asvspoof2019.prepare(args.corpus_dir, args.data_dir,
                                              args.num_workers)))


if __name__ == "__main__":
    main()
