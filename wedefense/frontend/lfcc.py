"""Linear-frequency cepstral coefficients (LFCC) with deltas, as in the ASVspoof baselines.

The ASVspoof 2019/2021 LFCC baselines (GMM and LFCC-LCNN) use 20 ms Hamming frames every 10 ms,
a 512-point FFT, 20 triangular filters spaced linearly from 0 Hz to Nyquist, 20 cepstral
coefficients and their first and second derivatives: 60 features per frame. Those are the defaults
here. Pipeline per utterance: pre-emphasis over the whole signal, framing (frames wholly inside
the utterance), window, power spectrum, linear filterbank, natural log, orthonormal DCT-II,
optionally c0 replaced by the log frame energy, then regression deltas.

Deltas use the HTK regression formula ``d_t = sum_{n=1..N} n (c_{t+n} - c_{t-n}) / (2 sum n^2)``
with ``N = delta_window`` (1 by default: ``(c_{t+1} - c_{t-1}) / 2``, the 3-frame window of the
baselines), the first and last frames of each utterance repeated at its edges. The edges are each
utterance's own, so a padded batch gives exactly the features of each utterance alone.
"""

import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from wedefense.frontend.framing import (
    FLOAT_EPS,
    check_lengths,
    frame_sizes,
    power_spectrum,
    symmetric_window,
)


def linear_filterbank(num_filters: int, fft_size: int, sample_rate: float, low_freq: float,
                      high_freq: float) -> Tensor:
    """Triangular filters with centres equally spaced in Hz: ``(fft_size // 2 + 1, num_filters)``.

    Filter ``m`` rises from edge ``m`` to edge ``m + 1`` and falls to edge ``m + 2`` of
    ``num_filters + 2`` equally spaced edges from ``low_freq`` to ``high_freq``.
    """
    edges = torch.linspace(low_freq, high_freq, num_filters + 2, dtype=torch.float64)
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]
    freqs = (torch.arange(fft_size // 2 + 1, dtype=torch.float64) * sample_rate / fft_size)
    freqs = freqs.unsqueeze(1)
    rising = (freqs - left) / (centre - left)
    falling = (right - freqs) / (right - centre)
    return torch.minimum(rising, falling).clamp(min=0.0).float()


def dct_matrix(num_inputs: int, num_outputs: int) -> Tensor:
    """Orthonormal DCT-II as a ``(num_inputs, num_outputs)`` matrix (first ``num_outputs``
    coefficients), so that ``x @ D`` equals ``scipy.fft.dct(x, norm='ortho')[..., :num_outputs]``.
    """
    n = torch.arange(num_inputs, dtype=torch.float64).unsqueeze(1)
    k = torch.arange(num_outputs, dtype=torch.float64).unsqueeze(0)
    basis = torch.cos(math.pi * k * (2.0 * n + 1.0) / (2.0 * num_inputs))
    scale = torch.full((1, num_outputs), math.sqrt(2.0 / num_inputs), dtype=torch.float64)
    scale[0, 0] = math.sqrt(1.0 / num_inputs)
    return (basis * scale).float()


def regression_deltas(feats: Tensor, frame_lengths: Tensor, window: int = 1) -> Tensor:
    """HTK regression deltas of ``feats (B, T, F)`` along time, edges of each utterance repeated.

    Frames at or past ``frame_lengths[i]`` come out zero.
    """
    steps = torch.arange(feats.size(1), device=feats.device).unsqueeze(0)
    last = (frame_lengths.to(feats.device) - 1).clamp(min=0).unsqueeze(1)
    out = torch.zeros_like(feats)
    norm = 2.0 * sum(n * n for n in range(1, window + 1))
    for n in range(1, window + 1):
        ahead = torch.minimum(steps + n, last).clamp(min=0)
        behind = torch.minimum((steps - n).clamp(min=0), last)
        index_ahead = ahead.expand(feats.size(0), -1).unsqueeze(-1).expand_as(feats)
        index_behind = behind.expand(feats.size(0), -1).unsqueeze(-1).expand_as(feats)
        out = out + n * (feats.gather(1, index_ahead) - feats.gather(1, index_behind))
    valid = (steps < frame_lengths.to(feats.device).unsqueeze(1)).to(feats.dtype)
    return out / norm * valid.unsqueeze(-1)


class LFCC(nn.Module):
    """LFCC features (plus deltas) of a padded waveform batch; same contract as ``KaldiFbank``.

    Args:
        sample_rate: Hz.
        num_ceps: cepstral coefficients kept (c0 included).
        num_filters: linear triangular filters.
        frame_length_ms, frame_shift_ms: framing (frames wholly inside the utterance).
        fft_size: FFT points (at least the frame length).
        low_freq, high_freq: filterbank range in Hz; ``high_freq <= 0`` is an offset from Nyquist.
        window_type: hamming (default), hanning or rectangular; symmetric windows.
        preemph_coeff: whole-signal pre-emphasis coefficient (0 disables).
        with_energy: replace c0 by the log energy of the windowed frame.
        delta_order: 0 (statics only), 1 (+ delta) or 2 (+ delta + double delta).
        delta_window: regression half-width ``N`` of the deltas.
    """

    def __init__(self, sample_rate: int = 16000, num_ceps: int = 20, num_filters: int = 20,
                 frame_length_ms: float = 20.0, frame_shift_ms: float = 10.0,
                 fft_size: int = 512, low_freq: float = 0.0, high_freq: float = 0.0,
                 window_type: str = "hamming", preemph_coeff: float = 0.97,
                 with_energy: bool = False, delta_order: int = 2, delta_window: int = 1):
        super().__init__()
        self.frame_length, self.frame_shift = frame_sizes(sample_rate, frame_length_ms,
                                                          frame_shift_ms, fft_size)
        if not 1 <= num_ceps <= num_filters:
            raise ValueError(f"need 1 <= num_ceps <= num_filters, got {num_ceps}, {num_filters}")
        if delta_order not in (0, 1, 2) or delta_window < 1:
            raise ValueError("delta_order must be 0, 1 or 2 and delta_window >= 1")
        nyquist = 0.5 * sample_rate
        abs_high = high_freq if high_freq > 0.0 else nyquist + high_freq
        if not 0.0 <= low_freq < abs_high <= nyquist:
            raise ValueError(f"need 0 <= low_freq < high_freq <= {nyquist}")
        self.sample_rate = sample_rate
        self.num_ceps = num_ceps
        self.fft_size = fft_size
        self.preemph_coeff = float(preemph_coeff)
        self.with_energy = with_energy
        self.delta_order = delta_order
        self.delta_window = delta_window
        # derived from the options alone: not in the state_dict
        self.register_buffer("window", symmetric_window(window_type, self.frame_length),
                             persistent=False)
        self.register_buffer("filterbank", linear_filterbank(
            num_filters, fft_size, float(sample_rate), low_freq, abs_high), persistent=False)
        self.register_buffer("dct", dct_matrix(num_filters, num_ceps), persistent=False)

    @property
    def feature_dim(self) -> int:
        return self.num_ceps * (1 + self.delta_order)

    def num_frames(self, lengths: Tensor) -> Tensor:
        count = torch.div(lengths - self.frame_length, self.frame_shift, rounding_mode="floor")
        return (count + 1).clamp(min=0)

    def _features(self, wav: Tensor, lengths: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        lengths = check_lengths(wav, lengths)
        power, counts, valid = power_spectrum(wav, lengths, self.frame_length, self.frame_shift,
                                              self.window, self.fft_size, self.preemph_coeff)
        log_fb = torch.matmul(power, self.filterbank).clamp(min=FLOAT_EPS).log()
        ceps = torch.matmul(log_fb, self.dct)
        if self.with_energy:
            # Parseval: the frame energy from the one-sided power spectrum
            weights = torch.full((power.size(-1),), 2.0, device=power.device)
            weights[0] = 1.0
            if self.fft_size % 2 == 0:
                weights[-1] = 1.0
            energy = (power * weights).sum(-1) / self.fft_size
            ceps = torch.cat([energy.clamp(min=FLOAT_EPS).log().unsqueeze(-1), ceps[..., 1:]],
                             dim=-1)
        ceps = ceps * valid.unsqueeze(-1)
        feats = [ceps]
        if self.delta_order >= 1:
            feats.append(regression_deltas(ceps, counts, self.delta_window))
        if self.delta_order == 2:
            feats.append(regression_deltas(feats[1], counts, self.delta_window))
        return torch.cat(feats, dim=-1), counts

    def forward(self, wav: Tensor, lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """``wav (B, N)`` in [-1, 1], ``lengths (B,)`` samples -> ``(B, T, feature_dim)`` float32
        features (zero at and past each utterance's frame count) and ``(B,)`` frame counts."""
        with torch.autocast(device_type=wav.device.type, enabled=False):
            return self._features(wav, lengths)
