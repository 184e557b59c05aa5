"""GPU training check for the training engine (issue 5): run it under torchrun on a GPU box.

    torchrun --standalone --nproc_per_node 1 benchmarks/gpu_train_check.py \
        --out benchmarks/results/gpu_train_check.json

It synthesizes --num_utts utterances (3-4 s, noise and tones: the content does not matter for
speed), packs them into WebDataset shards, and for each configuration trains ResNet18 (32 base
channels, 80-dim fbank, 256-d embedding) for --steps steps with DDP (NCCL on a GPU, gloo on a
CPU) from the shard stream of wedefense.dataset:

- fbank on the GPU inside the model, fp32 and bf16;
- fbank computed in the DataLoader workers (CPU), fp32 and bf16.

For each it reports 3-s chunks per second over all ranks, and the split of wall time between
waiting for the next batch and computing (forward, backward, optimizer step, synchronised).
On a CPU-only machine the same script runs (gloo, fp32 only) so it can be checked before it
spends GPU time: `python benchmarks/gpu_train_check.py --steps 3 --batch_size 4 --num_utts 16`.
"""

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
import soundfile
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from wedefense.dataset.dataset import read_train_list
from wedefense.dataset.pipeline import TrainChunks
from wedefense.dataset.shards import write_shard
from wedefense.frontend.fbank import KaldiFbank
from wedefense.frontend.normalize import masked_mean_norm
from wedefense.models.registry import build_model
from wedefense.utils import distributed as dist_utils

CONFIG = {"classes": ["bonafide", "spoof"], "frontend": "fbank",
          "frontend_args": {"num_mel_bins": 80}, "model": "ResNet18",
          "model_args": {"m_channels": 32, "embed_dim": 256}}
CLASSES = CONFIG["classes"]


def make_shards(root, num_utts, per_shard=200, seed=0):
    """Synthetic 3-4 s wavs packed into shards; returns the shard.list path."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(num_utts):
        n = int(rng.uniform(3.0, 4.0) * 16000)
        t = np.arange(n) / 16000
        wav = 0.1 * np.sin(2 * np.pi * rng.uniform(80, 300) * t) + 0.02 * rng.standard_normal(n)
        path = os.path.join(root, f"utt{i:06d}.wav")
        soundfile.write(path, wav.astype(np.float32), 16000)
        records.append((f"utt{i:06d}", CLASSES[i % 2], path))
    shards = []
    for j in range(0, num_utts, per_shard):
        tar = os.path.join(root, f"shards_{j // per_shard:09d}.tar")
        write_shard(tar, records[j:j + per_shard])
        shards.append(tar)
    shard_list = os.path.join(root, "shard.list")
    with open(shard_list, "w") as f:
        f.write("".join(s + "\n" for s in shards))
    return shard_list


class LoaderFbank:
    """collate_fn computing fbank in the DataLoader worker (the 'loader-side' baseline)."""

    def __init__(self):
        self.fbank = KaldiFbank(num_mel_bins=80)

    def __call__(self, batch):
        wavs = torch.stack([w for w, _ in batch])
        labels = torch.tensor([lab for _, lab in batch])
        with torch.no_grad():
            feats, lengths = self.fbank(wavs)
            feats = masked_mean_norm(feats, lengths)
        return feats, lengths, labels


def run(config_name, items, args, rank, world_size, device):
    fbank_in_loader = config_name.startswith("loader")
    amp = config_name.endswith("bf16")
    dataset = TrainChunks(items, CLASSES, 3 * 16000, rank=rank, world_size=world_size, seed=1)
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.num_workers,
                        pin_memory=device.type == "cuda",
                        collate_fn=LoaderFbank() if fbank_in_loader else None,
                        prefetch_factor=4 if args.num_workers else None)
    torch.manual_seed(0)
    model = build_model(CONFIG).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    ddp = DistributedDataParallel(model) if world_size > 1 else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(batch):
        if fbank_in_loader:
            feats, lengths, labels = (x.to(device, non_blocking=True) for x in batch)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model.projection(model.backbone(feats, lengths), labels)
        else:
            wavs, labels = (x.to(device, non_blocking=True) for x in batch)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = ddp(wavs, None, labels)
        loss = model.projection.loss(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    data = iter(loader)
    for _ in range(args.warmup):
        step(next(data))
    sync()
    wait = compute = 0.0
    start = time.perf_counter()
    for _ in range(args.steps):
        t0 = time.perf_counter()
        batch = next(data)
        t1 = time.perf_counter()
        step(batch)
        sync()
        t2 = time.perf_counter()
        wait += t1 - t0
        compute += t2 - t1
    total = time.perf_counter() - start
    del data
    chunks = args.steps * args.batch_size * world_size
    return {"config": config_name, "chunks_per_s": chunks / total, "wall_s": total,
            "data_wait_s": wait, "compute_s": compute,
            "data_wait_fraction": wait / total, "steps": args.steps,
            "batch_size_per_rank": args.batch_size, "world_size": world_size,
            "peak_gpu_mem_gb": (torch.cuda.max_memory_allocated() / 2 ** 30
                                if device.type == "cuda" else None)}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_utts", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=256, help="per rank")
    parser.add_argument("--num_workers", type=int, default=8)
    parser.add_argument("--out", help="append the JSON results here")
    args = parser.parse_args()
    rank, world_size, _, device = dist_utils.init_distributed()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    configs = (["model_fbank_fp32", "model_fbank_bf16", "loader_fbank_fp32", "loader_fbank_bf16"]
               if device.type == "cuda" else ["model_fbank_fp32", "loader_fbank_fp32"])
    with tempfile.TemporaryDirectory() as root:
        shard_list = dist_utils.broadcast_object(
            make_shards(root, args.num_utts) if rank == 0 else None)
        items = read_train_list(shard_list, CLASSES, "shard")
        results = []
        for name in configs:
            result = run(name, items, args, rank, world_size, device)
            results.append(result)
            if rank == 0:
                print(json.dumps(result), flush=True)
        dist_utils.barrier()
    if rank == 0:
        by_name = {r["config"]: r["chunks_per_s"] for r in results}
        summary = {"device": torch.cuda.get_device_name() if device.type == "cuda" else
                   platform.processor() or platform.machine(), "torch": torch.__version__,
                   "backend": "nccl" if device.type == "cuda" else "gloo", "results": results}
        if "model_fbank_bf16" in by_name:
            summary["bf16_gpu_fbank_vs_fp32_loader_fbank"] = (
                by_name["model_fbank_bf16"] / by_name["loader_fbank_fp32"])
        print(json.dumps(summary, indent=2))
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(summary) + "\n")
    dist_utils.cleanup()


if __name__ == "__main__":
    main()
