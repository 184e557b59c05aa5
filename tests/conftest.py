"""Shared fixtures: tiny audio and PartialSpoof-layout trees generated at test time."""

import os
import sys

import numpy as np
import pytest
import soundfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_wav(path, seconds, seed, sample_rate=16000, subtype="PCM_16"):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 120 + 40 * rng.random()
    wav = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.05 * rng.standard_normal(len(t))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, wav.astype(np.float32), sample_rate, subtype=subtype)
    return wav


def make_partialspoof_tree(root, sets=None):
    """A PartialSpoof-layout corpus: database/<set>/con_wav/*.wav plus the CM protocols."""
    sets = sets or {
        "train": [("LA_0079", "CON_T_0000001", "-", "bonafide", 1.0),
                  ("LA_0079", "CON_T_0000002", "A01", "spoof", 1.5),
                  ("LA_0080", "CON_T_0000003", "A02", "spoof", 0.8)],
        "dev": [("LA_0069", "CON_D_0000001", "-", "bonafide", 1.2),
                ("LA_0069", "CON_D_0000002", "A03", "spoof", 0.9)],
        "eval": [("LA_0039", "CON_E_0000001", "-", "bonafide", 1.1),
                 ("LA_0039", "CON_E_0000002", "A05", "spoof", 1.3)],
    }
    proto_dir = os.path.join(root, "database", "protocols", "PartialSpoof_LA_cm_protocols")
    os.makedirs(proto_dir, exist_ok=True)
    for subset, rows in sets.items():
        with open(os.path.join(proto_dir, f"PartialSpoof.LA.cm.{subset}.trl.txt"), "w") as f:
            for i, (spk, utt, attack, key, dur) in enumerate(rows):
                write_wav(os.path.join(root, "database", subset, "con_wav", utt + ".wav"), dur, i)
                f.write(f"{spk} {utt} - {attack} {key}\n")
    return sets


@pytest.fixture
def partialspoof_tree(tmp_path):
    root = tmp_path / "PartialSpoof"
    rows = make_partialspoof_tree(str(root))
    return str(root), rows


@pytest.fixture
def repo_env():
    """Environment for subprocesses: the repo importable, the test's python first on PATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    return env
