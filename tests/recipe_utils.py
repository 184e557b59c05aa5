"""Helpers for the recipe tests: run a recipe's shell scripts the way a user does."""

import json
import os
import subprocess
import sys

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
