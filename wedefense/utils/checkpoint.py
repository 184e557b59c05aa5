"""Checkpoints: written atomically, so an interrupted save never replaces a good file, and read
with torch's weights-only unpickler, so that loading one never runs code.

Checkpoints and bundles come from strangers. A full ``pickle`` load constructs whatever objects
the file names, which can run any code; ``torch.load(weights_only=True)`` reads only tensors and
plain values (numbers, strings, lists, tuples, dicts) and refuses anything else before it is
built. Every reader of a ``.pt`` file in WeDefense goes through :func:`safe_torch_load`.
"""

import glob
import os
import pickle
import re
import warnings

import torch

from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_path


def save_checkpoint(state, path):
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _refusal(error):
    """Why the weights-only unpickler refused a file, in one line."""
    text = str(error)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return (f"refused: it holds a pickled Python object ({found.group(1)}), which could run "
                "code when loaded; only tensors and plain values (numbers, strings, lists, "
                "dicts) are read")
    found = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    detail = found.group(1).strip().splitlines()[0] if found else "not plain tensors and values"
    return (f"refused: not a file of tensors and plain values ({detail}); pickled Python "
            "objects are never loaded")


def safe_torch_load(path, map_location="cpu", what="checkpoint"):
    """``torch.load(weights_only=True)`` with one-line :class:`InputError` naming ``path`` for a
    missing, damaged or unsafe file (``what`` names the kind of file in the message)."""
    if not os.path.isfile(path):
        raise InputError(f"{what} not found", path)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it then refuses
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" in str(e):
            raise InputError(f"{what} {_refusal(e)}", path) from None
        raise InputError(f"cannot load {what}: {_first_line(e)}", path) from None
    except Exception as e:  # torch raises many types for a damaged file
        raise InputError(f"cannot load {what}: {_first_line(e)}", path) from None


def _first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


def load_checkpoint(path, map_location="cpu"):
    return safe_torch_load(path, map_location)


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
