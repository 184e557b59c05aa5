#!/usr/bin/env python3
"""Stage 2 (shard): pack a data dir's audio into WebDataset tars and list them in shard.list.

    python tools/make_shard_list.py data/train/wav.scp data/train/utt2lab \\
        data/train/shards data/train/shard.list [--num_utts_per_shard 1000] \\
        [--num_threads 8] [--shuffle --seed 777]

Each tar (shards_000000000.tar, ...) holds, per utterance and consecutively, ``<key>.lab`` (the
label) and ``<key>.<ext>`` (the audio file's original bytes, ext from its name), the layout of
``wedefense/dataset/shards.py`` that ``webdataset.WebDataset`` reads. Tars are written in
parallel threads, each to a temporary name renamed when complete, and shard.list last: an
interrupted run leaves no half tar and the old list. A rerun replaces the tars and removes ones
of an earlier, larger run.
--shuffle mixes the utterance order across tars (the training stream also shuffles tars and
a buffer, but one tar per class or speaker would still make batches less random).
"""

import argparse
import contextlib
import glob
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from wedefense.dataset.shards import SHARD_NAME, check_key, write_shard
from wedefense.dataset.tables import check_same_keys, read_labels, read_table
from wedefense.utils.cli import entry_point
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wav_scp", help="Kaldi wav.scp: '<utt> <audio path>'")
    parser.add_argument("utt2lab", help="'<utt> <label>'")
    parser.add_argument("shards_dir", help="directory for the tars")
    parser.add_argument("shard_list", help="output list, one tar path per line")
    parser.add_argument("--num_utts_per_shard", type=int, default=1000)
    parser.add_argument("--num_threads", type=int, default=8,
                        help="tars written at once (I/O bound: threads overlap the reads)")
    parser.add_argument("--shuffle", action="store_true", help="shuffle utterances over tars")
    parser.add_argument("--seed", type=int, default=777, help="seed of --shuffle")
    parser.add_argument("--labels", default=None,
                        help="comma-separated allowed labels (default: bonafide,spoof); 'any' "
                             "accepts every label")
    return parser


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    if args.num_utts_per_shard < 1:
        raise InputError("--num_utts_per_shard must be at least 1")
    wavs = read_table(args.wav_scp, rest=True)
    allowed = None if args.labels == "any" else (
        tuple(args.labels.split(",")) if args.labels else ("bonafide", "spoof"))
    labels = read_labels(args.utt2lab, labels=allowed)
    check_same_keys(wavs, args.wav_scp, labels, args.utt2lab)
    keys = list(wavs)
    for key in keys:
        check_key(key, args.wav_scp)
    if args.shuffle:
        keys = [keys[i] for i in np.random.default_rng(args.seed).permutation(len(keys))]

    os.makedirs(args.shards_dir, exist_ok=True)
    # the old list goes first: interrupted, this run must leave no list that names a mix of
    # old and new tars
    with contextlib.suppress(FileNotFoundError):
        os.remove(args.shard_list)
    for stale in glob.glob(os.path.join(args.shards_dir, "shards_*.tar.tmp*")):
        os.remove(stale)  # left by a killed run
    n = args.num_utts_per_shard
    groups = [keys[i:i + n] for i in range(0, len(keys), n)]
    paths = [os.path.join(args.shards_dir, SHARD_NAME.format(i)) for i in range(len(groups))]

    def write(index):
        return write_shard(paths[index], [(k, labels[k], wavs[k]) for k in groups[index]])

    t0 = time.time()
    with ThreadPoolExecutor(max_workers=max(1, args.num_threads)) as pool:
        audio_bytes = sum(pool.map(write, range(len(groups))))
    elapsed = time.time() - t0
    with atomic_open(args.shard_list) as f:
        for path in paths:
            f.write(path + "\n")
    pattern = re.compile(r"shards_(\d+)\.tar$")
    for old in glob.glob(os.path.join(args.shards_dir, "shards_*.tar")):
        m = pattern.search(old)
        if m and int(m.group(1)) >= len(groups):
            os.remove(old)
    print(f"wrote {len(keys)} utterances in {len(groups)} shards to {args.shards_dir} "
          f"({audio_bytes / 1e6:.1f} MB of audio, {audio_bytes / 1e6 / max(elapsed, 1e-9):.0f} "
          f"MB/s)", file=sys.stderr)


if __name__ == "__main__":
    main()
