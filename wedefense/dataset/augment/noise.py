"""Additive noise from a MUSAN-style ``wav.scp`` at a random SNR per noise type.

The type of a recording comes from its own ``scp`` in the config, or from its id prefix before
the first '-' (Kaldi's MUSAN preparation names them ``noise-…``, ``music-…``, ``speech-…``).
Several simultaneous recordings of one type (``count``) make babble from ``speech``.
Only the needed segment of a noise file is read, so the noise set is never held in memory.
"""

import logging

import numpy as np
import soundfile

from wedefense.dataset.audio import resample
from wedefense.dataset.tables import read_table
from wedefense.utils.errors import InputError

logger = logging.getLogger(__name__)

# Kaldi/WeSpeaker-style defaults: SNR ranges in dB and how many recordings are mixed
DEFAULT_TYPES = {
    "noise": {"snr": [0, 15], "count": [1, 1]},
    "music": {"snr": [5, 15], "count": [1, 1]},
    "speech": {"snr": [13, 20], "count": [3, 7]},
}


def scale_to_snr(signal, noise, snr_db):
    """``g * noise`` with ``g`` chosen so the signal-to-noise power ratio is ``snr_db``."""
    p_signal = float(np.mean(signal ** 2)) + 1e-10
    p_noise = float(np.mean(noise ** 2)) + 1e-10
    return np.sqrt(p_signal / (p_noise * 10.0 ** (snr_db / 10.0))) * noise


class NoiseAdder:
    def __init__(self, noise_scp=None, types=None, sample_rate=16000):
        types = types or {k: dict(v) for k, v in DEFAULT_TYPES.items()}
        self.sample_rate = sample_rate
        self.types = {}
        shared = read_table(noise_scp, rest=True) if noise_scp else {}
        for name, spec in types.items():
            files = list(read_table(spec["scp"], rest=True).values()) if spec.get("scp") else \
                [p for k, p in shared.items() if k.split("-", 1)[0] == name]
            if not files:
                logger.warning("noise type '%s' has no recordings in %s; it is not used", name,
                               spec.get("scp") or noise_scp)
                continue
            self.types[name] = (files, tuple(spec.get("snr", [0, 15])),
                                tuple(spec.get("count", [1, 1])))
        if not self.types:
            raise InputError("no noise recordings for any of the types "
                             f"{', '.join(types)}", noise_scp)
        self.names = sorted(self.types)
        self._info = {}

    def _segment(self, path, num_samples, rng):
        """``num_samples`` at the model rate from a random offset, looped if the file is short."""
        if path not in self._info:
            info = soundfile.info(path)
            self._info[path] = (info.frames, info.samplerate)
        frames, sr = self._info[path]
        need = int(np.ceil(num_samples * sr / self.sample_rate)) + 1
        start = int(rng.integers(0, max(1, frames - need + 1)))
        data, _ = soundfile.read(path, start=start, frames=min(need, frames), dtype="float32",
                                 always_2d=True)
        wav = resample(data.mean(axis=1), sr, self.sample_rate)
        if len(wav) < num_samples:
            wav = np.tile(wav, num_samples // max(1, len(wav)) + 1)
        return wav[:num_samples]

    def __call__(self, wav, rng):
        name = self.names[int(rng.integers(len(self.names)))]
        files, (snr_lo, snr_hi), (count_lo, count_hi) = self.types[name]
        out = wav.astype(np.float32, copy=True)
        for _ in range(int(rng.integers(count_lo, count_hi + 1))):  # each at its own SNR
            noise = self._segment(files[int(rng.integers(len(files)))], len(wav), rng)
            out += scale_to_snr(wav, noise, rng.uniform(snr_lo, snr_hi)).astype(np.float32)
        return out
