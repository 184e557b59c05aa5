"""CPU training speed of the recipes' ResNet18 (32 channels, 80-dim fbank): where a step's time
goes, and the step before/after this project's speed changes, side by side.

One step is what ``wedefense.training.epoch.train_one_epoch`` does: the detection task's forward
(fbank front-end with dither inside the model), linear head loss, backward, grad clip 5, Adam
(lr 1e-3, weight decay 1e-4). ``before`` is the ResNet as it was (length masks multiplied in
every block, out-of-place ReLU, NCHW); ``after`` is the current code with ``channels_last`` as
the recipes set it. Variants run interleaved, round after round, on the same batches; medians of
wall time and of CPU time (user + sys of this process, less sensitive to other jobs' load).

    python benchmarks/train_speed.py compare --rounds 5
    python benchmarks/train_speed.py profile
    python benchmarks/train_speed.py flops
    python benchmarks/train_speed.py check      # loss curves before/after, deterministic
    python benchmarks/train_speed.py loader     # the whole step with a 2-worker loader
"""

import argparse
import collections
import json
import os
import resource
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wedefense.models import resnet  # noqa: E402
from wedefense.models.registry import build_model  # noqa: E402
from wedefense.training.detection import DetectionTask  # noqa: E402

CONFIG = {"classes": ["bonafide", "spoof"], "model": "ResNet18", "frontend": "fbank",
          "frontend_args": {"num_mel_bins": 80, "frame_length_ms": 25.0,
                            "frame_shift_ms": 10.0, "dither": 1.0},
          "model_args": {"m_channels": 32, "embed_dim": 256, "pooling": "TSTP"},
          "projection_args": {"project_type": "linear"}, "grad_clip": 5.0}


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _block_before(self, x, mask):
    out = torch.relu(self.bn1(self.conv1(x))) * mask
    out = self.bn2(self.conv2(out))
    return torch.relu(out + self.shortcut(x)) * mask


def _resnet_before(self, feats, frame_lengths):
    x = feats.transpose(1, 2).unsqueeze(1)
    lengths = frame_lengths
    mask = resnet.time_mask(lengths, x.shape[-1], x.dtype)[:, None, None, :]
    x = torch.relu(self.bn1(self.conv1(x))) * mask
    for stage, stride in zip(self.stages, self.strides):
        for j, block in enumerate(stage):
            if j == 0 and stride != 1:
                lengths = resnet._downsampled(lengths, stride)
                t_out = (x.shape[-1] + stride - 1) // stride
                mask = resnet.time_mask(lengths, t_out, x.dtype)[:, None, None, :]
            x = block(x, mask)
    b, c, f, t = x.shape
    return self.embedding(self.pool(x.reshape(b, c * f, t), lengths))


VARIANTS = ("before", "after_nchw", "after")


def make_model(variant, m_channels=32, seed=0):
    """The model of ``variant`` (see VARIANTS) and its optimiser, same initial weights."""
    torch.manual_seed(seed)
    config = dict(CONFIG, model_args=dict(CONFIG["model_args"], m_channels=m_channels))
    model = build_model(config).train()
    backbone = model.backbone
    if variant == "before":
        backbone.forward = _resnet_before.__get__(backbone)
        for stage in backbone.stages:
            for block in stage:
                block.forward = _block_before.__get__(block)
    if variant == "after":
        model = model.to(memory_format=torch.channels_last)  # as trainer.fit does
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    return model, optimizer


TASK = DetectionTask()


def train_step(model, optimizer, batch):
    """``train_one_epoch``'s step (no grad scaler: it is disabled on CPU)."""
    loss, _, _ = TASK.train_step(model, model, batch, torch.device("cpu"), CONFIG)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CONFIG["grad_clip"])
    optimizer.step()
    return loss.item()


def random_batch(batch_size, seconds, seed):
    g = torch.Generator().manual_seed(seed)
    return (0.1 * torch.randn(batch_size, int(16000 * seconds), generator=g),
            torch.randint(0, 2, (batch_size,), generator=g))


def compare(args):
    variants = args.variants
    models = {v: make_model(v, args.m_channels) for v in variants}
    batch = random_batch(args.batch_size, args.seconds, 1)
    for v in variants:  # warm-up: oneDNN kernel creation, allocator
        train_step(*models[v], batch)
    wall, cpu = collections.defaultdict(list), collections.defaultdict(list)
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        for v in variants:
            t, c = time.perf_counter(), cpu_seconds()
            for _ in range(args.steps):
                train_step(*models[v], batch)
            wall[v].append((time.perf_counter() - t) / args.steps)
            cpu[v].append((cpu_seconds() - c) / args.steps)
            print(f"round {r} {v}: {wall[v][-1]:.2f} s wall, {cpu[v][-1]:.2f} CPU-s / step",
                  file=sys.stderr, flush=True)
        loads.append(os.getloadavg()[0])
    base = statistics.median(cpu[variants[0]])
    print(f"\nbatch {args.batch_size} x {args.seconds:g} s, {torch.get_num_threads()} threads, "
          f"{args.rounds} rounds x {args.steps} steps, load average {min(loads):.1f}-"
          f"{max(loads):.1f}\n")
    base_wall = statistics.median(wall[variants[0]])
    print("| variant | wall s/step (median) | wall speed-up | CPU s/step (median) | "
          "CPU speed-up |")
    print("|---|---:|---:|---:|---:|")
    for v in variants:
        c, w = statistics.median(cpu[v]), statistics.median(wall[v])
        print(f"| {v} | {w:.2f} | {base_wall / w:.2f}x | {c:.2f} | {base / c:.2f}x |")


CATEGORIES = (  # (name, op-name substrings), first match wins: backward first
    ("front-end (fbank, dither, mean norm)", ("fft", "normal_", "log", "unfold")),
    ("convolution backward", ("convolution_backward", "ConvolutionBackward")),
    ("convolution forward", ("mkldnn_convolution", "aten::convolution")),
    ("batch norm backward", ("batch_norm_backward", "NativeBatchNormBackward")),
    ("batch norm forward", ("native_batch_norm",)),
    ("ReLU, mask, residual (fwd + bwd)", ("relu", "clamp_min", "threshold_backward", "aten::mul",
                                          "MulBackward", "aten::add", "ReluBackward")),
    ("optimizer (Adam) + grad clip", ("Adam", "lerp", "addcdiv", "addcmul", "sqrt",
                                      "vector_norm", "_foreach")),
    ("copies / layout", ("copy_", "contiguous", "clone")),
)


def profile(args):
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    for variant in args.variants:
        model, optimizer = make_model(variant, args.m_channels)
        batch = random_batch(args.batch_size, args.seconds, 1)
        train_step(model, optimizer, batch)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.steps):
                train_step(model, optimizer, batch)
        totals = collections.Counter()
        for event in prof.key_averages():
            name = event.key
            category = next((c for c, keys in CATEGORIES if any(k in name for k in keys)),
                            "other")
            totals[category] += event.self_cpu_time_total
        whole = sum(totals.values())
        print(f"\n{variant} (load average {os.getloadavg()[0]:.1f}): self time by category, "
              f"{args.steps} steps\n")
        print("| part | ms / step | share of step |\n|---|---:|---:|")
        for category, _ in CATEGORIES + (("other", ()),):
            print(f"| {category} | {totals[category] / args.steps / 1e3:.0f} | "
                  f"{100 * totals[category] / whole:.1f}% |")
        print(f"| total | {whole / args.steps / 1e3:.0f} | 100% |")
        if args.table:
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def flops(args):
    from torch.utils.flop_counter import FlopCounterMode
    model, optimizer = make_model("after", args.m_channels)
    batch = random_batch(args.batch_size, args.seconds, 1)
    with FlopCounterMode(display=False) as counter:
        train_step(model, optimizer, batch)
    per_chunk = counter.get_total_flops() / args.batch_size
    parts = {str(k): v / args.batch_size / 1e9
             for k, v in counter.get_flop_counts()["Global"].items()}
    n, reps = 2048, 8
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    rates = []
    for _ in range(5):
        t, c = time.perf_counter(), cpu_seconds()
        for _ in range(reps):
            a @ b
        rates.append((2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9,
                      2 * n ** 3 * reps / (cpu_seconds() - c) / 1e9))
    # the same rate through oneDNN (the convolutions' library; torch's matmul goes to MKL,
    # which may not use AVX-512 on AMD CPUs): a stage-3 3x3 convolution, NHWC
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).to(memory_format=torch.channels_last)
    x = torch.randn(16, 128, 20, 75).contiguous(memory_format=torch.channels_last)
    conv_flop = 2 * 9 * 128 * 128 * 20 * 75 * 16 * reps
    with torch.no_grad():
        conv(x)
        for _ in range(5):
            t, c = time.perf_counter(), cpu_seconds()
            for _ in range(reps):
                conv(x)
            rates.append((conv_flop / (time.perf_counter() - t) / 1e9,
                          conv_flop / (cpu_seconds() - c) / 1e9))
    best_cpu = max(r[1] for r in rates)
    print(json.dumps({"gflop_per_chunk_fwd_bwd": per_chunk / 1e9, "by_op": parts,
                      "matmul_2048_gflop_per_wall_s": [round(r[0]) for r in rates[:5]],
                      "matmul_2048_gflop_per_cpu_s": [round(r[1]) for r in rates[:5]],
                      "conv3x3_nhwc_gflop_per_wall_s": [round(r[0]) for r in rates[5:]],
                      "conv3x3_nhwc_gflop_per_cpu_s": [round(r[1]) for r in rates[5:]],
                      "threads": torch.get_num_threads(),
                      "load_average": os.getloadavg()[0]}, indent=1))
    ceiling = 2 * best_cpu / (per_chunk / 1e9)
    print(f"ceiling at the best measured rate on 2 free cores: {ceiling:.1f} chunks/s; "
          f"8.4 chunks/s needs {8.4 * per_chunk / 1e9:.0f} GFLOP/s = "
          f"{100 * 8.4 * per_chunk / 1e9 / (2 * best_cpu):.0f}% of it")


def check(args):
    """Loss curves on the same batches and dither: each variant against ``before``, and
    ``before`` at 1 thread (same maths, another summation order: the float-rounding floor)."""
    curves = {}
    threads = torch.get_num_threads()
    for name, variant, n in (("before", "before", threads), ("before_1_thread", "before", 1),
                             ("after_nchw", "after_nchw", threads), ("after", "after", threads)):
        torch.set_num_threads(n)
        model, optimizer = make_model(variant, args.m_channels, seed=0)
        torch.manual_seed(123)  # dither
        curves[name] = [train_step(model, optimizer,
                                   random_batch(args.batch_size, args.seconds, 100 + i))
                        for i in range(args.steps)]
    torch.set_num_threads(threads)
    ref = curves["before"]
    diffs = {name: max(abs(a - b) / abs(a) for a, b in zip(ref, curve))
             for name, curve in curves.items() if name != "before"}
    print(json.dumps({"losses": curves, "max_relative_difference_to_before": diffs}, indent=1))


def loader(args):
    """Whole steps fed by ``train_loader`` from a raw list of synthetic wavs."""
    import soundfile

    from wedefense.dataset.dataset import read_train_list
    from wedefense.dataset.loader import train_loader
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        lines = []
        for i in range(64):
            path = os.path.join(tmp, f"u{i}.wav")
            soundfile.write(path, (0.1 * rng.standard_normal(int(16000 * rng.uniform(3, 6))))
                            .astype(np.float32), 16000, subtype="PCM_16")
            lines.append(json.dumps({"key": f"u{i}", "lab": ["bonafide", "spoof"][i % 2],
                                     "wav": path}))
        with open(os.path.join(tmp, "raw.list"), "w") as f:
            f.write("\n".join(lines) + "\n")
        items = read_train_list(os.path.join(tmp, "raw.list"), CONFIG["classes"], "raw")
        rows = []
        for workers in args.workers:
            config = {"dataset_args": {"chunk_len": args.seconds},
                      "dataloader_args": {"batch_size": args.batch_size,
                                          "num_workers": workers}}
            dataset, data_loader = train_loader(items, CONFIG["classes"], config)
            dataset.set_epoch(1)
            model, optimizer = make_model("after", args.m_channels)
            batches = iter(data_loader)
            train_step(model, optimizer, next(batches))
            t, c = time.perf_counter(), cpu_seconds()
            for _ in range(args.steps):
                train_step(model, optimizer, next(batches))
            rows.append((workers, (time.perf_counter() - t) / args.steps,
                         (cpu_seconds() - c) / args.steps))
            del batches
        print(f"load average {os.getloadavg()[0]:.1f}")
        for workers, wall, cpu in rows:
            print(f"{workers} workers: {wall:.2f} s wall, {cpu:.2f} CPU-s (main process) / step")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("compare", "profile", "flops", "check", "loader"))
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=["before", "after"])
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--m_channels", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="steps per round / profile / check")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--table", action="store_true", help="profile: also the per-op table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    globals()[args.mode](args)


if __name__ == "__main__":
    main()
