"""Start-up of the command line (issue 17.2): help, a tiny evaluate, one file detected.

    python benchmarks/startup_time.py [--bundle DIR --wav FILE] [--repeats 5] [--json out.jsonl]

Each command runs in a fresh interpreter (`python -m wedefense.cli.main ...`, what the
`wedefense` console script runs); the median of the repeats is reported, wall-clock and user+sys
CPU time (less sensitive to a loaded machine than wall-clock), with the machine's load. With a
bundle, the imports of one `detect` (default and pytorch backends) are broken down with
`python -X importtime`.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv, repeats):
    """(wall-clock seconds, user+sys CPU seconds) of each run."""
    env = {**os.environ, "PYTHONPATH": REPO}
    walls, cpus = [], []
    for _ in range(repeats):
        cpu, start = cpu_seconds(), time.perf_counter()
        subprocess.run([sys.executable, *argv], env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_seconds() - cpu)
    return walls, cpus


def import_breakdown(argv, top=12):
    """``[(top-level package, seconds spent importing its modules)]``, largest first, of one
    run: the self time of every module, summed by the package it belongs to."""
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, check=True,
                          capture_output=True, text=True)
    totals = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, _, name = line[len("import time:"):].split("|")
        package = name.strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(own) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", help="a bundle from wedefense export, to time detect")
    parser.add_argument("--wav", help="the audio file detect scores")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="append the result as one JSON line to this file")
    args = parser.parse_args()
    cli = ["-m", "wedefense.cli.main"]
    with tempfile.TemporaryDirectory() as tmp:
        scores, key = os.path.join(tmp, "llr.txt"), os.path.join(tmp, "key")
        with open(scores, "w") as f:
            f.write("filename\tcm-score\na\t1.5\nb\t-0.5\nc\t0.25\n")
        with open(key, "w") as f:
            f.write("a bonafide\nb spoof\nc spoof\n")
        commands = {
            "python -c pass": ["-c", "pass"],
            "python -c 'import numpy'": ["-c", "import numpy"],
            "python -c 'import torch'": ["-c", "import torch"],
            "wedefense --help": cli + ["--help"],
            "wedefense evaluate --help": cli + ["evaluate", "--help"],
            "wedefense detect --help": cli + ["detect", "--help"],
            "wedefense evaluate (3 trials)": cli + ["evaluate", "--scores", scores, "--keys", key,
                                                    "--output_json", os.path.join(tmp, "r.json")],
        }
        detect = None
        if args.bundle and args.wav:
            detect = cli + ["detect", "--model", args.bundle, args.wav]
            commands["wedefense detect (one file, default backend)"] = detect
            for backend in ("pytorch", "torchscript", "onnx"):
                commands[f"wedefense detect --backend {backend} (one file)"] = cli + [
                    "detect", "--model", args.bundle, "--backend", backend, args.wav]
        result = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg(), "seconds": {}}
        print(f"{'command':50s} {'wall median':>11s} {'cpu median':>10s}  (wall of each run)")
        for name, argv in commands.items():
            walls, cpus = timed(argv, args.repeats)
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            result["seconds"][name] = {"median": round(wall, 3),
                                       "all": [round(t, 3) for t in sorted(walls)],
                                       "cpu_median": round(cpu, 3)}
            print(f"{name:50s} {wall:9.2f} s {cpu:8.2f} s  "
                  f"({', '.join(f'{t:.2f}' for t in sorted(walls))})", flush=True)
        if detect:
            result["detect_imports"] = {}
            for name, argv in (("default backend", detect),
                               ("--backend pytorch", detect + ["--backend", "pytorch"])):
                top = [(p, round(t, 3)) for p, t in import_breakdown(argv)]
                result["detect_imports"][name] = top
                print(f"imports of one detect, {name} (s, by package): "
                      + ", ".join(f"{p} {t:.2f}" for p, t in top))
    result["load_average_after"] = os.getloadavg()
    print(f"load average before {result['load_average_before']}, "
          f"after {result['load_average_after']}")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
