"""Stage 1 for SpoofCeleb: metadata/{train,development,evaluation}.csv -> data/{train,dev,eval}.

    python -m wedefense.bin.prepare_spoofceleb <corpus_dir> <data_dir>

<corpus_dir> holds spoofceleb/ (or is it): flac/<split>/<attack>/<speaker>/*.flac and
metadata/<split>.csv with the header 'file,speaker,attack' (attack a00 = bona fide). Writes
wav.scp, utt2lab, lab2utt, utt2dur (from headers), utt2spk (VoxCeleb1 ids) and utt2attack
('-' for bona fide, else the attack id) for each set.
"""

from wedefense.dataset import spoofceleb
from wedefense.dataset.prepare import format_summary
from wedefense.utils.cli import data_prep_parser, entry_point


@entry_point
def main(argv=None):
    parser = data_prep_parser(__doc__,
                              {"corpus_dir": "the folder holding spoofceleb/"},
                              "output: data dirs train/, dev/, eval/ go here")
    args = parser.parse_args(argv)
    print(format_summary(spoofceleb.prepare(args.corpus_dir, args.data_dir, args.num_workers)))


if __name__ == "__main__":
    main()
