"""Log-power linear spectrogram and a raw-waveform passthrough, with ``KaldiFbank``'s contract.

Both take a padded waveform batch ``(B, N)`` with lengths ``(B,)`` and return
``(feats (B, T, F), frame_lengths (B,))``; padding is zeroed so a batched utterance gets exactly
its lone features.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from wedefense.frontend.framing import (
    FLOAT_EPS,
    check_lengths,
    frame_sizes,
    power_spectrum,
    symmetric_window,
    zero_padding,
)


class LogSpectrogram(nn.Module):
    """``log |STFT|^2`` on a linear frequency axis: ``fft_size // 2 + 1`` bins per frame.

    Frames (``frame_length_ms`` every ``frame_shift_ms``) lie wholly inside the utterance; the
    defaults (25 ms / 10 ms, 512-point FFT, Hamming, no pre-emphasis) give 257 bins at 16 kHz.
    """

    def __init__(self, sample_rate: int = 16000, frame_length_ms: float = 25.0,
                 frame_shift_ms: float = 10.0, fft_size: int = 512,
                 window_type: str = "hamming", preemph_coeff: float = 0.0):
        super().__init__()
        self.frame_length, self.frame_shift = frame_sizes(sample_rate, frame_length_ms,
                                                          frame_shift_ms, fft_size)
        self.sample_rate = sample_rate
        self.fft_size = fft_size
        self.preemph_coeff = float(preemph_coeff)
        self.register_buffer("window", symmetric_window(window_type, self.frame_length),
                             persistent=False)

    @property
    def feature_dim(self) -> int:
        return self.fft_size // 2 + 1

    def forward(self, wav: Tensor, lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        with torch.autocast(device_type=wav.device.type, enabled=False):
            lengths = check_lengths(wav, lengths)
            power, counts, valid = power_spectrum(
                wav, lengths, self.frame_length, self.frame_shift, self.window, self.fft_size,
                self.preemph_coeff)
            feats = power.clamp(min=FLOAT_EPS).log() * valid.unsqueeze(-1)
            return feats, counts


class RawWaveform(nn.Module):
    """Passthrough for raw-waveform models (AASIST): ``(B, N)`` -> ``(B, N, 1)``, one "frame" per
    sample, padding zeroed. Its features must not be mean-normalised (``mean_norm: false``;
    ``build_model`` defaults to that for this front-end)."""

    feature_dim = 1

    def __init__(self, sample_rate: int = 16000):
        super().__init__()
        self.sample_rate = sample_rate

    def forward(self, wav: Tensor, lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        lengths = check_lengths(wav, lengths)
        return zero_padding(wav, lengths).unsqueeze(-1), lengths
