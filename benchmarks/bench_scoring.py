"""Speed and memory of stage 7 (read scores + key, compute the four Track-1 metrics).

    python benchmarks/bench_scoring.py --trials 1000000            # speed, ours vs reference
    python benchmarks/bench_scoring.py --trials 1000000 --stages   # where our time goes
    python benchmarks/bench_scoring.py --trials 10000000 --memory  # peak RSS of ours only
    python benchmarks/bench_scoring.py --bootstrap 1000 --trials 100000

"reference" is NOT the official ASVspoof5 package (it is not on PyPI and cannot be installed
here): it is our own transcription of the package's documented approach — pandas ``read_csv``
of both TSVs when pandas is importable (else the csv module), a join on the filename, a mergesort
DET, a Python loop over all DET points for minDCF (as the package's ``compute_mindcf`` does), and
``log1p(exp(.))`` for Cllr. Each measurement runs in a fresh subprocess; times are wall-clock.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_files(directory, n, seed=0):
    """llr.txt and key.tsv (ASVspoof5 layout), 10 % bona fide, ids in different orders."""
    rng = np.random.default_rng(seed)
    is_bona = rng.random(n) < 0.1
    scores = np.where(is_bona, rng.normal(2, 1.5, n), rng.normal(-2, 1.5, n))
    ids = np.char.add("E_", np.char.zfill(np.arange(n).astype(str), 10))
    scores_path = os.path.join(directory, "llr.txt")
    key_path = os.path.join(directory, "key.tsv")
    order = rng.permutation(n)  # the score file is not in key order: the join has to work
    with open(scores_path, "w") as f:
        f.write("filename\tcm-score\n")
        for start in range(0, n, 1_000_000):
            part = order[start:start + 1_000_000]
            f.write("".join(f"{u}\t{s!r}\n" for u, s in zip(ids[part].tolist(),
                                                             scores[part].tolist())))
    with open(key_path, "w") as f:
        f.write("filename\tcm-label\n")
        labels = np.where(is_bona, "bonafide", "spoof")
        for start in range(0, n, 1_000_000):
            part = slice(start, start + 1_000_000)
            f.write("".join(f"{u}\t{lab}\n"
                            for u, lab in zip(ids[part].tolist(), labels[part].tolist())))
    return scores_path, key_path


OURS = """
import json, resource, sys, time
start = time.perf_counter()
from wedefense.metrics.scores_io import read_trials
from wedefense.metrics.detection import compute_metrics
trials = read_trials(sys.argv[1], sys.argv[2])
metrics = compute_metrics(trials.bona, trials.spoof)
elapsed = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
metrics.update(seconds=elapsed, peak_rss_mb=rss)
print(json.dumps(metrics))
"""

# Ours, stage by stage (the private steps read_trials is made of).
STAGES = """
import json, sys, time
marks = [time.perf_counter()]
import numpy as np
marks.append(time.perf_counter())
from wedefense.metrics import scores_io
from wedefense.metrics.detection import compute_metrics
marks.append(time.perf_counter())
score_ids, values, _ = scores_io._read_columns(sys.argv[1], "cm-score", duplicates=False)
marks.append(time.perf_counter())
key_ids, is_bona, _ = scores_io._read_columns(sys.argv[2], "cm-label", duplicates=False)
marks.append(time.perf_counter())
index = scores_io.align_ids(key_ids, score_ids)
scores = values[index]
marks.append(time.perf_counter())
compute_metrics(scores[is_bona], scores[~is_bona])
marks.append(time.perf_counter())
names = ["import numpy", "import wedefense", "parse scores", "parse key", "join ids",
         "metrics"]
print(json.dumps({n: b - a for n, a, b in zip(names, marks, marks[1:])}))
"""

REFERENCE = """
import json, resource, sys, time
import numpy as np
start = time.perf_counter()
try:
    import pandas as pd
    scores = pd.read_csv(sys.argv[1], sep="\\t", header=0).set_index("filename")
    keys = pd.read_csv(sys.argv[2], sep="\\t", header=0).set_index("filename")
    assert set(scores.index) == set(keys.index)
    joined = scores.join(keys)
    s, k = joined["cm-score"].to_numpy(), joined["cm-label"].to_numpy()
    loader = "pandas"
except ImportError:
    import csv
    with open(sys.argv[2]) as f:
        rows = csv.reader(f, delimiter="\\t"); next(rows)
        key = {u: lab for u, lab in rows}
    with open(sys.argv[1]) as f:
        rows = csv.reader(f, delimiter="\\t"); next(rows)
        pairs = [(float(v), key[u]) for u, v in rows]
    s = np.array([p[0] for p in pairs]); k = np.array([p[1] for p in pairs])
    loader = "csv"
bona, spoof = s[k == "bonafide"], s[k == "spoof"]
alls = np.concatenate((bona, spoof))
labels = np.concatenate((np.ones(bona.size), np.zeros(spoof.size)))
idx = np.argsort(alls, kind="mergesort"); labels = labels[idx]
tar = np.cumsum(labels); non = spoof.size - (np.arange(1, alls.size + 1) - tar)
frr = np.concatenate(([0], tar / bona.size)); far = np.concatenate(([1], non / spoof.size))
k0 = np.argmin(np.abs(frr - far)); eer = np.mean((frr[k0], far[k0]))
best = float("inf")
for i in range(len(frr)):
    c = 1 * frr[i] * 0.95 + 10 * far[i] * 0.05
    if c < best:
        best = c
min_dcf = best / min(0.95, 0.5)
cllr = 0.5 * (np.mean(np.log1p(np.exp(-bona))) + np.mean(np.log1p(np.exp(spoof)))) / np.log(2)
tau = -np.log(0.95 / 0.5)
act = (0.95 * np.sum(bona < tau) / bona.size + 0.5 * np.sum(spoof >= tau) / spoof.size) / 0.5
elapsed = time.perf_counter() - start
print(json.dumps({"min_dcf": min_dcf, "eer": float(eer), "cllr": float(cllr), "act_dcf": act,
                  "seconds": elapsed, "loader": loader,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code, *args):
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout)


def bench_bootstrap(n, resamples):
    sys.path.insert(0, REPO)
    from wedefense.metrics.bootstrap import bootstrap_intervals
    rng = np.random.default_rng(0)
    n_bona = n // 10
    bona, spoof = rng.normal(2, 1.5, n_bona), rng.normal(-2, 1.5, n - n_bona)
    start = time.perf_counter()
    result = bootstrap_intervals(bona, spoof, num_resamples=resamples, seed=0)
    return {"trials": n, "resamples": resamples, "seconds": time.perf_counter() - start,
            "intervals": result["intervals"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="ours only, report peak RSS")
    parser.add_argument("--stages", action="store_true",
                        help="ours only, seconds per stage (median over the repeats)")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="RESAMPLES")
    parser.add_argument("--json", help="append the result as one JSON line to this file")
    args = parser.parse_args()
    if args.bootstrap:
        result = bench_bootstrap(args.trials, args.bootstrap)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            scores_path, key_path = make_files(tmp, args.trials)
            result = {"trials": args.trials,
                      "file_mb": round(os.path.getsize(scores_path) / 2**20, 1)}
            if args.stages:
                runs = [run(STAGES, scores_path, key_path) for _ in range(args.repeats)]
                result["stage_seconds_median"] = {
                    name: sorted(r[name] for r in runs)[len(runs) // 2] for name in runs[0]}
                args.repeats, args.memory = 0, True  # nothing else
            ours, ref = [], []
            for _ in range(args.repeats):  # interleaved: the load of a shared machine drifts
                ours.append(run(OURS, scores_path, key_path))
                if not args.memory:
                    ref.append(run(REFERENCE, scores_path, key_path))
            if ours:
                result["ours_seconds"] = sorted(o["seconds"] for o in ours)
                result["ours_peak_rss_mb"] = max(o["peak_rss_mb"] for o in ours)
            if not args.memory:
                result["reference_seconds"] = sorted(r["seconds"] for r in ref)
                result["reference_loader"] = ref[0]["loader"]
                result["speedup_median"] = (result["reference_seconds"][len(ref) // 2]
                                            / result["ours_seconds"][len(ours) // 2])
                result["ratio_median"] = 1 / result["speedup_median"]
                result["max_abs_diff"] = {m: abs(ours[0][m] - ref[0][m])
                                          for m in ("min_dcf", "eer", "cllr", "act_dcf")}
    result["cpus"] = os.cpu_count()
    result["load_average"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
