"""Audio reading: any format libsndfile decodes, mixed to mono, resampled to the model's rate."""

import math

import numpy as np
import soundfile
from scipy.signal import resample_poly

from wedefense.utils.errors import InputError


def load_audio(path, sample_rate=16000):
    """Return float32 mono samples in [-1, 1] at ``sample_rate``; InputError if unreadable/empty."""
    try:
        data, sr = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as e:
        raise InputError(f"cannot read audio: {e}", path) from None
    if data.shape[0] == 0:
        raise InputError("audio file has no samples", path)
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if sr != sample_rate:
        g = math.gcd(int(sr), int(sample_rate))
        wav = resample_poly(wav, sample_rate // g, sr // g).astype(np.float32)
    return wav
