"""The demo recipe, driven as a user runs it, on a tiny corpus through stages 0-7."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import yaml

from tests.conftest import REPO
from wedefense.calibration.llr import logits_to_llr
from wedefense.metrics.detection import compute_metrics
from wedefense.metrics.scores_io import read_key, read_scores

RECIPE = os.path.join(REPO, "egs", "detection", "demo", "v03_resnet18")


def lines(path):
    with open(path) as f:
        return [line.rstrip("\n") for line in f]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ["PATH"])
    cmd = ["bash", os.path.join(RECIPE, "run.sh"), "--stage", "0", "--stop_stage", "7",
           "--corpus_dir", str(root / "corpus"), "--data", str(root / "data"),
           "--exp_dir", str(root / "exp"),
           "--corpus_args", "--num_train 16 --num_dev 8 --num_eval 12",
           "--train_overrides", "--num_epochs 2 --dataloader_args.batch_size 8 "
                                "--dataset_args.chunk_len 1.0 --model_args.m_channels 4"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return root, proc.stdout


def test_stage0_corpus_layout(demo_run):
    root, _ = demo_run
    db = root / "corpus" / "database"
    for subset, n in (("train", 16), ("dev", 8), ("eval", 12)):
        proto = db / "protocols" / "PartialSpoof_LA_cm_protocols" / \
            f"PartialSpoof.LA.cm.{subset}.trl.txt"
        rows = [line.split() for line in lines(proto)]
        assert len(rows) == n and all(len(r) == 5 and r[2] == "-" for r in rows)
        for _, utt, _, attack, key in rows:
            assert (db / subset / "con_wav" / f"{utt}.wav").is_file()
            assert (attack == "-") == (key == "bonafide")


def test_stages1_2_data_dirs(demo_run):
    root, _ = demo_run
    for subset in ("train", "dev", "eval"):
        d = root / "data" / subset
        wavs = dict(line.split(" ", 1) for line in lines(d / "wav.scp"))
        labs = dict(line.split() for line in lines(d / "utt2lab"))
        assert wavs.keys() == labs.keys() and set(labs.values()) == {"bonafide", "spoof"}
        durs = dict(line.split() for line in lines(d / "utt2dur"))
        assert durs.keys() == wavs.keys() and all(float(v) > 0.5 for v in durs.values())
        lab2utt = {line.split()[0]: line.split()[1:] for line in lines(d / "lab2utt")}
        assert sorted(u for us in lab2utt.values() for u in us) == sorted(labs)
        raw = [json.loads(line) for line in lines(d / "raw.list")]
        assert [(r["key"], r["lab"], r["wav"]) for r in raw] == \
            [(u, labs[u], wavs[u]) for u in wavs]


def test_stage3_exp_dir(demo_run):
    root, _ = demo_run
    exp = root / "exp"
    config = yaml.safe_load(open(exp / "config.yaml"))
    assert config["model_args"]["m_channels"] == 4 and config["num_epochs"] == 2
    assert config["classes"] == ["bonafide", "spoof"] and sum(config["class_counts"]) == 16
    for name in ("model_1.pt", "model_2.pt", "best_model.pt", "avg_model.pt"):
        assert (exp / "models" / name).is_file()
    assert "epoch 2:" in open(exp / "train.log").read()


def test_stages4_to_7_outputs_agree(demo_run):
    root, stdout = demo_run
    exp = root / "exp"
    config = yaml.safe_load(open(exp / "config.yaml"))
    for subset in ("dev", "eval"):
        keys = [json.loads(line)["key"] for line in lines(root / "data" / subset / "raw.list")]
        emb = dict(kaldiio.load_scp(str(exp / "embeddings" / subset / "embedding.scp")))
        assert list(emb) == keys and all(v.shape == (config["model_args"]["embed_dim"],)
                                         for v in emb.values())
        post_dir = exp / "posteriors" / subset
        logits = dict(kaldiio.load_scp(str(post_dir / "logits.scp")))
        post = dict(kaldiio.load_scp(str(post_dir / "posteriors.scp")))
        assert list(logits) == keys == list(post)
        stacked = np.stack([logits[k] for k in keys])
        np.testing.assert_allclose(np.stack([post[k] for k in keys]),
                                   torch.softmax(torch.from_numpy(stacked), -1).numpy(),
                                   atol=1e-6)
        assert lines(post_dir / "llr.txt")[0] == "filename\tcm-score"
        llr = read_scores(post_dir / "llr.txt")
        np.testing.assert_allclose([llr[k] for k in keys],
                                   logits_to_llr(stacked, config["classes"],
                                                 config["class_counts"]), atol=1e-5)
        key = read_key(root / "data" / subset / "utt2lab")
        expected = compute_metrics([s for u, s in llr.items() if key[u] == "bonafide"],
                                   [s for u, s in llr.items() if key[u] == "spoof"])
        result = json.load(open(exp / f"results_{subset}.json"))
        for name in ("min_dcf", "eer", "cllr", "act_dcf", "num_bonafide", "num_spoof"):
            assert result[name] == pytest.approx(expected[name], abs=1e-12)
        assert "pooled" in result["per_attack"]
        assert (exp / f"results_{subset}.txt").is_file()
        # calibration is monotonic, so it keeps EER while changing Cllr/actDCF
        calibrated = json.load(open(exp / f"results_{subset}_calibrated.json"))
        assert calibrated["eer"] == pytest.approx(result["eer"], abs=1e-12)
        assert calibrated["num_spoof"] == result["num_spoof"]
    assert "A04" in open(exp / "results_eval.txt").read()


def test_rerun_resumes_instead_of_retraining(demo_run):
    root, _ = demo_run
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ["PATH"])
    before = os.path.getmtime(root / "exp" / "models" / "model_2.pt")
    proc = subprocess.run(["bash", os.path.join(RECIPE, "run.sh"), "--stage", "3",
                           "--stop_stage", "3", "--data", str(root / "data"),
                           "--exp_dir", str(root / "exp"),
                           "--train_overrides", "--num_epochs 2 --dataloader_args.batch_size 8 "
                           "--dataset_args.chunk_len 1.0 --model_args.m_channels 4"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resumed from" in proc.stderr
    assert os.path.getmtime(root / "exp" / "models" / "model_2.pt") == before


def test_stage8_bundle_reproduces_calibrated_scores(demo_run):
    root, _ = demo_run
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ["PATH"])
    # a relative exp_dir under the recipe, like the default one (run.sh works in the recipe
    # directory); the folder is ignored by git and removed afterwards
    name = os.path.join("exp", f"pytest_stage8_{os.getpid()}")
    exp = Path(RECIPE) / name
    shutil.copytree(root / "exp", exp)
    try:
        proc = subprocess.run(["bash", os.path.join(RECIPE, "run.sh"), "--stage", "8",
                               "--stop_stage", "8", "--data", str(root / "data"),
                               "--exp_dir", name],
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (exp / "bundle" / "bundle.json").is_file()
        assert (exp / "bundle" / "model.ts").is_file()
        rows = [line.split("\t") for line in lines(exp / "bundle_eval_scores.tsv")[1:]]
        calibrated = read_scores(exp / "posteriors" / "eval" / "llr_calibrated.txt")
    finally:
        shutil.rmtree(exp, ignore_errors=True)
    assert sorted(r[0] for r in rows) == sorted(calibrated)
    for utt, llr, *_ in rows:
        assert float(llr) == pytest.approx(calibrated[utt], abs=1e-4)


def test_stage6_calibrates_only_on_dev_scores_of_this_model(demo_run, tmp_path):
    root, _ = demo_run
    exp = tmp_path / "exp"
    shutil.copytree(root / "exp", exp)  # copy2 keeps the mtimes
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ["PATH"])
    cmd = ["bash", os.path.join(RECIPE, "run.sh"), "--stage", "6", "--stop_stage", "6",
           "--data", str(root / "data"), "--exp_dir", str(exp), "--eval_sets", "eval"]
    # dev not in --eval_sets is fine while its scores are this model's: dev is converted anyway
    os.remove(exp / "posteriors" / "dev" / "llr.txt")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (exp / "posteriors" / "dev" / "llr.txt").is_file()
    # a model newer than the dev scores (say, re-averaged): calibrating on them would be wrong
    model = exp / "models" / "avg_model.pt"
    later = os.path.getmtime(exp / "posteriors" / "dev" / "logits.scp") + 10
    os.utime(model, (later, later))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "stage 6 needs dev scores of" in proc.stderr and "avg_model.pt" in proc.stderr
