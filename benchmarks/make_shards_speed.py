"""make_shard_list.py write speed in MB/s of audio, at 1, 2, 4 and 8 threads.

Uses the synthetic corpus of benchmarks/loader_throughput.py (run that first, or pass a data dir
with wav.scp and utt2lab). The audio is in the page cache after the first run (warm reads); on a
cold disk or a network file system the threads overlap the reads and matter more.

    python benchmarks/make_shards_speed.py --out benchmarks/results/shards.md
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="/tmp/wedefense_loader_bench/data")
    parser.add_argument("--threads", default="1,2,4,8")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    scp = os.path.join(args.data, "wav.scp")
    paths = [line.split(maxsplit=1)[1].strip() for line in open(scp)]
    megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
    out_dir = os.path.join(args.data, "bench_shards")
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        best = float("inf")
        for _ in range(args.repeats):
            shutil.rmtree(out_dir, ignore_errors=True)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_shard_list.py"),
                            scp, os.path.join(args.data, "utt2lab"), out_dir,
                            os.path.join(out_dir, "shard.list"), "--num_threads",
                            str(threads)], check=True, capture_output=True,
                           env=dict(os.environ, PYTHONPATH=REPO))
            best = min(best, time.perf_counter() - t0)
        rows.append((threads, best, megabytes / best))
        print(f"{threads} threads: {best:.2f} s, {megabytes / best:.0f} MB/s", flush=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    text = (f"{len(paths)} wavs, {megabytes:.0f} MB of audio; whole command (Python start, "
            "reading the tables, writing and renaming the tars), best of "
            f"{args.repeats}; shared 2-core machine, warm page cache.\n\n"
            "| threads | seconds | MB/s of audio |\n|---|---|---|\n"
            + "".join(f"| {t} | {s:.2f} | {r:.0f} |\n" for t, s, r in rows))
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write("# make_shard_list.py speed\n\n`python benchmarks/make_shards_speed.py "
                    "--out benchmarks/results/shards.md`\n\n" + text)


if __name__ == "__main__":
    main()
