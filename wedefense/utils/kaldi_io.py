"""Kaldi ark/scp vectors (float32), written so no reader ever sees a half-written pair."""

import os

import kaldiio
import numpy as np

from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_path


def write_vectors(ark_path, scp_path, items):
    """Write ``(key, vector)`` pairs; the scp points at ``ark_path`` as given.

    kaldiio records the ark's own name in the scp, so the ark is written under a temporary
    name, the scp lines are re-pointed at the final name, and both are renamed into place.
    """
    # the ark is renamed into place before the scp that points into it
    with atomic_path(scp_path) as tmp_scp, atomic_path(ark_path) as tmp_ark:
        with kaldiio.WriteHelper(f"ark,scp:{tmp_ark},{tmp_scp}") as writer:
            for key, vector in items:
                writer(key, np.asarray(vector, dtype=np.float32))
        with open(tmp_scp, encoding="utf-8") as f:
            lines = f.readlines()
        with open(tmp_scp, "w", encoding="utf-8") as f:
            for line in lines:
                key, location = line.rstrip("\n").split(" ", 1)
                offset = location.rsplit(":", 1)[1]
                f.write(f"{key} {ark_path}:{offset}\n")


def read_vectors(scp_path):
    """``[(key, float32 vector)]`` in scp order."""
    if not os.path.isfile(scp_path):
        raise InputError("scp file not found", scp_path)
    try:
        return [(k, np.asarray(v, dtype=np.float32))
                for k, v in kaldiio.load_scp_sequential(scp_path)]
    except Exception as e:  # kaldiio raises bare Exceptions for bad offsets and formats
        raise InputError(f"cannot read vectors: {e}", scp_path) from None
