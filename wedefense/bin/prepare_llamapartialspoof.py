"""Stage 1 for LlamaPartialSpoof (evaluation only): label files -> data/eval.

    python -m wedefense.bin.prepare_llamapartialspoof <corpus_dir> <data_dir>

<corpus_dir> holds label_R01TTS.0.{a,b}.txt and the unpacked R01TTS.0.{a,b}/<utt>.wav (a part
whose label file is absent is skipped). Writes data/eval/{wav.scp, utt2lab, lab2utt, utt2dur,
utt2spk, utt2attack} and data/eval/timestamps (the label lines, checked). utt2spk is the
LibriTTS speaker from the id; utt2attack the id's first '_' field for spoofs.
"""

from wedefense.dataset import llamapartialspoof
from wedefense.dataset.prepare import format_summary
from wedefense.utils.cli import data_prep_parser, entry_point


@entry_point
def main(argv=None):
    parser = data_prep_parser(__doc__,
                              {"corpus_dir": "the folder holding label_R01TTS.0.a.txt"},
                              "output: the data dir eval/ goes here")
    args = parser.parse_args(argv)
    print(format_summary(llamapartialspoof.prepare(args.corpus_dir, args.data_dir,
                                                   args.num_workers)))


if __name__ == "__main__":
    main()
