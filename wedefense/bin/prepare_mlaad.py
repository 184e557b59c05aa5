"""Stage 1 for MLAAD with M-AILABS as bona fide: folders -> data/{train,dev,eval}.

    python -m wedefense.bin.prepare_mlaad <mlaad_dir> <mailabs_dir> <data_dir>

<mlaad_dir> holds fake/<language>/<tts model>/*.wav; <mailabs_dir> holds the M-AILABS locales
(de_DE/, en_US/, ...), each with by_book/<gender>/<speaker>/<book>/wavs/*.wav. Neither corpus has
a protocol: TTS models and speakers are split 70/10/20 by a stable hash of their names (see
wedefense/dataset/mlaad.py), so eval models are unseen in training. Writes wav.scp, utt2lab,
lab2utt, utt2dur, utt2spk, utt2attack (the TTS model folder) and utt2lang for each set.
"""

from wedefense.dataset import mlaad
from wedefense.dataset.prepare import format_summary
from wedefense.utils.cli import data_prep_parser, entry_point


@entry_point
def main(argv=None):
    parser = data_prep_parser(__doc__,
                              {"mlaad_dir": "the MLAAD folder holding fake/",
                               "mailabs_dir": "the M-AILABS folder holding de_DE/, en_US/, ..."},
                              "output: data dirs train/, dev/, eval/ go here")
    args = parser.parse_args(argv)
    print(format_summary(mlaad.prepare(args.mlaad_dir, args.mailabs_dir, args.data_dir,
                                       args.num_workers)))


if __name__ == "__main__":
    main()
