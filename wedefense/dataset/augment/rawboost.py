"""RawBoost (Tak et al., ICASSP 2022): data boosting on the raw waveform, no external data.

Three algorithms model telephony-channel nuisance, alone or combined:

1. linear and non-linear convolutive noise (LnL): ``y = sum_j g_j * (h_j conv x^j)``,
   ``j = 1..N_f``, each ``h_j`` a random multi-band filter (a cascade of ``N_b`` notch filters of
   random centre frequency, bandwidth and length) and the higher-order terms attenuated by a
   random bias;
2. impulsive signal-dependent additive noise (ISD): up to ``P`` % of the samples get
   ``g_sd * x[n] * u``, ``u ~ U(-1, 1)``;
3. stationary signal-independent additive noise (SSI): white noise coloured by a random
   multi-band filter, added at an SNR drawn from ``[snr_min, snr_max]`` dB.

``algo`` selects the paper's configurations: 1, 2, 3 alone; 4 = 1+2+3 in series; 5 = 1+2 in
series (the paper's best on ASVspoof 2021 LA); 6 = 1+3 series; 7 = 2+3 series; 8 = 1 and 2 in
parallel (their outputs averaged). Defaults: N_f 5, N_b 1-5, f_c 20-8000 Hz, bandwidth
100-1000 Hz, 10-100 filter coefficients, filter gain 0 dB, non-linear bias 5-20 dB, P 10 %,
g_sd 2 and SNR 10-40 dB: the authors' published defaults (checked). All are overridable in the
config.
"""

import numpy as np
from scipy.signal import fftconvolve, firwin

DEFAULTS = {
    "n_f": 5, "n_bands": [1, 5], "f_c": [20.0, 8000.0], "bandwidth": [100.0, 1000.0],
    "n_coeffs": [10, 100], "gain_db": [0.0, 0.0], "bias_db": [5.0, 20.0],
    "p_percent": 10.0, "g_sd": 2.0, "snr_db": [10.0, 40.0],
}

SERIES = {1: (1,), 2: (2,), 3: (3,), 4: (1, 2, 3), 5: (1, 2), 6: (1, 3), 7: (2, 3)}


def _normalize(y, reference):
    """Scale to the peak of ``reference``, so boosting never clips or changes the level."""
    peak = np.max(np.abs(y))
    return y * (np.max(np.abs(reference)) / peak) if peak > 0 else y


class RawBoost:
    def __init__(self, algo=5, sample_rate=16000, **params):
        if algo not in SERIES and algo != 8:
            raise ValueError(f"RawBoost algo must be 1..8, got {algo}")
        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown RawBoost parameter(s) {sorted(unknown)}")
        self.algo = algo
        self.sample_rate = sample_rate
        self.p = {**DEFAULTS, **params}

    def random_filter(self, rng):
        """Impulse response of ``N_b`` random notch filters in cascade, times a random gain."""
        p, nyquist = self.p, self.sample_rate / 2.0
        h = np.ones(1)
        for _ in range(int(rng.integers(p["n_bands"][0], p["n_bands"][1] + 1))):
            fc = rng.uniform(*p["f_c"])
            bw = rng.uniform(*p["bandwidth"])
            lo = float(np.clip(fc - bw / 2, 1.0, nyquist - 2.0))
            hi = float(np.clip(fc + bw / 2, lo + 1.0, nyquist - 1.0))
            n = int(rng.integers(p["n_coeffs"][0], p["n_coeffs"][1] + 1)) | 1  # odd: band-stop
            h = np.convolve(h, firwin(n, [lo, hi], fs=self.sample_rate, pass_zero=True))
        return h * 10.0 ** (rng.uniform(*p["gain_db"]) / 20.0)

    def lnl(self, x, rng):
        y = np.zeros_like(x, dtype=np.float64)
        bias = 0.0
        for j in range(1, self.p["n_f"] + 1):
            if j > 1:
                bias += rng.uniform(*self.p["bias_db"])  # each order weaker than the last
            h = self.random_filter(rng)
            y += 10.0 ** (-bias / 20.0) * fftconvolve(x ** j, h)[:len(x)]
        return _normalize(y, x)

    def isd(self, x, rng):
        n = len(x)
        count = int(rng.integers(0, int(n * self.p["p_percent"] / 100.0) + 1))
        y = x.astype(np.float64, copy=True)
        if count:
            where = rng.choice(n, size=count, replace=False)
            y[where] += self.p["g_sd"] * x[where] * rng.uniform(-1.0, 1.0, size=count)
        return _normalize(y, x)

    def ssi(self, x, rng):
        noise = fftconvolve(rng.standard_normal(len(x)), self.random_filter(rng))[:len(x)]
        snr = rng.uniform(*self.p["snr_db"])
        gain = np.sqrt((np.mean(x ** 2) + 1e-12) / ((np.mean(noise ** 2) + 1e-12)
                                                    * 10.0 ** (snr / 10.0)))
        return x + gain * noise

    def __call__(self, wav, rng):
        x = wav.astype(np.float64)
        steps = {1: self.lnl, 2: self.isd, 3: self.ssi}
        if self.algo == 8:
            y = 0.5 * (self.lnl(x, rng) + self.isd(x, rng))
        else:
            y = x
            for step in SERIES[self.algo]:
                y = steps[step](y, rng)
        return y.astype(np.float32)
