"""Every CPU inference path of a bundle side by side (issue 17): utterances per second one at a
time and the largest LLR difference from PyTorch eager fp32.

    python benchmarks/inference_paths.py [--m_channels 32] [--num_utts 8] [--rounds 3]

A ResNet18 (80-dim fbank, random weights with non-trivial BatchNorm statistics; speed does not
depend on the weights) as an :class:`LLRModel`; synthetic utterances uniform 1-6 s held in
memory (no file reading). Paths run in interleaved rounds, so load changes on a shared machine
hit them alike; the median round counts. Also prints the FLOPs per second of audio and the
measured sgemm GFLOP/s of this machine, the bound any exact fp32 path is under.
"""

import argparse
import json
import os
import tempfile
import time
import warnings

import numpy as np
import torch

from wedefense.inference.bundle import LLRModel, export_onnx
from wedefense.inference.fast_paths import fold_batchnorm, onnx_session, quantize_int8
from wedefense.models.registry import build_model


def model(m_channels):
    torch.manual_seed(0)
    config = {"classes": ["bonafide", "spoof"], "frontend": "fbank",
              "frontend_args": {"num_mel_bins": 80}, "model": "ResNet18",
              "model_args": {"m_channels": m_channels, "embed_dim": 256}}
    detector = build_model(config).eval()
    for m in detector.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    return detector


def flops_per_audio_second(detector):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        detector.embed(torch.randn(1, 16000 * 4) * 0.1)
    return counter.get_total_flops() / 4


def sgemm_gflops(threads, n=1024, repeats=20):
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = min(_time(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _time(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--m_channels", type=int, default=32)
    parser.add_argument("--num_utts", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    detector = model(args.m_channels)
    eager = LLRModel(detector, ["bonafide", "spoof"], [1, 1]).eval()
    folded = LLRModel(fold_batchnorm(detector), ["bonafide", "spoof"], [1, 1]).eval()
    channels_last = LLRModel(fold_batchnorm(detector), ["bonafide", "spoof"], [1, 1]).eval()
    channels_last = channels_last.to(memory_format=torch.channels_last)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.freeze(torch.jit.script(folded))
    rng = np.random.default_rng(0)
    utts = [(0.1 * rng.standard_normal(int(rng.uniform(1, 6) * 16000))).astype(np.float32)
            for _ in range(args.num_utts)]
    tmp = tempfile.mkdtemp()
    fp32, int8 = os.path.join(tmp, "m.onnx"), os.path.join(tmp, "m.int8.onnx")
    export_onnx(eager, fp32, 16000)
    quantize_int8(fp32, int8, utts[:4])

    def torch_path(module, threads, bf16=False):
        def run():
            torch.set_num_threads(threads)
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                return np.array([float(module(torch.from_numpy(u)[None],
                                              torch.tensor([len(u)]))[0]) for u in utts])
        return run

    def onnx_path(path, threads):
        session = onnx_session(path, threads)
        return lambda: np.array([float(session.run(None, {
            "wav": u[None], "lengths": np.array([len(u)], np.int64)})[0][0]) for u in utts])

    paths = {}
    for t in (1, 2):
        paths.update({f"pytorch eager, {t}t": torch_path(eager, t),
                      f"pytorch BN folded, {t}t": torch_path(folded, t),
                      f"pytorch BN folded channels_last, {t}t": torch_path(channels_last, t),
                      f"torchscript frozen, {t}t": torch_path(scripted, t),
                      f"pytorch BN folded bf16 autocast, {t}t": torch_path(folded, t, True),
                      f"onnxruntime fp32, {t}t": onnx_path(fp32, t),
                      f"onnxruntime int8 (static QDQ), {t}t": onnx_path(int8, t)})
    for run in paths.values():
        run()  # warm-up
    times, outputs = {name: [] for name in paths}, {}
    for _ in range(args.rounds):
        for name, run in paths.items():
            start = time.perf_counter()
            outputs[name] = run()
            times[name].append(time.perf_counter() - start)
    reference = outputs["pytorch eager, 1t"]
    audio = sum(len(u) for u in utts) / 16000
    result = {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
              "load_average": os.getloadavg(), "torch": torch.__version__,
              "m_channels": args.m_channels, "num_utts": len(utts),
              "audio_seconds": round(audio, 1),
              "gflop_per_audio_second": round(flops_per_audio_second(detector) / 1e9, 3),
              "sgemm_gflops_best": {t: round(sgemm_gflops(t), 1) for t in (1, 2)}, "paths": {}}
    for name in paths:
        result["paths"][name] = {
            "utts_per_s": round(len(utts) / float(np.median(times[name])), 2),
            "max_abs_diff": float(np.abs(outputs[name] - reference).max())}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
