"""Under DDP the dev metric that picks best_model.pt is the metric of the saved model."""

import os
import subprocess
import sys

import pytest
import torch
import yaml

from tests.conftest import REPO
from tests.test_train import TINY_CONFIG, make_set, train_args
from wedefense.dataset.dataset import read_raw_list
from wedefense.dataset.tables import read_labels
from wedefense.models.registry import build_model
from wedefense.training.detection import validate


def test_ddp_dev_metric_is_the_saved_models_metric(tmp_path, repo_env):
    make_set(tmp_path, "train", 16)
    make_set(tmp_path, "dev", 6, seed=1)
    # cllr is continuous: a model with other BatchNorm statistics scores differently; one
    # utterance a batch, so both ranks score part of the dev set
    with open(tmp_path / "conf.yaml", "w") as f:
        yaml.safe_dump(dict(TINY_CONFIG, num_epochs=1, best_metric="cllr",
                            validation_args={"max_batch_size": 1}), f)
    exp = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           os.path.join(REPO, "wedefense", "bin", "train.py"), *train_args(tmp_path, exp)]
    repo_env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(cmd, env=repo_env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]

    best = torch.load(exp / "models" / "best_model.pt", weights_only=False)
    assert best["epoch"] == 1
    config = yaml.safe_load(open(exp / "config.yaml"))
    model = build_model(config)
    model.load_state_dict(best["model"])
    items = read_raw_list(tmp_path / "dev" / "raw.list")
    labels = read_labels(tmp_path / "dev" / "utt2lab")
    again = validate(model, items, config, labels, 0, 1, torch.device("cpu"))
    assert again["cllr"] == pytest.approx(best["cllr"], rel=1e-5, abs=1e-6)
