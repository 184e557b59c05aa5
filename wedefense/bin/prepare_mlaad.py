"""Stage 1 for MLAAD with M-AILABS as bona fide: folders -> data/{train,dev,eval}.

    python -m wedefense.bin.prepare_mlaad <mlaad_dir> <mailabs_dir> <data_dir>

<mlaad_dir> holds fake/<language>/<tts model>/*.wav; <mailabs_dir> holds the M-AILABS locales
(de_DE/, en_US/, ...), each with by_book/<gender>/<speaker>/<book>/wavs/*.wav. Neither corpus has
a protocol: TTS models and speakers are split 70/10/20 by a stable hash of their names (see
wedefense/dataset/mlaad.py), so eval models are unseen in training. Writes wav.scp, utt2lab,
lab2utt, utt2dur, utt2spk, utt2attack (the TTS model folder) and utt2lang for each set.
"""

import argparse

from wedefense.dataset import mlaad
from wedefense.dataset.prepare import format_summary
from wedefense.utils.cli import entry_point


@entry_point
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mlaad_dir", help="the MLAAD folder holding fake/")
    parser.add_argument("mailabs_dir", help="the M-AILABS folder holding de_DE/, en_US/, ...")
    parser.add_argument("data_dir", help="output: data dirs train/, dev/, eval/ go here")
    parser.add_argument("--num_workers", type=int, default=8,
                        help="threads reading audio headers (default: %(default)s)")
    args = parser.parse_args(argv)
    print(format_summary(mlaad.prepare(args.mlaad_dir, args.mailabs_dir, args.data_dir,
                                       args.num_workers)))


if __name__ == "__main__":
    main()
