"""Reverberation: convolution with a room impulse response from an RIR ``wav.scp``.

The output stays aligned with the input (the RIR's direct-path peak is taken as time zero) and
keeps the input's power, so reverberation changes the sound, not the level.
"""

import numpy as np
from scipy.signal import fftconvolve

from wedefense.dataset.audio import load_audio
from wedefense.dataset.tables import read_table
from wedefense.utils.errors import InputError


def reverberate(wav, rir):
    rir = rir / (np.sqrt(np.sum(rir ** 2)) + 1e-10)
    peak = int(np.argmax(np.abs(rir)))
    out = fftconvolve(wav, rir)[peak:peak + len(wav)]
    gain = np.sqrt((np.mean(wav ** 2) + 1e-10) / (np.mean(out ** 2) + 1e-10))
    return (out * gain).astype(np.float32)


class Reverberator:
    def __init__(self, rir_scp, sample_rate=16000, cache_size=2000):
        self.files = list(read_table(rir_scp, rest=True).values())
        if not self.files:
            raise InputError("no impulse responses", rir_scp)
        self.sample_rate = sample_rate
        self.cache_size = cache_size
        self._cache = {}  # RIRs are short: keep the ones used, up to cache_size

    def __call__(self, wav, rng):
        path = self.files[int(rng.integers(len(self.files)))]
        rir = self._cache.get(path)
        if rir is None:
            rir = load_audio(path, self.sample_rate)
            if len(self._cache) < self.cache_size:
                self._cache[path] = rir
        return reverberate(wav, rir)
