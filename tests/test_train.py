"""Stage 3: training writes what later stages need, resumes exactly, and runs under torchrun."""

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from tests.conftest import REPO, write_wav
from wedefense.bin import average_model, train
from wedefense.training import checkpoint_state
from wedefense.training.run_config import apply_lr_scaling
from wedefense.utils.checkpoint import epoch_checkpoints, model_state
from wedefense.utils.errors import InputError

TINY_CONFIG = {
    "classes": ["bonafide", "spoof"], "seed": 3, "num_epochs": 2, "early_stop_patience": -1,
    "dataset_args": {"sample_rate": 16000, "chunk_len": 0.5},
    "dataloader_args": {"batch_size": 4, "num_workers": 0},
    "frontend": "fbank", "frontend_args": {"num_mel_bins": 24},
    "model": "ResNet18", "model_args": {"m_channels": 4, "embed_dim": 16},
    "projection_args": {"project_type": "linear"},
    "optimizer": "Adam", "optimizer_args": {"lr": 0.01},
    "scheduler": "cosine", "scheduler_args": {"warmup_epochs": 0.5, "final_ratio": 0.1},
}


def make_set(root, name, n, seed=0):
    """n utterances, alternating labels, as raw.list + utt2lab."""
    os.makedirs(root / name, exist_ok=True)
    with open(root / name / "raw.list", "w") as lst, open(root / name / "utt2lab", "w") as lab:
        for i in range(n):
            utt = f"{name}_{i:03d}"
            label = "bonafide" if i % 2 == 0 else "spoof"
            wav = str(root / "wav" / f"{utt}.wav")
            write_wav(wav, 0.4 + 0.1 * (i % 4), seed * 1000 + i)
            lst.write(json.dumps({"key": utt, "lab": label, "wav": wav}) + "\n")
            lab.write(f"{utt} {label}\n")


@pytest.fixture
def data(tmp_path):
    make_set(tmp_path, "train", 16)
    make_set(tmp_path, "dev", 6, seed=1)
    with open(tmp_path / "conf.yaml", "w") as f:
        yaml.safe_dump(TINY_CONFIG, f)
    return tmp_path


def train_args(data, exp, *extra):
    return ["--config", str(data / "conf.yaml"), "--exp_dir", str(exp),
            "--train_data", str(data / "train" / "raw.list"),
            "--train_label", str(data / "train" / "utt2lab"),
            "--val_data", str(data / "dev" / "raw.list"),
            "--val_label", str(data / "dev" / "utt2lab"), *extra]


def test_train_writes_exp_dir(data):
    exp = data / "exp"
    train.main(train_args(data, exp))
    config = yaml.safe_load(open(exp / "config.yaml"))
    assert config["classes"] == ["bonafide", "spoof"] and config["class_counts"] == [8, 8]
    assert config["data"]["train_data"] == str(data / "train" / "raw.list")
    assert sorted(epoch_checkpoints(exp / "models")) == [1, 2]
    best = torch.load(exp / "models" / "best_model.pt", weights_only=False)
    assert best["epoch"] in (1, 2) and 0.0 <= best["eer"] <= 1.0
    log = open(exp / "train.log").read()
    assert "epoch 1:" in log and "dev_eer" in log
    assert os.listdir(exp / "tensorboard")


def load_weights_only(path, map_location="cpu"):
    """load_checkpoint as it is once it refuses to run code."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise InputError(f"cannot load checkpoint: {e}", path) from None


def test_resume_continues_as_if_never_stopped(data, monkeypatch):
    train.main(train_args(data, data / "once"))
    for name in os.listdir(data / "once" / "models"):  # everything loads without running code
        torch.load(data / "once" / "models" / name, weights_only=True)
    # the same run, interrupted after epoch 1: epoch 2 is redone from model_1.pt alone
    train.main(train_args(data, data / "twice"))
    os.remove(data / "twice" / "models" / "model_2.pt")
    monkeypatch.setattr(checkpoint_state, "load_checkpoint", load_weights_only)
    train.main(train_args(data, data / "twice", "--resume"))
    a = model_state(data / "once" / "models" / "model_2.pt")
    b = model_state(data / "twice" / "models" / "model_2.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_override_with_unknown_key_fails_before_training(data):
    with pytest.raises(SystemExit):
        train.main(train_args(data, data / "exp", "--optimizer_args.lrate", "1"))
    assert not (data / "exp" / "models" / "model_1.pt").exists()


def test_average_model_ignores_other_files(data):
    exp = data / "exp"
    train.main(train_args(data, exp))
    average_model.main(["--src_path", str(exp / "models"), "--num", "2",
                        "--dst_model", str(exp / "models" / "avg_model.pt")])
    avg = model_state(exp / "models" / "avg_model.pt")
    s1 = model_state(exp / "models" / "model_1.pt")
    s2 = model_state(exp / "models" / "model_2.pt")
    for k, v in avg.items():
        if v.is_floating_point():
            assert torch.allclose(v, (s1[k] + s2[k]) / 2, atol=1e-6), k
        else:
            assert torch.equal(v, s2[k]), k


def test_two_process_gloo_training_with_early_stop(data, repo_env):
    exp = data / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           os.path.join(REPO, "wedefense", "bin", "train.py"),
           *train_args(data, exp, "--num_epochs", "4", "--early_stop_patience", "0",
                       "--optimizer_args.lr", "0.0")]
    repo_env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(cmd, env=repo_env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = open(exp / "train.log").read()
    # lr 0: the dev metric never improves after epoch 1, so both ranks stop after epoch 2
    assert "early stop at epoch 2" in log
    assert sorted(epoch_checkpoints(exp / "models")) == [1, 2]
    assert len(torch.load(exp / "models" / "model_2.pt", weights_only=False)["rng"]) == 2


def test_margin_head_and_speed_classes_flow_to_stage6(data, tmp_path):
    config = dict(TINY_CONFIG, projection_args={"project_type": "aam_softmax", "margin": 0.2},
                  margin_scheduler_args={"initial_margin": 0.0, "final_margin": 0.2,
                                         "increase_start_epoch": 1, "fix_start_epoch": 3},
                  augment={"speed_perturb": {"prob": 0.6, "speeds": [0.9, 1.0, 1.1],
                                             "as_classes": True}})
    with open(data / "conf.yaml", "w") as f:
        yaml.safe_dump(config, f)
    exp = data / "exp"
    train.main(train_args(data, exp))
    saved = yaml.safe_load(open(exp / "config.yaml"))
    assert saved["classes"] == ["bonafide", "spoof", "bonafide_sp0.9", "spoof_sp0.9",
                                "bonafide_sp1.1", "spoof_sp1.1"]
    assert saved["bonafide_classes"] == ["bonafide", "bonafide_sp0.9", "bonafide_sp1.1"]
    assert saved["class_counts"] == pytest.approx([4.8, 4.8, 1.6, 1.6, 1.6, 1.6])
    state = torch.load(exp / "models" / "model_2.pt", weights_only=False)
    # the margin grew linearly during epoch 2 (from 0.1 to just under 0.2)
    assert 0.1 <= state["margin"]["margin"] < 0.2
    assert "margin 0.1" in open(exp / "train.log").read()

    # stage 6 reads the bona fide group and the fractional counts from config.yaml
    from wedefense.bin import logits_to_llr
    from wedefense.calibration.llr import logits_to_llr as to_llr
    from wedefense.metrics.scores_io import read_scores
    from wedefense.utils.kaldi_io import write_vectors
    logits = torch.randn(3, 6).numpy()
    write_vectors(str(tmp_path / "l.ark"), str(tmp_path / "l.scp"),
                  zip(["u1", "u2", "u3"], logits))
    logits_to_llr.main(["--logits_scp", str(tmp_path / "l.scp"), "--config",
                        str(exp / "config.yaml"), "--output", str(tmp_path / "llr.txt")])
    expected = to_llr(logits, saved["classes"], saved["class_counts"], saved["bonafide_classes"])
    got = read_scores(tmp_path / "llr.txt")
    assert [got[u] for u in ("u1", "u2", "u3")] == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("rule, factor", [("none", 1.0), ("linear", 4.0), ("sqrt", 2.0)])
def test_lr_scaling_is_explicit_and_applied_once(rule, factor):
    config = {"lr_scaling": rule, "optimizer_args": {"lr": 0.01}}
    apply_lr_scaling(config, world_size=4)
    assert config["optimizer_args"]["lr"] == pytest.approx(0.01 * factor)
    assert config["lr_scaling"] == "none"  # the saved config must not scale again
    apply_lr_scaling(config, world_size=4)
    assert config["optimizer_args"]["lr"] == pytest.approx(0.01 * factor)


def test_unknown_lr_scaling_is_an_error():
    with pytest.raises(InputError, match="unknown lr_scaling"):
        apply_lr_scaling({"lr_scaling": "cubic", "optimizer_args": {"lr": 1}}, 2)


@pytest.mark.parametrize("m_channels, safe", [(8, False), (32, True)])
def test_cpu_channels_last_only_where_onednn_backward_is_safe(m_channels, safe):
    from wedefense.models.registry import build_model
    from wedefense.training.trainer import cpu_channels_last_safe
    model = build_model({"classes": ["bonafide", "spoof"], "frontend": "fbank",
                         "model": "ResNet18", "model_args": {"m_channels": m_channels}})
    assert cpu_channels_last_safe(model) is safe
