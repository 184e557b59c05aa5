"""CPU training throughput of each zoo model, in 3-second chunks per second.

SSL back-ends (SSL_*) are timed on their own, on random hidden states shaped like XLS-R 300M's
for the chunk (25 layers x 50 frames/s x 1024; the SSL model itself is the same for all of them
and dominates on a CPU): their parameter count is the back-end's plus the head.

One training step = waveform batch -> front-end (inside the model, as in training) -> backbone ->
linear head -> cross-entropy -> backward -> Adam step, on random 16 kHz audio (speed does not
depend on the content). A few warm-up steps are not timed. Prints a Markdown table; ``--out``
also writes it with the machine description.

    python benchmarks/model_throughput.py --threads 2 --batch_size 16 --steps 3 \\
        --out benchmarks/results/model_throughput.md
"""

import argparse
import os
import platform
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wedefense.models.projections import build_projection  # noqa: E402
from wedefense.models.registry import BACKBONES, build_model, count_parameters  # noqa: E402

# the configurations of egs/detection/*/v03_resnet18/conf/{resnet,resnet34,lcnn_lstm,aasist*}
MODELS = {
    "ResNet18": {"frontend": "fbank", "frontend_args": {"num_mel_bins": 80}},
    "ResNet34": {"frontend": "fbank", "frontend_args": {"num_mel_bins": 80}},
    "LCNN_LSTM": {"frontend": "lfcc", "frontend_args": {}},
    "AASIST": {"frontend": "raw", "frontend_args": {}},
    "AASIST_L": {"frontend": "raw", "frontend_args": {}},
    "RawNet2": {"frontend": "raw", "frontend_args": {}},
    # the published back-end sizes (egs/detection/*/v15_ssl_mhfa/conf/xlsr300m_*.yaml)
    "SSL_SLS_Utt": {"frontend": "ssl (XLS-R features)", "model_args": {}},
    "SSL_Res1D": {"frontend": "ssl (XLS-R features)", "model_args": {}},
    "SSL_Nes2Net": {"frontend": "ssl (XLS-R features)", "model_args": {}},
    "SSL_gMLP": {"frontend": "ssl (XLS-R features)", "model_args": {}},
}
XLSR_LAYERS, XLSR_DIM, XLSR_FRAMES_PER_S = 25, 1024, 50


class _BackendOnly(torch.nn.Module):
    """An SSL back-end plus a linear head, fed hidden states directly."""

    def __init__(self, name):
        super().__init__()
        self.backbone = BACKBONES[name](feat_dim=XLSR_DIM, num_layers=XLSR_LAYERS,
                                        **MODELS[name]["model_args"])
        self.projection = build_projection(self.backbone.embed_dim, 2)

    def forward(self, hidden, frames, labels):
        return self.projection(self.backbone(hidden, frames), labels)


def machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = f"{names[0]} ({len(names)} logical CPUs visible)" if names else cpu
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}; torch {torch.__version__}; {torch.get_num_threads()} threads; "
            f"1-min load average at start {load:.1f}")


def measure(name, batch_size, seconds, steps, warmup):
    torch.manual_seed(0)
    labels = torch.randint(0, 2, (batch_size,))
    if name.startswith("SSL_"):
        model = _BackendOnly(name).train()
        frames = int(XLSR_FRAMES_PER_S * seconds)
        inputs = (torch.randn(batch_size, XLSR_LAYERS, frames, XLSR_DIM),
                  torch.full((batch_size,), frames), labels)
    else:
        config = {"classes": ["bonafide", "spoof"], "model": name, **MODELS[name]}
        model = build_model(config).train()
        inputs = (0.1 * torch.randn(batch_size, int(16000 * seconds)), None, labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    timings = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        logits = model(*inputs)
        loss = model.projection.loss(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            timings.append(time.perf_counter() - start)
    per_step = sum(timings) / len(timings)
    return {"model": name, "frontend": MODELS[name]["frontend"], "params": count_parameters(model),
            "s_per_step": per_step, "chunks_per_s": batch_size / per_step}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0, help="chunk length")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="also write the Markdown report here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    header = machine()
    rows = []
    for name in args.models:
        row = measure(name, args.batch_size, args.seconds, args.steps, args.warmup)
        rows.append(row)
        print(f"{name}: {row['chunks_per_s']:.2f} chunks/s ({row['s_per_step']:.2f} s/step)",
              file=sys.stderr, flush=True)
    lines = [
        "# Model zoo: CPU training throughput",
        "",
        f"Machine: {header}.",
        "",
        f"Batch of {args.batch_size} random {args.seconds:g}-s chunks at 16 kHz; one step is "
        "front-end (in the model) + forward + backward + Adam, linear head; "
        f"{args.warmup} warm-up step(s), mean of {args.steps} timed step(s). Command: "
        f"`python benchmarks/model_throughput.py --threads {args.threads} "
        f"--batch_size {args.batch_size} --steps {args.steps}`.",
        "",
        "| model | front-end | parameters (with 2-class linear head) | s / step | chunks / s |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['frontend']} | {r['params']:,} | "
                     f"{r['s_per_step']:.2f} | {r['chunks_per_s']:.2f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
