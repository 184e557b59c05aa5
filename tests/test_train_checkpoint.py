"""Checkpoints reach the disk before they take their final name."""

import os

import torch

from wedefense.utils.checkpoint import load_checkpoint, save_checkpoint


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
