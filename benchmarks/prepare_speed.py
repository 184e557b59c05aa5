#!/usr/bin/env python3
"""How fast does stage 1 read audio durations? (Issue: >= 5,000 files/s on 100,000 files.)

    python benchmarks/prepare_speed.py [--num_files 100000] [--work_dir /tmp/...] [--keep]

Writes a PartialSpoof-layout corpus of tiny 16-bit WAV files under --work_dir (never in the
repository), then times, on that corpus:
  1. ``durations()`` from wedefense.dataset.prepare with 1, 2, 4, 8 threads;
  2. the previous implementation (``soundfile.info`` per file, one thread-pool task per file);
  3. a process pool, for comparison;
  4. the whole of stage 1, ``partialspoof.prepare()`` (protocols, headers, all tables).
The files were just written, so they sit in the page cache: this measures the per-file cost of
header parsing, not disk seeks (dropping the cache needs root). Prints a Markdown table.
"""

import argparse
import io
import os
import platform
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import soundfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wedefense.dataset import partialspoof  # noqa: E402
from wedefense.dataset.prepare import Utterance, durations  # noqa: E402

SPLIT = (("train", "T", 0.5), ("dev", "D", 0.25), ("eval", "E", 0.25))


def make_corpus(root, num_files, seconds=0.05):
    """PartialSpoof layout; every file is the same tiny WAV (headers are all that is read)."""
    buf = io.BytesIO()
    soundfile.write(buf, np.zeros(int(16000 * seconds), dtype=np.int16), 16000,
                    format="WAV", subtype="PCM_16")
    blob = buf.getvalue()
    proto_dir = os.path.join(root, "database", "protocols", "PartialSpoof_LA_cm_protocols")
    os.makedirs(proto_dir, exist_ok=True)
    utterances = []
    start = 0
    for subset, letter, share in SPLIT:
        count = num_files - start if subset == "eval" else int(num_files * share)
        wav_dir = os.path.join(root, "database", subset, "con_wav")
        os.makedirs(wav_dir, exist_ok=True)
        with open(os.path.join(proto_dir, f"PartialSpoof.LA.cm.{subset}.trl.txt"), "w") as proto:
            for i in range(count):
                utt = f"CON_{letter}_{i:07d}"
                path = os.path.join(wav_dir, utt + ".wav")
                with open(path, "wb") as f:
                    f.write(blob)
                key = "bonafide" if i % 10 == 0 else "spoof"
                proto.write(f"LA_{i % 100:04d} {utt} - {'-' if key == 'bonafide' else 'A01'} "
                            f"{key}\n")
                utterances.append(Utterance(utt=utt, wav=path, label=key))
        start += count
    return utterances, seconds


def old_info(path):
    info = soundfile.info(path)
    return info.frames / info.samplerate


def open_header(path):
    with soundfile.SoundFile(path) as f:
        return f.frames / f.samplerate


def old_durations(utterances, num_workers=8):
    """The implementation before this benchmark: soundfile.info, one task per file."""
    with ThreadPoolExecutor(max_workers=num_workers) as pool:
        return list(pool.map(lambda u: old_info(u.wav), utterances))


def process_durations(utterances, num_workers=2):
    paths = [u.wav for u in utterances]
    with ProcessPoolExecutor(max_workers=num_workers) as pool:
        return list(pool.map(open_header, paths, chunksize=2048))


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_files", type=int, default=100_000)
    parser.add_argument("--work_dir", default="/tmp/wedefense_prepare_speed")
    parser.add_argument("--keep", action="store_true", help="keep the generated corpus")
    args = parser.parse_args()
    if os.path.abspath(args.work_dir).startswith(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))):
        parser.error("--work_dir must be outside the repository")

    corpus = os.path.join(args.work_dir, "PartialSpoof")
    shutil.rmtree(args.work_dir, ignore_errors=True)
    (utterances, seconds), t_gen = timed(make_corpus, corpus, args.num_files)
    n = len(utterances)
    print(f"# stage-1 header reading, {n} files ({platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, libsndfile "
          f"{soundfile.__libsndfile_version__}); corpus written in {t_gen:.1f} s\n")
    print("| what | files/s | seconds |")
    print("|---|---:|---:|")

    def report(name, fn, *a, **kw):
        durs, dt = timed(fn, *a, **kw)
        assert len(durs) == n and abs(durs[0] - seconds) < 1e-6, name
        print(f"| {name} | {n / dt:,.0f} | {dt:.2f} |", flush=True)

    for workers in (1, 2, 4, 8):
        report(f"durations(), {workers} thread(s)", durations, utterances, workers)
    report("previous durations() (soundfile.info, 8 threads)", old_durations, utterances, 8)
    report("process pool, 2 processes", process_durations, utterances, 2)
    data = os.path.join(args.work_dir, "data")
    _, dt = timed(partialspoof.prepare, corpus, data)
    print(f"| whole stage 1: partialspoof.prepare() (default 8 threads) | {n / dt:,.0f} | "
          f"{dt:.2f} |")
    if not args.keep:
        shutil.rmtree(args.work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
