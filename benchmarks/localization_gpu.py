"""Localization model on a GPU (issue 17 item 5, run by benchmarks/gpu_checks.sh): training steps
and frame-level inference of the PartialSpoof FrameCNN config on synthetic 4-s batches, fp32 and
bf16, with peak memory. One JSON line per measurement.

    python benchmarks/localization_gpu.py --out results.jsonl            # GPU, full sizes
    python benchmarks/localization_gpu.py --smoke --out /tmp/x.jsonl      # CPU, tiny sizes
"""

import argparse
import json
import os
import sys
import time

import torch
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from wedefense.models.registry import build_model  # noqa: E402

CONFIG = os.path.join(REPO, "egs", "localization", "partialspoof", "v01_frame_cnn", "conf",
                      "frame_cnn.yaml")


def timed(fn, steps, warmup, device):
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def measure(model, device, dtype, batch_size, seconds, steps, warmup):
    samples = int(seconds * 16000)
    wav = 0.1 * torch.randn(batch_size, samples, device=device)
    lengths = torch.full((batch_size,), samples, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)

    def train_step():
        with autocast:
            frame_logits, _, _ = model(wav, lengths)
        labels = torch.randint(0, 2, frame_logits.shape[:2], device=device)
        loss = torch.nn.functional.cross_entropy(frame_logits.float().flatten(0, 1),
                                                 labels.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.inference_mode()
    def infer_step():
        with autocast:
            model(wav, lengths)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model.train()
    train_s = timed(train_step, steps, warmup, device)
    model.eval()
    infer_s = timed(infer_step, steps, warmup, device)
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == "cuda" else None
    return {"dtype": str(dtype).replace("torch.", ""), "batch_size": batch_size,
            "seconds": seconds, "train_chunks_per_s": batch_size / train_s,
            "infer_utts_per_s": batch_size / infer_s, "peak_mib": peak}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON Lines file to append to")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    with open(CONFIG) as f:
        config = yaml.safe_load(f)
    model = build_model(config).to(device)
    if args.smoke:
        runs = [(torch.float32, 2, 1.0, 2, 1)]
    else:
        runs = [(dtype, 64, 4.0, 20, 5) for dtype in (torch.float32, torch.bfloat16)]
    with open(args.out, "a") as f:
        for dtype, batch_size, seconds, steps, warmup in runs:
            row = {"model": config["model"], "device": str(device),
                   **measure(model, device, dtype, batch_size, seconds, steps, warmup)}
            print(json.dumps(row))
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
