"""Training throughput and peak memory of SSL front-end + MHFA models (issue 8's GPU check).

Randomly initialised wav2vec 2.0 architectures (nothing downloaded): ``base`` (95M, 12 layers,
768 wide, group-norm feature encoder) and ``large`` (the 300M XLS-R / wav2vec 2.0 large shape:
24 layers, 1024 wide, layer-norm feature encoder), each with the SSL_MHFA back-end, trained
with the SSL model ``frozen`` and ``finetuned`` (conv feature encoder frozen, as in the recipes).
One step = waveform batch -> SSL model -> MHFA -> linear head -> cross-entropy -> backward ->
AdamW step, under bf16 autocast on CUDA. Reports utterances/s, seconds of audio per second and
peak GPU memory (``torch.cuda.max_memory_allocated``).

    # on an H100 (the issue's setting: batch 32 x 4 s, bf16)
    python benchmarks/ssl_gpu_throughput.py --out benchmarks/results/ssl_gpu.md
    # CPU smoke run on a tiny architecture (proves the script works)
    python benchmarks/ssl_gpu_throughput.py --tiny --device cpu --batch_size 2 --seconds 1 \\
        --steps 2 --warmup 1
"""

import argparse
import gc
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wedefense.models.param_groups import build_param_groups  # noqa: E402
from wedefense.models.registry import build_model, count_parameters  # noqa: E402

ARCHS = {
    "base": {"model_type": "wav2vec2", "hidden_size": 768, "num_hidden_layers": 12,
             "num_attention_heads": 12, "intermediate_size": 3072,
             "feat_extract_norm": "group", "do_stable_layer_norm": False},
    "large": {"model_type": "wav2vec2", "hidden_size": 1024, "num_hidden_layers": 24,
              "num_attention_heads": 16, "intermediate_size": 4096,
              "feat_extract_norm": "layer", "do_stable_layer_norm": True},
    "tiny": {"model_type": "wav2vec2", "hidden_size": 32, "num_hidden_layers": 2,
             "num_attention_heads": 2, "intermediate_size": 64, "conv_dim": [16, 16, 16],
             "conv_stride": [5, 2, 2], "conv_kernel": [10, 3, 3],
             "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2,
             "feat_extract_norm": "layer", "do_stable_layer_norm": True},
}
MHFA = {"num_heads": 64, "compression_dim": 128, "embed_dim": 256}


def run_case(arch, mode, args, device):
    torch.manual_seed(0)
    config = {"classes": ["bonafide", "spoof"], "frontend": "ssl",
              "frontend_args": {"config": ARCHS[arch], "freeze": mode == "frozen",
                                "gradient_checkpointing": args.gradient_checkpointing},
              "model": "SSL_MHFA", "model_args": MHFA,
              "optimizer_args": {"lr": 1e-3}, "frontend_lr_ratio": 0.05}
    model = build_model(config).to(device).train()
    optimizer = torch.optim.AdamW(build_param_groups(model, config), lr=1e-3)
    wavs = 0.1 * torch.randn(args.batch_size, int(args.seconds * 16000), device=device)
    labels = torch.randint(0, 2, (args.batch_size,), device=device)
    use_bf16 = device.type == "cuda" and args.dtype == "bf16"

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(wavs, None, labels)
            loss = model.projection.loss(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    utts = args.batch_size * args.steps / elapsed
    row = {"arch": arch, "mode": mode,
           "params_M": round(count_parameters(model) / 1e6, 2),
           "trainable_M": round(sum(p.numel() for p in model.parameters()
                                    if p.requires_grad) / 1e6, 2),
           "batch": args.batch_size, "seconds": args.seconds,
           "dtype": "bf16" if use_bf16 else "fp32", "steps": args.steps,
           "step_s": round(elapsed / args.steps, 4), "utts_per_s": round(utts, 2),
           "audio_s_per_s": round(utts * args.seconds, 1),
           "peak_mem_GiB": (round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)
                            if device.type == "cuda" else None)}
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["base", "large"], choices=sorted(ARCHS))
    parser.add_argument("--modes", nargs="+", default=["frozen", "finetuned"],
                        choices=["frozen", "finetuned"])
    parser.add_argument("--tiny", action="store_true", help="only the tiny architecture")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--gradient_checkpointing", action="store_true")
    parser.add_argument("--out", help="also write the Markdown table here")
    args = parser.parse_args()
    device = torch.device(args.device)
    archs = ["tiny"] if args.tiny else args.archs
    rows = []
    for arch in archs:
        for mode in args.modes:
            row = run_case(arch, mode, args, device)
            gc.collect()  # free the previous model before the next one is built
            if device.type == "cuda":
                torch.cuda.empty_cache()
            print(json.dumps(row), flush=True)
            rows.append(row)
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"CPU ({torch.get_num_threads()} threads)")
    header = ["arch", "mode", "params_M", "trainable_M", "batch", "seconds", "dtype", "step_s",
              "utts_per_s", "audio_s_per_s", "peak_mem_GiB"]
    lines = [f"device: {name}; torch {torch.__version__}; gradient checkpointing "
             f"{'on' if args.gradient_checkpointing else 'off'}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
