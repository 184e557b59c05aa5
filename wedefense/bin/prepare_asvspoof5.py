"""Stage 1 for ASVspoof 5 (Track 1): protocols -> data/{train,dev,eval}.

    python -m wedefense.bin.prepare_asvspoof5 <corpus_dir> <data_dir> [--protocol_dir DIR]

<corpus_dir> holds flac_T/, flac_D/, flac_E_eval/ and the protocols ASVspoof5.train.tsv,
ASVspoof5.dev.track_1.tsv, ASVspoof5.eval.track_1.tsv (directly or in ASVspoof5_protocols/).
Writes wav.scp, utt2lab, lab2utt, utt2dur (from headers), utt2spk, utt2attack (A01-A32, '-' for
bona fide), utt2codec, utt2codec_q and protocol.tsv (the set's protocol, verbatim) for each set.
"""

import argparse

from wedefense.dataset import asvspoof5
from wedefense.dataset.prepare import format_summary
from wedefense.utils.cli import entry_point


@entry_point
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus_dir", help="the folder holding flac_T/, flac_D/, flac_E_eval/")
    parser.add_argument("data_dir", help="output: data dirs train/, dev/, eval/ go here")
    parser.add_argument("--protocol_dir", default=None,
                        help="folder holding the ASVspoof5.*.tsv protocols (default: "
                             "<corpus_dir> or <corpus_dir>/ASVspoof5_protocols)")
    parser.add_argument("--num_workers", type=int, default=8,
                        help="threads reading audio headers (default: %(default)s)")
    args = parser.parse_args(argv)
    print(format_summary(asvspoof5.prepare(args.corpus_dir, args.data_dir, args.num_workers,
                                           protocol_dir=args.protocol_dir)))


if __name__ == "__main__":
    main()
