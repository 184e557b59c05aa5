#!/usr/bin/env python3
"""Stage 2 (raw): join wav.scp and utt2lab into raw.list, one JSON object per utterance.

    python tools/make_raw_list.py data/train/wav.scp data/train/utt2lab data/train/raw.list
"""

import argparse
import json
import os
import sys

from wedefense.dataset.tables import check_same_keys, iter_lines, read_labels, read_table
from wedefense.utils.cli import entry_point
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open


@entry_point
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wav_scp", help="Kaldi wav.scp: '<utt> <audio path>'")
    parser.add_argument("utt2lab", help="'<utt> bonafide|spoof'")
    parser.add_argument("raw_list", help="output JSON Lines file")
    parser.add_argument("--labels", default=None,
                        help="comma-separated allowed labels (default: bonafide,spoof); "
                             "'any' accepts every label, e.g. for multi-class training")
    args = parser.parse_args(argv)

    wavs = read_table(args.wav_scp, rest=True)
    allowed = None if args.labels == "any" else (
        tuple(args.labels.split(",")) if args.labels else ("bonafide", "spoof"))
    labels = read_labels(args.utt2lab, labels=allowed)
    check_same_keys(wavs, args.wav_scp, labels, args.utt2lab)
    for lineno, fields in iter_lines(args.wav_scp):
        path = " ".join(fields[1:])
        if not os.path.isfile(path):
            raise InputError(f"audio file of '{fields[0]}' not found: {path}", args.wav_scp,
                             lineno)
    with atomic_open(args.raw_list) as f:
        for utt, wav in wavs.items():
            f.write(json.dumps({"key": utt, "lab": labels[utt], "wav": wav}) + "\n")
    print(f"wrote {len(wavs)} utterances to {args.raw_list}", file=sys.stderr)


if __name__ == "__main__":
    main()
