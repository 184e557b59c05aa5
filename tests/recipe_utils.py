"""Helpers for the recipe tests: run a recipe's shell scripts the way a user does."""

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile

from tests.conftest import REPO

RECIPES = os.path.join(REPO, "egs", "detection")


def recipe_dir(corpus, version="v03_resnet18"):
    return os.path.join(RECIPES, corpus, version)


def run_script(recipe, args, env, check=True):
    """``bash <args...>`` with the recipe directory as working directory."""
    proc = subprocess.run(["bash", *args], cwd=recipe, env=env, capture_output=True, text=True,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def read_lines(path):
    with open(path) as f:
        return [line.rstrip("\n") for line in f]


def make_raw_lists(data, sets, env):
    """Stage 2 exactly as run.sh runs it."""
    for subset in sets:
        d = os.path.join(data, subset)
        subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_raw_list.py"),
                        os.path.join(d, "wav.scp"), os.path.join(d, "utt2lab"),
                        os.path.join(d, "raw.list")], check=True, env=env,
                       capture_output=True)


def check_data_dir(d, rows):
    """``rows``: dicts with utt, wav, label, speaker, attack, dur, in protocol order."""
    assert read_lines(os.path.join(d, "wav.scp")) == [f"{r['utt']} {r['wav']}" for r in rows]
    assert read_lines(os.path.join(d, "utt2lab")) == [f"{r['utt']} {r['label']}" for r in rows]
    assert read_lines(os.path.join(d, "utt2spk")) == [f"{r['utt']} {r['speaker']}" for r in rows]
    assert read_lines(os.path.join(d, "utt2attack")) == [f"{r['utt']} {r['attack']}"
                                                         for r in rows]
    durs = [line.split() for line in read_lines(os.path.join(d, "utt2dur"))]
    assert [u for u, _ in durs] == [r["utt"] for r in rows]
    for (_, dur), r in zip(durs, rows):
        assert abs(float(dur) - r["dur"]) < 1e-3
    lab2utt = {line.split()[0]: line.split()[1:]
               for line in read_lines(os.path.join(d, "lab2utt"))}
    for label in ("bonafide", "spoof"):
        assert lab2utt.get(label, []) == [r["utt"] for r in rows if r["label"] == label]
    items = [json.loads(line) for line in read_lines(os.path.join(d, "raw.list"))]
    assert items == [{"key": r["utt"], "lab": r["label"], "wav": r["wav"]} for r in rows]


# the smallest training that still runs every stage: one epoch of a 4-channel ResNet on
# half-second chunks
TINY_TRAIN = ("--num_epochs 1 --dataloader_args.batch_size 4 --dataset_args.chunk_len 0.5 "
              "--dataloader_args.num_workers 0 --model_args.m_channels 4")


def subprocess_env():
    """What the ``repo_env`` fixture gives, for helpers that run outside a test."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    return env


def run_recipe(recipe, args, env, check=True, timeout=600):
    """``bash run.sh <args...>`` in ``recipe``, as a user runs it."""
    proc = subprocess.run(["bash", "run.sh", *args], cwd=recipe, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"run.sh {args} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def result_rows(results_txt):
    """The first column of each table row of a results_<set>.txt (pooled, attack ids...)."""
    return [line.split()[0] for line in read_lines(results_txt)
            if line[:1].isalnum() and " " in line]


@functools.lru_cache(maxsize=None)
def partialspoof_run():
    """The PartialSpoof recipe's stages 1-7 on its fixture tree, with a tiny training, run once
    per test session: its exp dir is also the trained model the evaluation-only tests score.
    Returns (root, rows, stdout); root holds corpus/, data/ and exp/."""
    from tests.conftest import make_partialspoof_tree

    root = tempfile.mkdtemp(prefix="recipe_partialspoof_")
    atexit.register(shutil.rmtree, root, True)
    rows = make_partialspoof_tree(os.path.join(root, "corpus"), sets={
        "train": [("LA_0079", f"CON_T_{i:07d}", "-" if i % 2 else "A01",
                   "bonafide" if i % 2 else "spoof", 0.6) for i in range(6)],
        "dev": [("LA_0069", f"CON_D_{i:07d}", "-" if i % 2 else "A02",
                 "bonafide" if i % 2 else "spoof", 0.6) for i in range(4)],
        "eval": [("LA_0039", f"CON_E_{i:07d}", "-" if i % 2 else ("A05", "A06")[i % 4 // 2],
                  "bonafide" if i % 2 else "spoof", 0.6) for i in range(6)]})
    proc = run_recipe(recipe_dir("partialspoof"), [
        "--corpus_dir", os.path.join(root, "corpus"), "--data", os.path.join(root, "data"),
        "--exp_dir", os.path.join(root, "exp"), "--num_avg", "1",
        "--train_overrides", TINY_TRAIN], subprocess_env())
    return root, rows, proc.stdout


METRICS = ("min_dcf", "eer", "cllr", "act_dcf")


def read_results(results_json):
    """A stage-7 results_<set>.json, after checking that every metric in it is a finite number:
    the pooled row, each per-attack row and each breakdown row that holds both classes."""
    import math

    with open(results_json) as f:
        results = json.load(f)
    rows = [results, *results.get("per_attack", {}).values()]
    for column_rows in results.get("breakdowns", {}).values():
        rows += [r for r in column_rows.values() if r["num_bonafide"] and r["num_spoof"]]
    for row in rows:
        for metric in METRICS:
            assert math.isfinite(row[metric]), (results_json, metric, row)
    return results


def counts(results_rows):
    """``{row: (num_bonafide, num_spoof)}`` of a per-attack or breakdown table."""
    return {name: (r["num_bonafide"], r["num_spoof"]) for name, r in results_rows.items()}
