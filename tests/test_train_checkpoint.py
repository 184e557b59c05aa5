"""Checkpoints reach the disk before they take their final name; resume state is plain values
that load without running code, and an older checkpoint is refused in one line."""

import os
import random

import numpy as np
import pytest
import torch

from tests.test_train import load_weights_only
from wedefense.training import checkpoint_state
from wedefense.training.checkpoint_state import rng_state, seed_everything, set_rng_state
from wedefense.utils.checkpoint import load_checkpoint, save_checkpoint
from wedefense.utils.errors import InputError


def test_checkpoint_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    path = tmp_path / "models" / "model_1.pt"
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        name = os.readlink(f"/proc/self/fd/{fd}")
        synced.append((name, os.fstat(fd).st_size, path.exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    save_checkpoint({"model": {"w": torch.arange(1000.0)}, "epoch": 1}, path)
    size = path.stat().st_size
    # the temporary file, complete, while the final name did not exist yet
    assert [(os.path.dirname(n), s, e) for n, s, e in synced] == \
        [(str(path.parent), size, False)]
    assert synced[0][0] != str(path)
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.arange(1000.0))
    assert os.listdir(path.parent) == ["model_1.pt"]


def test_rng_state_is_plain_and_restores_every_generator(tmp_path):
    seed_everything(5)
    torch.save(rng_state(), tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1))
    seed_everything(6)
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected


def test_old_numpy_rng_state_still_restores_once_loaded():
    # what a checkpoint of an older WeDefense holds, as an unsafe load returns it
    seed_everything(5)
    old = {"python": random.getstate(), "numpy": np.random.get_state(),
           "torch": torch.get_rng_state()}
    expected = np.random.rand()
    seed_everything(6)
    set_rng_state(old)
    assert np.random.rand() == expected


def test_old_checkpoint_is_refused_in_one_line_when_loading_runs_no_code(tmp_path, monkeypatch,
                                                                         capsys):
    models = tmp_path / "exp" / "models"
    state = {"model": {}, "epoch": 1, "best": np.float64(0.25),
             "rng": [{"python": random.getstate(), "numpy": np.random.get_state(),
                      "torch": torch.get_rng_state()}]}
    save_checkpoint(state, models / "model_1.pt")
    monkeypatch.setattr(checkpoint_state, "load_checkpoint", load_weights_only)
    with pytest.raises(InputError) as e:
        checkpoint_state.load_resume_checkpoint(str(models / "model_1.pt"))
    message = str(e.value)
    assert "\n" not in message and "older WeDefense" in message and "model_1.pt" in message
    # a damaged file keeps load_checkpoint's own message
    (models / "model_2.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot load checkpoint"):
        checkpoint_state.load_resume_checkpoint(str(models / "model_2.pt"))
