"""Early stopping: the stopping epoch is saved, --resume after it trains nothing, and an epoch
whose validation fails keeps its checkpoint and is validated on --resume."""

import os

import pytest
import torch
import yaml

from tests import test_train
from tests.test_train import train_args
from wedefense.bin import train
from wedefense.training import detection
from wedefense.utils.checkpoint import epoch_checkpoints, model_state

data = test_train.data  # the same tiny train and dev sets (a fixture)
NEVER_BETTER = {"eer": 0.25, "min_dcf": 0.5, "act_dcf": 0.5, "cllr": 1.0}


@pytest.fixture
def constant_dev_metric(monkeypatch):
    """A dev metric that never improves after the first validation; records the epochs."""
    calls = []

    def validate(model, items, config, labels, rank, world_size, device, durations=None):
        calls.append(config)
        return dict(NEVER_BETTER)

    monkeypatch.setattr(detection, "validate", validate)
    return calls


def set_config(data, **changes):
    config = yaml.safe_load(open(data / "conf.yaml"))
    config.update(changes)
    with open(data / "conf.yaml", "w") as f:
        yaml.safe_dump(config, f)


def mtimes(models):
    return {e: os.stat(p).st_mtime_ns for e, p in epoch_checkpoints(models).items()}


@pytest.mark.parametrize("validate_interval, stop_epoch", [(1, 2), (2, 4)])
def test_stopping_epoch_is_saved_and_resume_trains_nothing(data, constant_dev_metric,
                                                           validate_interval, stop_epoch):
    exp = data / "exp"
    set_config(data, num_epochs=7, early_stop_patience=0, save_epoch_interval=5,
               validate_interval=validate_interval)
    options = []
    train.main(train_args(data, exp, *options))
    log = open(exp / "train.log").read()
    assert f"early stop at epoch {stop_epoch}:" in log
    # patience counts validations: with validate_interval 2 two epochs passed, one validation
    assert "no eer improvement in the last 1 validation(s), patience 0" in log
    # not a save interval, yet saved: stage 4 and --resume need the stopping epoch
    assert sorted(epoch_checkpoints(exp / "models")) == [stop_epoch]
    state = torch.load(exp / "models" / f"model_{stop_epoch}.pt", weights_only=False)
    assert state["stale"] == 1 and not state["pending_validation"]

    before, calls = mtimes(exp / "models"), len(constant_dev_metric)
    for _ in range(2):
        train.main(train_args(data, exp, *options, "--resume"))
    assert mtimes(exp / "models") == before and len(constant_dev_metric) == calls
    assert open(exp / "train.log").read().count("early stopping already happened") == 2


def test_failed_validation_keeps_the_epoch_and_resume_validates_it(data, monkeypatch):
    train.main(train_args(data, data / "once"))

    real_validate = detection.validate

    def failing(*args):
        raise RuntimeError("dev set broke")

    monkeypatch.setattr(detection, "validate", failing)
    with pytest.raises(RuntimeError, match="dev set broke"):
        train.main(train_args(data, data / "twice"))
    models = data / "twice" / "models"
    assert sorted(epoch_checkpoints(models)) == [1]  # the trained epoch survived
    assert torch.load(models / "model_1.pt", weights_only=False)["pending_validation"]

    monkeypatch.setattr(detection, "validate", real_validate)
    train.main(train_args(data, data / "twice", "--resume"))
    # the same run as one never interrupted: epoch 1 validated on resume, epoch 2 identical
    for name in ("model_1.pt", "model_2.pt", "best_model.pt"):
        a = torch.load(data / "once" / "models" / name, weights_only=False)
        b = torch.load(models / name, weights_only=False)
        for key in ("epoch", "best", "best_epoch", "stale", "eer"):
            assert a.get(key) == b.get(key), (name, key)
        sa, sb = model_state(data / "once" / "models" / name), model_state(models / name)
        for k in sa:
            assert torch.equal(sa[k], sb[k]), (name, k)
