"""LFCC, log spectrogram and raw passthrough: values against direct NumPy computations, shapes,
padding invariance."""

import numpy as np
import pytest
import scipy.fft
import torch

from wedefense.frontend.lfcc import LFCC
from wedefense.frontend.spectrogram import LogSpectrogram, RawWaveform
from wedefense.models.registry import FRONTENDS

SR = 16000


def numpy_power_frames(wav, frame, shift, n_fft, preemph):
    """Power spectra of the whole frames of one utterance, the textbook way, in float64."""
    x = np.asarray(wav, dtype=np.float64)
    if preemph:
        x = np.concatenate([x[:1], x[1:] - preemph * x[:-1]])
    window = np.hamming(frame)
    count = 1 + (len(x) - frame) // shift
    frames = np.stack([x[i * shift:i * shift + frame] * window for i in range(count)])
    return np.abs(np.fft.rfft(frames, n=n_fft)) ** 2


def numpy_lfcc(wav, num_ceps=20, num_filters=20, frame=320, shift=160, n_fft=512):
    power = numpy_power_frames(wav, frame, shift, n_fft, 0.97)
    freqs = np.arange(n_fft // 2 + 1) * SR / n_fft
    edges = np.linspace(0.0, SR / 2, num_filters + 2)
    bank = np.zeros((n_fft // 2 + 1, num_filters))
    for m in range(num_filters):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        for k, f in enumerate(freqs):
            if lo < f <= mid:
                bank[k, m] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                bank[k, m] = (hi - f) / (hi - mid)
    ceps = scipy.fft.dct(np.log(power @ bank), type=2, norm="ortho", axis=1)[:, :num_ceps]

    def delta(c):
        padded = np.pad(c, ((1, 1), (0, 0)), mode="edge")
        return (padded[2:] - padded[:-2]) / 2.0

    d1 = delta(ceps)
    return np.concatenate([ceps, d1, delta(d1)], axis=1)


def test_lfcc_matches_numpy_and_baseline_shape():
    rng = np.random.default_rng(0)
    wav = 0.1 * rng.standard_normal(SR).astype(np.float32)
    lfcc = LFCC()
    feats, frames = lfcc(torch.from_numpy(wav)[None])
    # ASVspoof baseline layout: 20 ms / 10 ms frames, 20 static + 20 delta + 20 double delta
    assert lfcc.feature_dim == 60 and feats.shape == (1, 99, 60) and frames.tolist() == [99]
    expected = numpy_lfcc(wav)
    np.testing.assert_allclose(feats[0].numpy(), expected, atol=2e-3, rtol=1e-3)


def test_lfcc_options_shape_and_energy():
    wav = 0.1 * torch.randn(2, 8000)
    static = LFCC(num_ceps=13, num_filters=30, delta_order=0)
    assert static(wav)[0].shape == (2, 49, 13) and static.feature_dim == 13
    energy = LFCC(with_energy=True, delta_order=1, preemph_coeff=0.0)(wav)[0]
    frames = wav[0, :320].double() * torch.hamming_window(320, periodic=False, dtype=torch.float64)
    assert energy.shape == (2, 49, 40)
    assert abs(energy[0, 0, 0].item() - frames.square().sum().log().item()) < 1e-3
    with pytest.raises(ValueError, match="num_ceps"):
        LFCC(num_ceps=30, num_filters=20)


@pytest.mark.parametrize("name", ["lfcc", "spectrogram", "fbank", "raw"])
def test_padded_batch_equals_lone_utterances(name):
    torch.manual_seed(0)
    frontend = FRONTENDS[name]()
    lengths = torch.tensor([8000, 5555, 700, 100])
    wavs = 0.1 * torch.randn(4, 8000)
    wavs[1, 5555:] = 1.0  # garbage in the padding must not leak
    feats, frame_lengths = frontend(wavs, lengths)
    assert feats.shape[-1] == frontend.feature_dim
    for i, n in enumerate(lengths):
        alone, count = frontend(wavs[i:i + 1, :n])
        assert int(frame_lengths[i]) == int(count[0])
        torch.testing.assert_close(feats[i, :count[0]], alone[0], atol=1e-4, rtol=1e-4)
        assert not feats[i, count[0]:].any()


def test_log_spectrogram_matches_numpy():
    rng = np.random.default_rng(1)
    wav = 0.1 * rng.standard_normal(4000).astype(np.float32)
    spec = LogSpectrogram()
    feats, frames = spec(torch.from_numpy(wav)[None])
    expected = np.log(numpy_power_frames(wav, 400, 160, 512, 0.0))
    assert spec.feature_dim == 257 and feats.shape == (1, 23, 257)
    np.testing.assert_allclose(feats[0].numpy(), expected, atol=2e-3, rtol=1e-3)


def test_raw_passthrough_and_short_input():
    wav = torch.randn(2, 300)
    feats, lengths = RawWaveform()(wav, torch.tensor([300, 120]))
    assert feats.shape == (2, 300, 1) and lengths.tolist() == [300, 120]
    assert not feats[1, 120:].any()
    empty, counts = LFCC()(wav)  # shorter than one 20 ms frame
    assert empty.shape == (2, 0, 60) and counts.tolist() == [0, 0]
