"""Stage 4 extraction speed: length-sorted batches vs one utterance at a time.

    python benchmarks/extract_speed.py [--num_utts 64] [--m_channels 8] [--device cuda]

Writes synthetic utterances (uniform 1-6 s at 16 kHz, the range of ASVspoof utterances) and a
randomly initialised model of the given size (speed does not depend on the weights), then embeds
all utterances twice with the same model and threads:

- one at a time: read each file and run the model on a (1, N) batch, as a naive loop does;
- batched: ``wedefense.bin.extract.embed_items``, the code stage 4 runs (length-sorted padded
  batches of at most --max_batch_seconds of audio; several values give a sweep).

Reports utterances per second and the real-time factor (processing time / audio duration, lower
is faster), and checks that the two give the same embeddings (to 1e-4). Results are appended to
--out (default benchmarks/results/extract_speed.jsonl).
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
from wedefense.dataset.loader import default_batch_seconds
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


def one_at_a_time(model, items, sample_rate, device="cpu"):
    out = {}
    with torch.inference_mode():
        for it in items:
            wav = torch.from_numpy(load_audio(it["wav"], sample_rate)).unsqueeze(0)
            out[it["key"]] = model.embed(wav.to(device))[0].float().cpu().numpy()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_utts", type=int, default=64)
    parser.add_argument("--m_channels", type=int, default=8, help="8: the demo; 32: ResNet18")
    parser.add_argument("--embed_dim", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--max_batch_seconds", type=float, nargs="+", default=None,
                        help="padded audio seconds per batch; several values: a sweep "
                             "(default: extract.py's default for the device)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "extract_speed.jsonl"),
                        help="append the JSON result here")
    parser.add_argument("--repeats", type=int, default=2,
                        help="corpora timed (each with new lengths); times are summed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = {"classes": ["bonafide", "spoof"], "frontend": "fbank",
              "frontend_args": {"num_mel_bins": 80}, "model": "ResNet18",
              "model_args": {"m_channels": args.m_channels, "embed_dim": args.embed_dim}}
    torch.manual_seed(0)
    model = build_model(config).eval().to(args.device)
    sweep = args.max_batch_seconds or [default_batch_seconds(args.device)]
    # Each repeat gets a fresh corpus (new lengths): oneDNN builds and caches conv kernels per
    # input shape, so re-running the same lengths would time a warm cache no real set sees.
    batched = {f"batched_{s:g}s": s for s in sweep}
    timings = {name: [] for name in ["one_at_a_time", *batched]}
    audio_seconds, diff = 0.0, 0.0
    with tempfile.TemporaryDirectory() as root:
        warm, _ = make_corpus(os.path.join(root, "warm"), 2, seed=999)
        one_at_a_time(model, warm, 16000, args.device)  # warm-up (imports, allocator)
        for r in range(args.repeats):
            items, seconds = make_corpus(os.path.join(root, str(r)), args.num_utts, seed=r)
            audio_seconds += seconds
            start = time.perf_counter()
            single = one_at_a_time(model, items, 16000, args.device)
            timings["one_at_a_time"].append(time.perf_counter() - start)
            for name, seconds in batched.items():
                start = time.perf_counter()
                out = embed_items(model, items, 16000, args.device, seconds, 64, 0)
                timings[name].append(time.perf_counter() - start)
                diff = max([diff] + [float(np.abs(single[k] - out[k]).max()) for k in single])
    num_utts = args.num_utts * args.repeats
    result = {
        "model": f"ResNet18 m_channels={args.m_channels} embed_dim={args.embed_dim} fbank80",
        "num_utts": num_utts, "audio_seconds": round(audio_seconds, 1),
        "device": (torch.cuda.get_device_name() if args.device.startswith("cuda")
                   else platform.processor() or platform.machine()),
        "threads": args.threads,
        "torch": torch.__version__, "max_abs_diff": diff,
    }
    for name, times in timings.items():
        seconds = sum(times)
        result[name] = {"seconds": round(seconds, 3),
                        "utts_per_s": round(num_utts / seconds, 2),
                        "rtf": round(seconds / audio_seconds, 5)}
    result["speedup"] = {name: round(sum(timings["one_at_a_time"]) / sum(timings[name]), 2)
                         for name in batched}
    print(json.dumps(result, indent=2))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(result) + "\n")
    if diff > 1e-4:
        raise SystemExit(f"batched and one-at-a-time embeddings differ by {diff:.2e} (> 1e-4)")


if __name__ == "__main__":
    main()
