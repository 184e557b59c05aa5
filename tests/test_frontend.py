"""KaldiFbank against kaldi-native-fbank, padded-batch consistency, TorchScript, mean norm."""

import math

import kaldi_native_fbank as knf
import numpy as np
import pytest
import torch

from wedefense.frontend.fbank import KaldiFbank
from wedefense.frontend.normalize import MeanNorm, masked_mean_norm

SAMPLE_RATE = 16000
# torch.jit.script is deprecated upstream but is the scripting path the front-end promises.
IGNORE_JIT_DEPRECATION = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
# Largest |ours - knf| allowed on log features; float32 FFT rounding alone reaches a few 1e-4
# in mel bins that hold ~1e-7 of the frame's energy.
LOG_TOL = 1e-3

OPTION_SETS = {
    "default": {},
    "hamming_40_no_preemph_energy": dict(
        window_type="hamming", num_mel_bins=40, preemph_coeff=0.0, use_energy=True
    ),
    "hanning_no_snip_band": dict(
        window_type="hanning", snip_edges=False, low_freq=60.0, high_freq=-400.0
    ),
    "rectangular_magnitude_energy_floor": dict(
        window_type="rectangular",
        round_to_power_of_two=False,
        use_power=False,
        remove_dc_offset=False,
        use_energy=True,
        raw_energy=False,
        energy_floor=1.0,
        num_mel_bins=23,
    ),
}


def knf_fbank(wav, **options):
    """kaldi-native-fbank features of one float waveform in [-1, 1], as (T, dim) float64."""
    opts = knf.FbankOptions()
    frame = opts.frame_opts
    frame.samp_freq = SAMPLE_RATE
    frame.dither = 0.0
    frame.window_type = options.get("window_type", "povey")
    frame.preemph_coeff = options.get("preemph_coeff", 0.97)
    frame.remove_dc_offset = options.get("remove_dc_offset", True)
    frame.round_to_power_of_two = options.get("round_to_power_of_two", True)
    frame.snip_edges = options.get("snip_edges", True)
    opts.mel_opts.num_bins = options.get("num_mel_bins", 80)
    opts.mel_opts.low_freq = options.get("low_freq", 20.0)
    opts.mel_opts.high_freq = options.get("high_freq", 0.0)
    opts.use_energy = options.get("use_energy", False)
    opts.raw_energy = options.get("raw_energy", True)
    opts.energy_floor = options.get("energy_floor", 0.0)
    opts.use_power = options.get("use_power", True)
    opts.use_log_fbank = options.get("use_log_fbank", True)
    fbank = knf.OnlineFbank(opts)
    # knf, like Kaldi, works on 16-bit sample values.
    fbank.accept_waveform(SAMPLE_RATE, (wav.double() * 32768.0).tolist())
    fbank.input_finished()
    frames = [fbank.get_frame(i) for i in range(fbank.num_frames_ready)]
    return np.asarray(frames, dtype=np.float64).reshape(len(frames), fbank.dim)


def speech_like(num_samples, seed):
    """Harmonics of a gliding pitch under a syllable-rate envelope, noise, and a silent gap."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(num_samples, dtype=torch.float64) / SAMPLE_RATE
    phase = 2 * math.pi * (110 * t + 40 * t * t)
    voiced = sum(torch.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * torch.sin(2 * math.pi * 4 * t)
    wav = 0.2 * envelope * voiced + 0.01 * torch.randn(num_samples, generator=gen)
    wav[num_samples // 3 : num_samples // 3 + 800] = 0.0
    return wav.float()


def signals():
    gen = torch.Generator().manual_seed(0)
    # Shorter than a frame: no frames with snip_edges, one repeatedly mirrored frame without.
    yield "noise_150", 0.1 * torch.randn(150, generator=gen)
    yield "noise_400", 0.1 * torch.randn(400, generator=gen)
    yield "noise_1234", 0.3 * torch.randn(1234, generator=gen)
    yield "speech_8037", speech_like(8037, seed=1)
    yield "speech_16000", speech_like(16000, seed=2)


def padded_batch(lengths, seed=0):
    """Random utterances of the given lengths, zero-padded into one (B, N) batch."""
    gen = torch.Generator().manual_seed(seed)
    wav = torch.zeros(len(lengths), max(lengths))
    for i, length in enumerate(lengths):
        wav[i, :length] = 0.2 * torch.randn(length, generator=gen)
    return wav, torch.tensor(lengths)


@pytest.mark.parametrize("name", sorted(OPTION_SETS))
def test_matches_kaldi_native_fbank(name):
    options = OPTION_SETS[name]
    fbank = KaldiFbank(**options).eval()
    for signal_name, wav in signals():
        expected = knf_fbank(wav, **options)
        feats, frame_lengths = fbank(wav.unsqueeze(0))
        assert feats.shape == (1,) + expected.shape, signal_name
        assert frame_lengths.tolist() == [expected.shape[0]], signal_name
        err = np.abs(feats[0].double().numpy() - expected).max(initial=0.0)
        assert err <= LOG_TOL, f"{signal_name}: max abs difference {err:.2e}"


def test_linear_fbank_matches_kaldi_native_fbank():
    options = dict(use_log_fbank=False, num_mel_bins=40)
    wav = speech_like(4000, seed=3)
    expected = knf_fbank(wav, **options)
    feats, _ = KaldiFbank(**options)(wav.unsqueeze(0))
    rel = np.abs(feats[0].double().numpy() - expected) / np.maximum(expected, 1.0)
    assert rel.max() <= 1e-4


@pytest.mark.parametrize("snip_edges", [True, False])
def test_padded_batch_equals_individual(snip_edges):
    fbank = KaldiFbank(snip_edges=snip_edges, use_energy=True).eval()
    wav, lengths = padded_batch([6000, 399, 4321, 160, 5000])
    feats, frame_lengths = fbank(wav, lengths)
    assert feats.shape[:2] == (5, fbank.num_frames(torch.tensor(6000)).item())
    for i, length in enumerate(lengths.tolist()):
        alone, alone_frames = fbank(wav[i : i + 1, :length])
        count = frame_lengths[i].item()
        assert count == alone_frames.item() == alone.shape[1]
        torch.testing.assert_close(feats[i, :count], alone[0], atol=1e-5, rtol=1e-6)
        assert not feats[i, count:].any()


def test_frame_count_formula():
    fbank = KaldiFbank()
    lengths = torch.tensor([0, 1, 399, 400, 401, 559, 560, 16000, 48000])
    expected = [0 if n < 400 else 1 + (n - 400) // 160 for n in lengths.tolist()]
    assert fbank.num_frames(lengths).tolist() == expected
    no_snip = KaldiFbank(snip_edges=False)
    assert no_snip.num_frames(lengths).tolist() == [(n + 80) // 160 for n in lengths.tolist()]


def test_too_short_input_gives_no_frames():
    fbank = KaldiFbank(num_mel_bins=40)
    feats, frame_lengths = fbank(torch.zeros(3, 399))
    assert feats.shape == (3, 0, 40)
    assert frame_lengths.tolist() == [0, 0, 0]
    wav, lengths = padded_batch([1000, 300])
    feats, frame_lengths = fbank(wav, lengths)
    assert frame_lengths.tolist() == [4, 0]
    assert not feats[1].any()


@IGNORE_JIT_DEPRECATION
def test_masked_mean_norm_ignores_padding():
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 7, 4, generator=gen) + 5.0
    frame_lengths = torch.tensor([7, 3, 0])
    out = masked_mean_norm(feats, frame_lengths)
    for i, count in enumerate(frame_lengths.tolist()):
        valid = feats[i, :count]
        torch.testing.assert_close(out[i, :count], valid - valid.mean(dim=0))
        assert not out[i, count:].any()
    module_out, module_lengths = torch.jit.script(MeanNorm())(feats, frame_lengths)
    torch.testing.assert_close(module_out, out)
    assert module_lengths.equal(frame_lengths)


@IGNORE_JIT_DEPRECATION
def test_torchscript_matches_eager():
    fbank = KaldiFbank(use_energy=True).eval()
    scripted = torch.jit.script(fbank)
    wav, lengths = padded_batch([5000, 1200, 3333])
    for args in ((wav,), (wav, lengths)):
        expected = fbank(*args)
        got = scripted(*args)
        torch.testing.assert_close(got[0], expected[0], atol=1e-6, rtol=0.0)
        assert got[1].equal(expected[1])
    no_snip = KaldiFbank(snip_edges=False, window_type="hamming").eval()
    torch.testing.assert_close(torch.jit.script(no_snip)(wav, lengths), no_snip(wav, lengths))


def test_autocast_and_half_input_compute_in_float32():
    fbank = KaldiFbank().eval()
    wav, lengths = padded_batch([3000, 2000])
    expected, _ = fbank(wav, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        feats, _ = fbank(wav, lengths)
    assert feats.dtype == torch.float32
    torch.testing.assert_close(feats, expected)
    feats, _ = fbank(wav.double(), lengths)
    assert feats.dtype == torch.float32
    torch.testing.assert_close(feats, expected)


def test_dither_only_in_training():
    fbank = KaldiFbank(dither=1.0)
    wav, _ = padded_batch([2000])
    torch.manual_seed(0)
    first, _ = fbank.train()(wav)
    second, _ = fbank(wav)
    assert not torch.equal(first, second)
    fbank.eval()
    assert torch.equal(fbank(wav)[0], fbank(wav)[0])


def test_rejects_bad_options():
    with pytest.raises(ValueError):
        KaldiFbank(window_type="blackman")
    with pytest.raises(ValueError):
        KaldiFbank(low_freq=9000.0)


def test_the_exported_dft_matmul_equals_the_fft():
    from wedefense.frontend.fbank import _dft_basis

    frames = torch.randn(3, 7, 400, dtype=torch.float64)
    spectrum = torch.fft.rfft(frames, n=512, dim=-1)
    got = frames @ _dft_basis(400, 512).double()
    torch.testing.assert_close(got[..., :257], spectrum.real, atol=1e-4, rtol=0)
    torch.testing.assert_close(got[..., 257:], spectrum.imag, atol=1e-4, rtol=0)
