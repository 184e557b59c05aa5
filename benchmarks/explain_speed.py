"""Speed of ``python -m wedefense.bin.explain`` on the demo: maps, pictures and summary.

    python benchmarks/explain_speed.py --model egs/detection/demo/v03_resnet18/exp/ResNet18_demo \
        --data_dir egs/detection/demo/v03_resnet18/data/eval [--num_utts 100] [--method gradcam]

Runs the entry script's library call on the first --num_utts utterances of the data dir's
wav.scp (with its utt2attack) in a fresh output directory, as a user would, and prints the wall
time, the audio duration and the load average before and after (the target: 100 demo
utterances in at most 60 s on the 2-core development machine).
"""

import argparse
import os
import platform
import tempfile
import time

import torch

from wedefense.dataset.tables import read_table
from wedefense.explain.explain_files import explain_files, limit_threads


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--num_utts", type=int, default=100)
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--no_png", action="store_true")
    args = parser.parse_args()
    limit_threads()
    wavs = list(read_table(os.path.join(args.data_dir, "wav.scp"), rest=True).items())
    wavs = wavs[:args.num_utts]
    attacks = os.path.join(args.data_dir, "utt2attack")
    durations = read_table(os.path.join(args.data_dir, "utt2dur"), float)
    audio = sum(durations[u] for u, _ in wavs)
    with tempfile.TemporaryDirectory() as tmp:
        scp = os.path.join(tmp, "wav.scp")
        with open(scp, "w", encoding="utf-8") as f:
            f.writelines(f"{u} {p}\n" for u, p in wavs)
        load_before = os.getloadavg()
        start = time.perf_counter()
        explain_files(args.model, scp, os.path.join(tmp, "out"), method=args.method,
                      utt2attack=attacks if os.path.isfile(attacks) else None,
                      pictures=not args.no_png)
        seconds = time.perf_counter() - start
        load_after = os.getloadavg()
    print(f"{len(wavs)} utterances ({audio:.1f} s of audio), method {args.method}, "
          f"pictures {'no' if args.no_png else 'yes'}: {seconds:.1f} s wall "
          f"({seconds / len(wavs) * 1000:.0f} ms per utterance)")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")


if __name__ == "__main__":
    main()
