"""Batched, Kaldi-compatible log-mel filterbank front-end.

``KaldiFbank`` turns a padded batch of float waveforms into Kaldi ``compute-fbank-feats`` features
on the waveforms' own device, so a model can carry its front-end as a submodule and an exported
model goes from waveform to logits. Its output matches ``kaldi-native-fbank`` for the same
options; ``tests/test_frontend.py`` checks that.

The per-frame pipeline follows Kaldi: framing, dither, DC-offset removal, raw log-energy,
pre-emphasis, windowing, zero-padding to the FFT size, power spectrum, triangular mel banks,
log. All of it is vectorised over (batch, frame) and the module is TorchScript-scriptable.
"""

import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

# Kaldi floors energies at the float32 machine epsilon before taking the log.
_FLOAT_EPS = float(torch.finfo(torch.float32).eps)

_WINDOW_TYPES = ("povey", "hamming", "hanning", "rectangular")


def _mel_scale(freq: Tensor) -> Tensor:
    """Kaldi's mel scale, ``1127 ln(1 + f / 700)``."""
    return 1127.0 * torch.log1p(freq / 700.0)


def _window(window_type: str, frame_length: int) -> Tensor:
    """Kaldi's analysis window of ``frame_length`` samples, as float32."""
    if window_type == "rectangular":
        return torch.ones(frame_length)
    # Kaldi evaluates the cosine windows in double precision with period frame_length - 1.
    phase = torch.arange(frame_length, dtype=torch.float64) * (2.0 * math.pi / (frame_length - 1))
    if window_type == "hamming":
        window = 0.54 - 0.46 * torch.cos(phase)
    else:
        window = 0.5 - 0.5 * torch.cos(phase)
        if window_type == "povey":
            window = window.pow(0.85)
    return window.float()


def _dft_basis(frame_length: int, fft_size: int) -> Tensor:
    """``(frame_length, 2 * (fft_size // 2 + 1))``: a frame times it gives the real parts of its
    zero-padded ``rfft``, then the imaginary parts."""
    t = torch.arange(frame_length, dtype=torch.float64).unsqueeze(1)
    k = torch.arange(fft_size // 2 + 1, dtype=torch.float64).unsqueeze(0)
    angle = 2 * math.pi * ((t * k) % fft_size) / fft_size
    return torch.cat([torch.cos(angle), -torch.sin(angle)], dim=1).to(torch.float32)


def _mel_banks(
    num_bins: int, fft_size: int, sample_rate: float, low_freq: float, high_freq: float
) -> Tensor:
    """Kaldi's triangular mel filterbank as a ``(fft_size // 2 + 1, num_bins)`` float32 matrix.

    Only FFT bins ``0 .. fft_size // 2 - 1`` get weights: Kaldi leaves the Nyquist bin out of the
    banks, so its row is zero. ``high_freq`` is already resolved to an absolute frequency.
    """
    fft_bin_width = sample_rate / fft_size
    mel_low = _mel_scale(torch.tensor(low_freq, dtype=torch.float64))
    mel_high = _mel_scale(torch.tensor(high_freq, dtype=torch.float64))
    mel_delta = (mel_high - mel_low) / (num_bins + 1)
    edges = mel_low + mel_delta * torch.arange(num_bins + 2, dtype=torch.float64)
    left, center, right = edges[:-2], edges[1:-1], edges[2:]

    num_fft_bins = fft_size // 2
    mel = _mel_scale(fft_bin_width * torch.arange(num_fft_bins, dtype=torch.float64)).unsqueeze(1)
    rising = (mel - left) / (center - left)
    falling = (right - mel) / (right - center)
    weights = torch.where(mel <= center, rising, falling)
    # Strict inequalities, as in Kaldi: a bin exactly on a triangle's edge gets no weight.
    weights = torch.where((mel > left) & (mel < right), weights, torch.zeros_like(weights))
    nyquist_row = torch.zeros(1, num_bins, dtype=torch.float64)
    return torch.cat([weights, nyquist_row], dim=0).float()


class KaldiFbank(nn.Module):
    """Kaldi-compatible (log) mel filterbank features of a padded waveform batch.

    The options mirror Kaldi's ``FbankOptions`` (frame, mel and energy options flattened) and
    keep Kaldi's defaults, except ``dither`` (0 here) and ``num_mel_bins`` (80). Inputs are float
    waveforms in [-1, 1]; they are multiplied by ``scale`` first because Kaldi features are
    defined on 16-bit sample values. ``high_freq <= 0`` is an offset from the Nyquist frequency.
    With ``use_energy`` the log-energy is prepended, so features have ``num_mel_bins + 1``
    columns, energy first (Kaldi's layout without ``htk_compat``); ``raw_energy`` takes it before
    pre-emphasis and windowing, as Kaldi does by default, and ``energy_floor > 0`` floors the
    log-energy at ``log(energy_floor)``. Dither (Gaussian, in 16-bit units) uses torch's RNG
    and is applied in training mode only, so evaluation is deterministic.

    Computation is float32 whatever the input dtype; in eager mode autocast is disabled inside
    the module, since power spectra of 16-bit-scaled audio overflow float16. A TorchScript copy
    cannot switch autocast off, so run a scripted front-end outside autocast.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        num_mel_bins: int = 80,
        frame_length_ms: float = 25.0,
        frame_shift_ms: float = 10.0,
        dither: float = 0.0,
        preemph_coeff: float = 0.97,
        remove_dc_offset: bool = True,
        window_type: str = "povey",
        round_to_power_of_two: bool = True,
        low_freq: float = 20.0,
        high_freq: float = 0.0,
        use_energy: bool = False,
        raw_energy: bool = True,
        use_log_fbank: bool = True,
        use_power: bool = True,
        energy_floor: float = 0.0,
        snip_edges: bool = True,
        scale: float = 32768.0,
    ) -> None:
        super().__init__()
        if window_type not in _WINDOW_TYPES:
            raise ValueError(f"window_type must be one of {_WINDOW_TYPES}, got {window_type!r}")
        if num_mel_bins < 3:
            raise ValueError(f"num_mel_bins must be at least 3, got {num_mel_bins}")
        # Same expression and truncation as Kaldi's FrameExtractionOptions.
        frame_length = int(sample_rate * 0.001 * frame_length_ms)
        frame_shift = int(sample_rate * 0.001 * frame_shift_ms)
        if frame_length < 2 or frame_shift < 1:
            raise ValueError(
                f"frame of {frame_length} samples and shift of {frame_shift} samples are too short"
            )
        nyquist = 0.5 * sample_rate
        abs_high_freq = high_freq if high_freq > 0.0 else nyquist + high_freq
        if not 0.0 <= low_freq < abs_high_freq <= nyquist:
            raise ValueError(
                f"need 0 <= low_freq < high_freq <= {nyquist}, got low_freq={low_freq}, "
                f"high_freq={abs_high_freq}"
            )
        if round_to_power_of_two:
            fft_size = 1 << (frame_length - 1).bit_length()
        else:
            fft_size = frame_length

        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins
        self.frame_length = frame_length
        self.frame_shift = frame_shift
        self.fft_size = fft_size
        self.dither = float(dither)
        self.preemph_coeff = float(preemph_coeff)
        self.remove_dc_offset = remove_dc_offset
        self.use_energy = use_energy
        self.raw_energy = raw_energy
        self.use_log_fbank = use_log_fbank
        self.use_power = use_power
        self.energy_floor = float(energy_floor)
        self.snip_edges = snip_edges
        self.scale = float(scale)
        # TorchScript cannot read module-level floats, hence an attribute.
        self.eps = _FLOAT_EPS
        # Derived from the options alone, so kept out of the state_dict: checkpoints stay
        # loadable whatever the front-end configuration is.
        self.register_buffer("window", _window(window_type, frame_length), persistent=False)
        self.register_buffer(
            "mel_banks",
            _mel_banks(num_mel_bins, fft_size, float(sample_rate), low_freq, abs_high_freq),
            persistent=False,
        )
        self.register_buffer("dft_basis", _dft_basis(frame_length, fft_size), persistent=False)

    @property
    def feature_dim(self) -> int:
        """Number of feature columns per frame."""
        return self.num_mel_bins + int(self.use_energy)

    def num_frames(self, lengths: Tensor) -> Tensor:
        """Number of frames Kaldi extracts from utterances of ``lengths`` samples."""
        if self.snip_edges:
            # Floor division makes every length shorter than a frame give a count <= 0.
            count = torch.div(lengths - self.frame_length, self.frame_shift, rounding_mode="floor")
            return (count + 1).clamp(min=0)
        return torch.div(lengths + self.frame_shift // 2, self.frame_shift, rounding_mode="floor")

    def _max_frames(self, num_samples: int) -> int:
        """Frame count of an unpadded utterance of ``num_samples`` samples."""
        if self.snip_edges:
            if num_samples < self.frame_length:
                return 0
            return 1 + (num_samples - self.frame_length) // self.frame_shift
        return (num_samples + self.frame_shift // 2) // self.frame_shift

    def _frames(self, wav: Tensor, lengths: Tensor, num_frames: int) -> Tensor:
        """Cut ``wav`` (B, N) into frames (B, num_frames, frame_length)."""
        if self.snip_edges:
            # Frames lie inside the signal: a strided view, no copy.
            return wav.unfold(1, self.frame_length, self.frame_shift)
        # Frames are centred on multiples of the shift and the signal is mirrored at both of
        # its ends. The mirror sits at each utterance's own end, not at the padded end, so each
        # utterance gets its own mirrored copy of the span the frames cover, then a strided view.
        start = self.frame_shift // 2 - self.frame_length // 2
        span = (num_frames - 1) * self.frame_shift + self.frame_length
        index = (torch.arange(span, device=wav.device) + start).unsqueeze(0)
        length = lengths.clamp(min=1).unsqueeze(1)
        # Repeated mirroring (Kaldi's loop, which also covers frames longer than the signal)
        # is periodic with period 2 * length: fold into one period, then mirror once.
        index = torch.remainder(index, 2 * length)
        index = torch.where(index >= length, 2 * length - 1 - index, index)
        return wav.gather(1, index).unfold(1, self.frame_length, self.frame_shift)

    def _features(self, wav: Tensor, lengths: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """Features and frame counts; float32 throughout."""
        if wav.dim() != 2:
            raise ValueError(f"expected a (batch, samples) waveform, got shape {wav.shape}")
        batch, num_samples = wav.size(0), wav.size(1)
        if lengths is None:
            lengths = torch.full((batch,), num_samples, dtype=torch.long, device=wav.device)
        else:
            # Clamped so that an over-long length cannot index past the padded batch.
            lengths = lengths.to(device=wav.device, dtype=torch.long).clamp(0, num_samples)
        frame_lengths = self.num_frames(lengths)
        num_frames = self._max_frames(num_samples)
        if num_frames == 0:
            return wav.new_zeros((batch, 0, self.feature_dim), dtype=torch.float32), frame_lengths

        wav = wav.to(torch.float32) * self.scale
        frames = self._frames(wav, lengths, num_frames)
        if self.training and self.dither > 0.0:
            frames = frames + self.dither * torch.randn_like(frames)
        if self.remove_dc_offset:
            frames = frames - frames.mean(dim=-1, keepdim=True)
        # Placeholder so TorchScript sees ``energy`` defined on every path; unused then.
        energy = frames.new_zeros(0)
        if self.use_energy and self.raw_energy:
            energy = frames.pow(2).sum(dim=-1)
        if self.preemph_coeff != 0.0:
            # Kaldi's first sample is pre-emphasised against itself.
            previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
            frames = frames - self.preemph_coeff * previous
        frames = frames * self.window
        if self.use_energy and not self.raw_energy:
            energy = frames.pow(2).sum(dim=-1)

        if torch.compiler.is_compiling():
            # the ONNX exporter (and torch.compile) trace this branch: ONNX Runtime's DFT
            # operator took 9% of a ResNet18's time on CPU, a matmul with the DFT basis 1%
            # (same values to 1e-7)
            spectrum = torch.matmul(frames, self.dft_basis)
            half = spectrum.shape[-1] // 2
            power = spectrum[..., :half].square() + spectrum[..., half:].square()
        else:
            # Real view rather than complex ops: squaring the two strided halves is several
            # times faster than reducing over the trailing size-2 dimension.
            spectrum = torch.view_as_real(torch.fft.rfft(frames, n=self.fft_size, dim=-1))
            power = spectrum[..., 0].square() + spectrum[..., 1].square()
        if not self.use_power:
            power = power.sqrt()
        feats = torch.matmul(power, self.mel_banks)
        if self.use_log_fbank:
            feats = feats.clamp(min=self.eps).log()
        if self.use_energy:
            log_energy = energy.clamp(min=self.eps).log()
            if self.energy_floor > 0.0:
                log_energy = log_energy.clamp(min=math.log(self.energy_floor))
            feats = torch.cat([log_energy.unsqueeze(-1), feats], dim=-1)

        # Frames past an utterance's own end read padding (or, without snip_edges, are not
        # Kaldi frames of it at all); zero them so padded and lone utterances agree.
        valid = torch.arange(num_frames, device=wav.device) < frame_lengths.unsqueeze(1)
        feats = feats * valid.unsqueeze(-1).to(feats.dtype)
        return feats, frame_lengths

    @torch.jit.unused
    def _features_without_autocast(
        self, wav: Tensor, lengths: Optional[Tensor]
    ) -> Tuple[Tensor, Tensor]:
        """``_features`` with autocast off, which TorchScript cannot express for any device."""
        with torch.autocast(device_type=wav.device.type, enabled=False):
            return self._features(wav, lengths)

    def forward(self, wav: Tensor, lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Compute features of a padded batch.

        Args:
            wav: (B, N) float waveforms in [-1, 1], zero-padded at the end.
            lengths: (B,) number of valid samples of each utterance; ``None`` means all N.

        Returns:
            feats: (B, T, feature_dim) float32, T the frame count of N samples; frames at or
                past ``frame_lengths[i]`` are zero.
            frame_lengths: (B,) long, each utterance's own frame count.
        """
        if torch.jit.is_scripting():
            return self._features(wav, lengths)
        return self._features_without_autocast(wav, lengths)
