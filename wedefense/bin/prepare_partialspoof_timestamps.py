"""Stage 1 for PartialSpoof localization: segment labels -> data/<set>/timestamps.

    python -m wedefense.bin.prepare_partialspoof_timestamps <corpus_dir> <data_dir>

Run after prepare_partialspoof (it reads data/<set>/{utt2dur,utt2lab}). Reads the finest
database/segment_labels/<set>_seglab_<r>.npy of train, dev and eval and writes one timestamp
table per set: '<utt> <dur> <bonafide|spoof> <start>-<end>-<label> ...' (seconds), from which
labels at any resolution are derived. Segment labels more than one segment off the audio
length, or contradicting the protocol's utterance label, are errors naming the utterance.
"""

import argparse

from wedefense.dataset import partialspoof
from wedefense.utils.cli import entry_point


@entry_point
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus_dir", help="the folder holding database/ (or database/ itself)")
    parser.add_argument("data_dir", help="the data dir prepare_partialspoof wrote")
    args = parser.parse_args(argv)
    for subset, (resolution, count) in partialspoof.prepare_timestamps(
            args.corpus_dir, args.data_dir).items():
        print(f"{subset}: timestamps for {count} utterances from {resolution} s segment labels")


if __name__ == "__main__":
    main()
