"""Checkpoints: written atomically, so an interrupted save never replaces a good file."""

import glob
import os
import re

import torch

from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_path


def save_checkpoint(state, path):
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path, map_location="cpu"):
    if not os.path.isfile(path):
        raise InputError("checkpoint not found", path)
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # torch raises many types for a damaged file
        raise InputError(f"cannot load checkpoint: {e}", path) from None


def model_state(path, map_location="cpu"):
    """The weights of any of our checkpoints (epoch, best or averaged)."""
    state = load_checkpoint(path, map_location)
    if not isinstance(state, dict) or "model" not in state:
        raise InputError("not a WeDefense checkpoint (no 'model' entry)", path)
    return state["model"]


def epoch_checkpoints(model_dir):
    """``{epoch: path}`` for every ``model_<epoch>.pt``; other files are ignored."""
    found = {}
    for path in glob.glob(os.path.join(model_dir, "model_*.pt")):
        m = re.fullmatch(r"model_(\d+)\.pt", os.path.basename(path))
        if m:
            found[int(m.group(1))] = path
    return dict(sorted(found.items()))
