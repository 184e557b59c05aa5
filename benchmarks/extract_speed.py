"""Stage 4 extraction speed: length-sorted batches vs one utterance at a time.

    python benchmarks/extract_speed.py [--num_utts 64] [--model_args.m_channels 8] [--threads 2]

Writes synthetic utterances (uniform 1-6 s at 16 kHz, the range of ASVspoof utterances) and a
randomly initialised model of the given size (speed does not depend on the weights), then embeds
all utterances twice with the same model and threads:

- one at a time: read each file and run the model on a (1, N) batch, as a naive loop does;
- batched: ``wedefense.bin.extract.embed_items``, the code stage 4 runs (length-sorted padded
  batches of at most --max_batch_seconds of audio).

Reports utterances per second and the real-time factor (processing time / audio duration, lower
is faster), and checks that the two give the same embeddings (to 1e-4). Results are appended to
benchmarks/results/extract_speed.jsonl.
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

from wedefense.bin.extract import embed_items
from wedefense.dataset.audio import load_audio
from wedefense.models.registry import build_model

HERE = os.path.dirname(os.path.abspath(__file__))


def make_corpus(root, num_utts, seed=0, sample_rate=16000):
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    items, total = [], 0.0
    for i in range(num_utts):
        seconds = rng.uniform(1.0, 6.0)
        n = int(seconds * sample_rate)
        t = np.arange(n) / sample_rate
        wav = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 300) * t) + 0.05 * rng.standard_normal(n)
        path = os.path.join(root, f"utt{i:04d}.wav")
        soundfile.write(path, wav.astype(np.float32), sample_rate, subtype="PCM_16")
        items.append({"key": f"utt{i:04d}", "wav": path})
        total += n / sample_rate
    return items, total


def one_at_a_time(model, items, sample_rate):
    out = {}
    with torch.inference_mode():
        for it in items:
            wav = torch.from_numpy(load_audio(it["wav"], sample_rate)).unsqueeze(0)
            out[it["key"]] = model.embed(wav)[0].numpy()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_utts", type=int, default=64)
    parser.add_argument("--m_channels", type=int, default=8, help="8: the demo; 32: ResNet18")
    parser.add_argument("--embed_dim", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--max_batch_seconds", type=float, default=50.0,
                        help="the CPU default of extract.py")
    parser.add_argument("--repeats", type=int, default=2,
                        help="corpora timed (each with new lengths); times are summed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = {"classes": ["bonafide", "spoof"], "frontend": "fbank",
              "frontend_args": {"num_mel_bins": 80}, "model": "ResNet18",
              "model_args": {"m_channels": args.m_channels, "embed_dim": args.embed_dim}}
    torch.manual_seed(0)
    model = build_model(config).eval()
    # Each repeat gets a fresh corpus (new lengths): oneDNN builds and caches conv kernels per
    # input shape, so re-running the same lengths would time a warm cache no real set sees.
    timings = {"one_at_a_time": [], "batched": []}
    audio_seconds, diff = 0.0, 0.0
    with tempfile.TemporaryDirectory() as root:
        warm, _ = make_corpus(os.path.join(root, "warm"), 2, seed=999)
        one_at_a_time(model, warm, 16000)  # warm-up (imports, allocator)
        for r in range(args.repeats):
            items, seconds = make_corpus(os.path.join(root, str(r)), args.num_utts, seed=r)
            audio_seconds += seconds
            outputs = {}
            runs = {"one_at_a_time": lambda it=items: one_at_a_time(model, it, 16000),
                    "batched": lambda it=items: embed_items(model, it, 16000, "cpu",
                                                            args.max_batch_seconds, 64, 0)}
            for name, run in runs.items():
                start = time.perf_counter()
                outputs[name] = run()
                timings[name].append(time.perf_counter() - start)
            single, batched = outputs["one_at_a_time"], outputs["batched"]
            diff = max([diff] + [float(np.abs(single[k] - batched[k]).max()) for k in single])
    num_utts = args.num_utts * args.repeats
    result = {
        "model": f"ResNet18 m_channels={args.m_channels} embed_dim={args.embed_dim} fbank80",
        "num_utts": num_utts, "audio_seconds": round(audio_seconds, 1),
        "max_batch_seconds": args.max_batch_seconds,
        "threads": args.threads, "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__, "max_abs_diff": diff,
    }
    for name, times in timings.items():
        seconds = sum(times)
        result[name] = {"seconds": round(seconds, 3),
                        "utts_per_s": round(num_utts / seconds, 2),
                        "rtf": round(seconds / audio_seconds, 5)}
    result["speedup"] = round(sum(timings["one_at_a_time"]) / sum(timings["batched"]), 2)
    print(json.dumps(result, indent=2))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "extract_speed.jsonl"), "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
