"""What ``model_<epoch>.pt`` holds to resume a run exactly: weights, optimiser, schedulers,
early stopping and every rank's RNG states, all as tensors and plain Python values, so that
``torch.load(path, weights_only=True)`` reads it (loading a checkpoint runs no code)."""

import random
from dataclasses import dataclass

import numpy as np
import torch

from wedefense.training.early_stopping import EarlyStopping
from wedefense.utils import distributed as dist_utils
from wedefense.utils.checkpoint import load_checkpoint, save_checkpoint
from wedefense.utils.errors import InputError


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def rng_state():
    """This process's RNG states as plain values: python's is a tuple of ints already; numpy's
    key array becomes an int64 tensor."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(),
             "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss),
                       "cached_gaussian": float(cached)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    random.setstate(state["python"])
    numpy = state["numpy"]
    if isinstance(numpy, dict):
        numpy = (numpy["name"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"],
                 numpy["has_gauss"], numpy["cached_gaussian"])
    np.random.set_state(numpy)  # a tuple: a checkpoint of an older WeDefense, loaded unsafely
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class TrainingState:
    """What an epoch changes and a checkpoint restores."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: object
    margin_scheduler: object  # None without a margin schedule
    stopping: EarlyStopping


def save_epoch(state, path, epoch, rank, pending_validation=False):
    """Write ``model_<epoch>.pt``; a collective (every rank's RNG state is gathered)."""
    rng_states = dist_utils.all_gather_objects(rng_state())
    if rank == 0:
        save_checkpoint({
            "model": state.model.state_dict(), "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(), "scaler": state.scaler.state_dict(),
            "epoch": epoch, "rng": rng_states, **state.stopping.state_dict(),
            "pending_validation": pending_validation,
            "margin": state.margin_scheduler and state.margin_scheduler.state_dict(),
        }, path)


def load_resume_checkpoint(path):
    """``load_checkpoint``, whose refusal of an older WeDefense's checkpoint (numpy RNG arrays
    and scalars, which only unsafe unpickling reads) says so in one line."""
    try:
        return load_checkpoint(path)
    except InputError:
        try:  # lists the classes the pickle names, without unpickling it
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # a damaged file: load_checkpoint's own message says more
            unsafe = []
        if not any(name.startswith("numpy") for name in unsafe):
            raise
    raise InputError("saved by an older WeDefense: its numpy RNG state needs unsafe "
                     "unpickling, which resuming does not do; train again from scratch (or "
                     "finish this run with the WeDefense that started it)", path)


def resume(state, path, rank):
    """Restore ``state`` and this rank's RNG from ``path``; returns the checkpoint's dict."""
    saved = load_resume_checkpoint(path)
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    state.scaler.load_state_dict(saved["scaler"])
    set_rng_state(saved["rng"][rank] if rank < len(saved["rng"]) else saved["rng"][0])
    if state.margin_scheduler is not None:
        state.margin_scheduler.load_state_dict(saved["margin"])
    state.stopping.load_state_dict(saved)
    return saved
