"""Shared framing and spectral helpers for the linear-frequency front-ends (LFCC, spectrogram).

Frames lie wholly inside each utterance (Kaldi's ``snip_edges``): an utterance of ``L`` samples
has ``1 + (L - frame_length) // frame_shift`` frames (0 when shorter than a frame). Frames that
reach into padding are zeroed by the front-ends, so a padded batch gives each utterance exactly
the features it gets alone.
"""

import math
from typing import Optional

import torch
from torch import Tensor

# Floor for log energies, as in Kaldi: float32 machine epsilon.
FLOAT_EPS = float(torch.finfo(torch.float32).eps)


def frame_counts(lengths: Tensor, frame_length: int, frame_shift: int) -> Tensor:
    """Number of whole frames in utterances of ``lengths`` samples."""
    count = torch.div(lengths - frame_length, frame_shift, rounding_mode="floor") + 1
    return count.clamp(min=0)


def max_frames(num_samples: int, frame_length: int, frame_shift: int) -> int:
    if num_samples < frame_length:
        return 0
    return 1 + (num_samples - frame_length) // frame_shift


def frame_length_samples(sample_rate: int, frame_ms: float) -> int:
    # same truncation as Kaldi's FrameExtractionOptions
    return int(sample_rate * 0.001 * frame_ms)


def frame_sizes(sample_rate: int, frame_length_ms: float, frame_shift_ms: float,
                fft_size: int):
    """``(frame_length, frame_shift)`` in samples, checked against each other and the FFT."""
    frame_length = frame_length_samples(sample_rate, frame_length_ms)
    frame_shift = frame_length_samples(sample_rate, frame_shift_ms)
    if frame_length < 2 or frame_shift < 1:
        raise ValueError("frame length and shift are too short")
    if fft_size < frame_length:
        raise ValueError(f"fft_size {fft_size} is shorter than the frame ({frame_length} samples)")
    return frame_length, frame_shift


def symmetric_window(window_type: str, length: int) -> Tensor:
    """Symmetric analysis window (period ``length - 1``, as Matlab's/NumPy's ``hamming``)."""
    if window_type == "rectangular":
        return torch.ones(length)
    phase = torch.arange(length, dtype=torch.float64) * (2.0 * math.pi / (length - 1))
    if window_type == "hamming":
        return (0.54 - 0.46 * torch.cos(phase)).float()
    if window_type == "hanning":
        return (0.5 - 0.5 * torch.cos(phase)).float()
    raise ValueError(f"window_type must be hamming, hanning or rectangular, got {window_type!r}")


def check_lengths(wav: Tensor, lengths: Optional[Tensor]) -> Tensor:
    """Validated ``(B,)`` long lengths on ``wav``'s device, clamped to the padded width."""
    if wav.dim() != 2:
        raise ValueError(f"expected a (batch, samples) waveform, got shape {list(wav.shape)}")
    if lengths is None:
        return torch.full((wav.size(0),), wav.size(1), dtype=torch.long, device=wav.device)
    return lengths.to(device=wav.device, dtype=torch.long).clamp(0, wav.size(1))


def zero_padding(wav: Tensor, lengths: Tensor) -> Tensor:
    valid = torch.arange(wav.size(1), device=wav.device) < lengths.unsqueeze(1)
    return wav * valid.to(wav.dtype)


def power_spectrum(wav: Tensor, lengths: Tensor, frame_length: int, frame_shift: int,
                   window: Tensor, fft_size: int, preemph_coeff: float):
    """Power spectra ``(B, T, fft_size // 2 + 1)`` of the frames of a padded batch.

    Pre-emphasis runs over the whole signal (``y[n] = x[n] - a x[n-1]``, the first sample kept),
    as in the ASVspoof LFCC baselines; samples past an utterance's end are zeroed first so they
    cannot leak into its last frame. Returns float32 spectra, frame counts and the valid-frame
    mask ``(B, T)``.
    """
    wav = zero_padding(wav.to(torch.float32), lengths)
    if preemph_coeff != 0.0:
        wav = torch.cat([wav[:, :1], wav[:, 1:] - preemph_coeff * wav[:, :-1]], dim=1)
    counts = frame_counts(lengths, frame_length, frame_shift)
    num_frames = max_frames(wav.size(1), frame_length, frame_shift)
    if num_frames == 0:
        empty = wav.new_zeros((wav.size(0), 0, fft_size // 2 + 1))
        return empty, counts, wav.new_zeros((wav.size(0), 0))
    frames = wav.unfold(1, frame_length, frame_shift) * window
    spectrum = torch.view_as_real(torch.fft.rfft(frames, n=fft_size, dim=-1))
    power = spectrum[..., 0].square() + spectrum[..., 1].square()
    valid = (torch.arange(num_frames, device=wav.device) < counts.unsqueeze(1)).to(power.dtype)
    return power, counts, valid
