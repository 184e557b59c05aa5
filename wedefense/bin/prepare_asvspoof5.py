"""Stage 1 for ASVspoof 5 (Track 1): protocols -> data/{train,dev,eval}.

    python -m wedefense.bin.prepare_asvspoof5 <corpus_dir> <data_dir> [--protocol_dir DIR]

<corpus_dir> holds flac_T/, flac_D/, flac_E_eval/ and the protocols ASVspoof5.train.tsv,
ASVspoof5.dev.track_1.tsv, ASVspoof5.eval.track_1.tsv (directly or in ASVspoof5_protocols/).
Writes wav.scp, utt2lab, lab2utt, utt2dur (from headers), utt2spk, utt2attack (A01-A32, '-' for
bona fide), utt2codec, utt2codec_q and protocol.tsv (the set's protocol, verbatim) for each set.
"""

from wedefense.dataset import asvspoof5
from wedefense.dataset.prepare import format_summary
from wedefense.utils.cli import data_prep_parser, entry_point


@entry_point
def main(argv=None):
    parser = data_prep_parser(__doc__,
                              {"corpus_dir": "the folder holding flac_T/, flac_D/, flac_E_eval/"},
                              "output: data dirs train/, dev/, eval/ go here")
    parser.add_argument("--protocol_dir", default=None,
                        help="folder holding the ASVspoof5.*.tsv protocols (default: "
                             "<corpus_dir> or <corpus_dir>/ASVspoof5_protocols)")
    args = parser.parse_args(argv)
    print(format_summary(asvspoof5.prepare(args.corpus_dir, args.data_dir, args.num_workers,
                                           protocol_dir=args.protocol_dir)))


if __name__ == "__main__":
    main()
