"""End-to-end scoring speed from the command line (issue 17): ``wedefense detect`` with each
backend and stage 4's ``extract.py``, on a folder of 16 kHz files of uniform 1-6 s.

    python benchmarks/detect_speed.py [--num_utts 200] [--m_channels 32] [--rounds 2]

A ResNet18 (80-dim fbank, random weights with non-trivial BatchNorm statistics; speed does not
depend on the weights) is exported as a bundle with model.onnx and model.int8.onnx. Each command
runs as a user runs it, in a fresh process, file reading and start-up included; commands run in
interleaved rounds so that load changes on a shared machine hit them alike, and the best round
counts (extract.py's first round includes exporting its ONNX graph, cached for later rounds).
utt/s = utterances / wall seconds of the whole command. The LLRs of every detect backend are
compared with the pytorch backend's.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile
import torch
import yaml

from wedefense.inference.bundle import export_bundle
from wedefense.models.registry import build_model
from wedefense.utils.checkpoint import save_checkpoint


def make_exp(root, m_channels):
    config = {"classes": ["bonafide", "spoof"], "class_counts": [1, 1], "frontend": "fbank",
              "frontend_args": {"num_mel_bins": 80}, "model": "ResNet18",
              "model_args": {"m_channels": m_channels, "embed_dim": 256},
              "dataset_args": {"sample_rate": 16000}}
    torch.manual_seed(0)
    model = build_model(config)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    os.makedirs(os.path.join(root, "models"))
    with open(os.path.join(root, "config.yaml"), "w") as f:
        yaml.safe_dump(config, f)
    save_checkpoint({"model": model.state_dict()}, os.path.join(root, "models", "avg_model.pt"))


def make_audio(root, num_utts, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(root)
    total = 0.0
    with open(os.path.join(root, "..", "raw.list"), "w") as raw_list:
        for i in range(num_utts):
            n = int(rng.uniform(1.0, 6.0) * 16000)
            t = np.arange(n) / 16000
            wav = (0.3 * np.sin(2 * np.pi * rng.uniform(100, 300) * t)
                   + 0.05 * rng.standard_normal(n))
            path = os.path.join(root, f"utt{i:04d}.wav")
            soundfile.write(path, wav.astype(np.float32), 16000, subtype="PCM_16")
            raw_list.write(json.dumps({"key": f"utt{i:04d}", "wav": path,
                                       "label": "bonafide"}) + "\n")
            total += n / 16000
    return total


def read_llrs(path):
    llrs = {}
    with open(path) as f:
        header = f.readline().split("\t")
        for line in f:
            fields = dict(zip(header, line.rstrip("\n").split("\t")))
            llrs[fields["utt"]] = float(fields["llr"])
    return llrs


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_utts", type=int, default=200)
    parser.add_argument("--m_channels", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    exp, bundle, audio = (os.path.join(tmp, d) for d in ("exp", "bundle", "audio"))
    make_exp(exp, args.m_channels)
    seconds = make_audio(audio, args.num_utts)
    calibration = sorted(os.listdir(audio))[:16]
    export_bundle(os.path.join(exp, "config.yaml"), os.path.join(exp, "models", "avg_model.pt"),
                  bundle, torchscript=False, quantize="int8", int8_tolerance=1e6,
                  quantize_inputs=[os.path.join(audio, f) for f in calibration])
    python = [sys.executable, "-m"]
    commands = {
        f"detect --backend {b}": python + ["wedefense.bin.detect", audio, "--model", bundle,
                                            "--backend", b, "--out",
                                            os.path.join(tmp, f"{b}.tsv")]
        for b in ("auto", "pytorch", "onnx_int8")}
    commands["extract.py (stage 4)"] = python + [
        "wedefense.bin.extract", "--config", os.path.join(exp, "config.yaml"),
        "--model_path", os.path.join(exp, "models", "avg_model.pt"),
        "--data_list", os.path.join(tmp, "raw.list"),
        "--embed_ark", os.path.join(tmp, "emb", "embedding.ark"), "--device", "cpu"]
    times, logs = {name: [] for name in commands}, {}
    for _ in range(args.rounds):
        for name, command in commands.items():
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            times[name].append(time.perf_counter() - start)
            if done.returncode:
                sys.exit(f"{name} failed:\n{done.stderr}")
            logs[name] = [line for line in (done.stdout + done.stderr).splitlines()
                          if "inference path" in line][:1]
    reference = read_llrs(os.path.join(tmp, "pytorch.tsv"))
    result = {"machine": f"{platform.processor() or platform.machine()}, "
                         f"{os.cpu_count()} CPUs, torch {torch.__version__}",
              "load_average": os.getloadavg(), "num_utts": args.num_utts,
              "audio_seconds": round(seconds, 1), "m_channels": args.m_channels, "commands": {}}
    for name in commands:
        entry = {"wall_s_per_round": [round(t, 2) for t in times[name]],
                 "best_wall_s": round(min(times[name]), 2),
                 "utts_per_s": round(args.num_utts / min(times[name]), 1),
                 "log": logs[name]}
        if name.startswith("detect"):
            llrs = read_llrs(os.path.join(tmp, name.split()[-1] + ".tsv"))
            entry["max_abs_llr_diff_vs_pytorch"] = max(abs(llrs[k] - reference[k])
                                                       for k in reference)
        result["commands"][name] = entry
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
