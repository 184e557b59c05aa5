"""Training-loader throughput (3-second chunks/s) raw vs shard at 0/1/2 workers, against what a
ResNet18 training step consumes on the same CPU, and loader memory on a 200,000-utterance
shard list.

Synthetic corpus: ``--num_utts`` 16 kHz 16-bit wavs of 3-5 s (speech-like noise), written once
to ``--work_dir``; shards of 1000. The memory run lists the real tars over and over until the
list names ``--memory_utts`` utterances, streams it with 2 workers for ``--memory_seconds``
and samples the resident memory of the loader process and its workers together.

    python benchmarks/loader_throughput.py --out benchmarks/results/loader.md
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time

import numpy as np
import soundfile
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wedefense.dataset.dataset import read_train_list  # noqa: E402
from wedefense.dataset.loader import train_loader  # noqa: E402
from wedefense.models.registry import build_model  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_corpus(work_dir, num_utts):
    data = os.path.join(work_dir, "data")
    if os.path.isfile(os.path.join(data, "shard.list")):
        return data
    os.makedirs(os.path.join(work_dir, "wav"), exist_ok=True)
    os.makedirs(data, exist_ok=True)
    rng = np.random.default_rng(0)
    with open(os.path.join(data, "wav.scp"), "w") as scp, \
            open(os.path.join(data, "utt2lab"), "w") as lab, \
            open(os.path.join(data, "raw.list"), "w") as raw:
        for i in range(num_utts):
            n = int(rng.uniform(3.0, 5.0) * 16000)
            wav = (0.1 * rng.standard_normal(n)).astype(np.float32)
            path = os.path.join(work_dir, "wav", f"utt{i:06d}.wav")
            soundfile.write(path, wav, 16000, subtype="PCM_16")
            label = "bonafide" if i % 2 else "spoof"
            scp.write(f"utt{i:06d} {path}\n")
            lab.write(f"utt{i:06d} {label}\n")
            raw.write(json.dumps({"key": f"utt{i:06d}", "lab": label, "wav": path}) + "\n")
    subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_shard_list.py"),
                    os.path.join(data, "wav.scp"), os.path.join(data, "utt2lab"),
                    os.path.join(data, "shards"), os.path.join(data, "shard.list"),
                    "--shuffle"], check=True, env=dict(os.environ, PYTHONPATH=REPO))
    return data


def loader_rate(list_path, data_type, workers, batches, batch_size=32, augment=None):
    config = {"dataset_args": {"sample_rate": 16000, "chunk_len": 3.0},
              "dataloader_args": {"batch_size": batch_size, "num_workers": workers},
              "augment": augment}
    items = read_train_list(list_path, ("bonafide", "spoof"), data_type)
    dataset, loader = train_loader(items, ["bonafide", "spoof"], config)
    dataset.set_epoch(1)
    it = iter(loader)
    for _ in range(2):  # warm-up: worker start, first reads
        next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = batches * batch_size / (time.perf_counter() - t0)
    del it
    return rate


def model_rate(batch_size=32, steps=3):
    config = {"classes": ["bonafide", "spoof"], "frontend": "fbank",
              "frontend_args": {"num_mel_bins": 80}, "model": "ResNet18",
              "model_args": {"m_channels": 32, "embed_dim": 256},
              "projection_args": {"project_type": "linear"}}
    model = build_model(config).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    wav, labels = torch.randn(batch_size, 48000) * 0.1, torch.randint(0, 2, (batch_size,))

    def step():
        loss = torch.nn.functional.cross_entropy(model(wav, None, labels), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - t0)


def tree_rss_mb(pid):
    """Resident memory of ``pid`` and its children (MB)."""
    total = 0
    pids = [pid]
    try:
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024.0


def memory_run(data, utts, seconds, workers=2):
    tars = [line.strip() for line in open(os.path.join(data, "shard.list"))]
    per_tar = sum(1 for _ in open(os.path.join(data, "wav.scp"))) / len(tars)
    copies = int(np.ceil(utts / per_tar))
    big = os.path.join(data, "big_shard.list")
    with open(big, "w") as f:
        for i in range(copies):
            f.write(tars[i % len(tars)] + "\n")
    peak, samples, stop = [0.0], [], threading.Event()

    def sample():
        while not stop.is_set():
            rss = tree_rss_mb(os.getpid())
            samples.append(rss)
            peak[0] = max(peak[0], rss)
            time.sleep(0.5)
    config = {"dataset_args": {"sample_rate": 16000, "chunk_len": 3.0},
              "dataloader_args": {"batch_size": 32, "num_workers": workers}}
    dataset, loader = train_loader(read_train_list(big, None, "shard"), ["bonafide", "spoof"],
                                   config)
    dataset.set_epoch(1)
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    n, t0 = 0, time.time()
    for wavs, _ in loader:
        n += len(wavs)
        if time.time() - t0 > seconds:
            break
    stop.set()
    thread.join()
    return {"list_utts": int(copies * per_tar), "tars_listed": copies, "chunks": n,
            "seconds": time.time() - t0, "peak_rss_mb": peak[0],
            "rss_first_mb": samples[2] if len(samples) > 2 else None,
            "rss_last_mb": samples[-1] if samples else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", default="/tmp/wedefense_loader_bench")
    parser.add_argument("--num_utts", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--workers", default="0,1,2")
    parser.add_argument("--memory_utts", type=int, default=200000)
    parser.add_argument("--memory_seconds", type=float, default=60.0)
    parser.add_argument("--out", help="write the Markdown table here too")
    args = parser.parse_args()
    # the loader's own cost: with 0 workers the batches are collated in this process, and on a
    # loaded machine torch.stack with 2 intra-op threads spins (0.5 s a batch, measured)
    torch.set_num_threads(1)
    data = make_corpus(args.work_dir, args.num_utts)
    rows = []
    for data_type in ("raw", "shard"):
        for workers in [int(w) for w in args.workers.split(",")]:
            rate = loader_rate(os.path.join(data, f"{data_type}.list"), data_type, workers,
                               args.batches)
            rows.append((data_type, workers, rate))
            print(f"{data_type} workers={workers}: {rate:.0f} chunks/s", flush=True)
    aug = {"rawboost": {"prob": 1.0, "algo": 5}}
    aug_rate = loader_rate(os.path.join(data, "shard.list"), "shard", 2, args.batches // 2,
                           augment=aug)
    print(f"shard workers=2 + RawBoost(algo 5, every chunk): {aug_rate:.0f} chunks/s")
    mem = memory_run(data, args.memory_utts, args.memory_seconds)  # before the model's memory
    print(json.dumps(mem), flush=True)
    torch.set_num_threads(2)
    step = model_rate()
    print(f"ResNet18 (m_channels 32, 80 fbank) training: {step:.1f} chunks/s", flush=True)
    cpu = platform.processor()
    try:
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                 if line.startswith("model name")]
        cpu = f"{names[0]} ({len(names)} logical CPUs)"
    except OSError:
        pass
    shard_best = max(r for t, _, r in rows if t == "shard")
    lines = [f"Machine: {cpu}, shared with other jobs (load 3-5 while measuring); torch "
             "threads 1 for the loader runs, 2 for the model step.",
             f"Corpus: {args.num_utts} synthetic 16 kHz PCM-16 wavs of 3-5 s, shards of 1000; "
             "batch 32 chunks of 3 s; warm page cache.", "",
             "| list | workers | 3-s chunks/s |", "|---|---|---|"]
    lines += [f"| {t} | {w} | {r:.0f} |" for t, w, r in rows]
    lines += ["", f"Shard, 2 workers, RawBoost algo 5 on every chunk: {aug_rate:.0f} chunks/s.",
              f"ResNet18 (m_channels 32, 80 fbank, batch 32) training step: {step:.1f} "
              f"chunks/s; best shard loader / model = {shard_best / step:.0f}x.", "",
              f"Memory: a shard.list naming {mem['list_utts']} utterances "
              f"({mem['tars_listed']} tars), streamed with 2 workers for "
              f"{mem['seconds']:.0f} s ({mem['chunks']} chunks): peak RSS of the loader "
              f"process and its workers {mem['peak_rss_mb']:.0f} MB (after warm-up "
              f"{mem['rss_first_mb']:.0f} MB, at the end {mem['rss_last_mb']:.0f} MB)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write("# Loader throughput and memory\n\n"
                    "`python benchmarks/loader_throughput.py --out "
                    "benchmarks/results/loader.md`\n\n" + text)


if __name__ == "__main__":
    main()
