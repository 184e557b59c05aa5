"""Wall-clock start-up of the command line (issue 17.2): help, a tiny evaluate, one file detected.

    python benchmarks/startup_time.py [--bundle DIR --wav FILE] [--repeats 5] [--json out.jsonl]

Each command runs in a fresh interpreter (`python -m wedefense.cli.main ...`, what the
`wedefense` console script runs), the median of the repeats is reported with the machine's load.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(argv, repeats):
    env = {**os.environ, "PYTHONPATH": REPO}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, *argv], env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), sorted(times)


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
        if args.bundle and args.wav:
            for backend in ("pytorch", "torchscript", "onnx"):
                commands[f"wedefense detect --backend {backend} (one file)"] = cli + [
                    "detect", "--model", args.bundle, "--backend", backend, args.wav]
        result = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg(), "seconds": {}}
        for name, argv in commands.items():
            median, times = timed(argv, args.repeats)
            result["seconds"][name] = {"median": round(median, 3),
                                       "all": [round(t, 3) for t in times]}
            print(f"{name:50s} {median:6.2f} s  ({', '.join(f'{t:.2f}' for t in times)})",
                  flush=True)
    result["load_average_after"] = os.getloadavg()
    print(f"load average before {result['load_average_before']}, "
          f"after {result['load_average_after']}")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
