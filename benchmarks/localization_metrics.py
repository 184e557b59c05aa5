"""Time evaluate_localization on 10,000 utterances x 400 frames (20 ms), 6 resolutions.

    PYTHONPATH=. python benchmarks/localization_metrics.py [--utts 10000] [--frames 400]

Writes a synthetic frame_llr.txt and timestamp table in a temporary directory (not timed), then
times the whole command: reading both files, all metrics, writing the JSON.
"""

import argparse
import os
import tempfile
import time

import numpy as np

from wedefense.bin.evaluate_localization import main
from wedefense.dataset.timestamps import make_timestamps, write_timestamps


def make_inputs(directory, num_utts, num_frames, seed=0):
    rng = np.random.default_rng(seed)
    step = 0.02
    scores_path = os.path.join(directory, "frame_llr.txt")
    reference = {}
    times = [f"{k * step:.4f} {(k + 1) * step:.4f}" for k in range(num_frames)]
    with open(scores_path, "w") as f:
        for u in range(num_utts):
            utt = f"CON_E_{u:07d}"
            dur = num_frames * step
            spoof = []
            if u % 2:  # half the utterances hold one spoofed stretch
                a = rng.uniform(0, dur - 1.5)
                spoof = [(round(a, 4), round(a + rng.uniform(0.1, 1.5), 4))]
            reference[utt] = make_timestamps(dur, spoof)
            llr = rng.normal(2.0, 1.5, num_frames)
            mask = reference[utt].spoof_mask(step)
            llr[mask] -= 4.0
            f.write("".join(f"{utt} {t} {s:.5f}\n" for t, s in zip(times, llr.tolist())))
    labels_path = os.path.join(directory, "timestamps")
    write_timestamps(labels_path, reference)
    return scores_path, labels_path


def main_bench():
    parser = argparse.ArgumentParser()
    parser.add_argument("--utts", type=int, default=10000)
    parser.add_argument("--frames", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        scores, labels = make_inputs(d, args.utts, args.frames)
        size = os.path.getsize(scores) / 2**20
        start = time.perf_counter()
        main(["--scores", scores, "--labels", labels, "--output_json",
              os.path.join(d, "out.json")])
        elapsed = time.perf_counter() - start
    print(f"{args.utts} utterances x {args.frames} frames ({size:.0f} MiB): {elapsed:.2f} s")


if __name__ == "__main__":
    main_bench()
