"""Stage 1 for EnvSDD / ESDD 2026: challenge CSVs -> data/{train,dev,eval,test}.

    python -m wedefense.bin.prepare_envsdd <corpus_dir> <data_dir> [--track 1|2]
        [--sets train,dev,eval,test]

<corpus_dir> holds development/{real_audio,fake_audio}/, dev_track2/, eval_track{1,2}/,
test_track{1,2}/ and the metadata/ CSVs of github.com/apple-yinhan/EnvSDD (dev_track1.csv,
dev_track2.csv, eval_track{1,2}.csv, test_track{1,2}.csv). Track 1: train/dev from dev_track1.csv
(usage column), eval/test from the track 1 sets. Track 2 adds the black-box dev_track2 clips to
train/dev and uses the track 2 eval/test sets. Writes wav.scp, utt2lab (real -> bonafide, fake ->
spoof), lab2utt, utt2dur, utt2spk (source dataset where known) and utt2attack (<TTA|ATA>-<generator>
where known, else unknown) for each set.
"""

import argparse

from wedefense.dataset import envsdd
from wedefense.dataset.prepare import format_summary
from wedefense.utils.cli import data_prep_parser, entry_point


def sets_arg(value):
    names = tuple(v for v in value.split(",") if v)
    if not names or any(n not in envsdd.SETS for n in names):
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(envsdd.SETS)}, got '{value}'")
    return names


@entry_point
def main(argv=None):
    parser = data_prep_parser(__doc__,
                              {"corpus_dir": "the EnvSDD folder (development/, metadata/, ...)"},
                              "output: one data dir per set goes here")
    parser.add_argument("--track", type=int, choices=envsdd.TRACKS, default=1)
    parser.add_argument("--sets", type=sets_arg, default=envsdd.SETS,
                        help="sets to write (default: all four; test needs the test_track CSV "
                             "and audio)")
    args = parser.parse_args(argv)
    print(format_summary(envsdd.prepare(args.corpus_dir, args.data_dir, args.track, args.sets,
                                        args.num_workers)))


if __name__ == "__main__":
    main()
