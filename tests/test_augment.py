"""Waveform augmentation (speed, noise, reverb, RawBoost, codecs) and SpecAugment."""

import logging

import numpy as np
import pytest
import soundfile
import torch

from wedefense.dataset.augment import Augmenter
from wedefense.dataset.augment.codec import CODECS, CodecSimulator, encode_decode, supported
from wedefense.dataset.augment.noise import NoiseAdder
from wedefense.dataset.augment.rawboost import RawBoost
from wedefense.dataset.augment.reverb import reverberate
from wedefense.dataset.augment.spec_augment import SpecAugment, attach_spec_augment
from wedefense.dataset.augment.speed import speed_classes, speed_perturb
from wedefense.utils.errors import InputError

SR = 16000


def tone(seconds=1.0, f=300.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_speed_perturb_changes_length_and_pitch():
    x = tone()
    for speed in (0.9, 1.1):
        y = speed_perturb(x, speed)
        assert abs(len(y) - len(x) / speed) <= 1
        # the tone's frequency scales with the speed
        peak = np.argmax(np.abs(np.fft.rfft(y))) * SR / len(y)
        assert abs(peak - 300 * speed) < 5
    assert speed_perturb(x, 1.0) is x
    assert speed_classes(["bonafide", "spoof"], [0.9, 1.0, 1.1]) == \
        ["bonafide", "spoof", "bonafide_sp0.9", "spoof_sp0.9", "bonafide_sp1.1", "spoof_sp1.1"]


def test_speed_as_classes_moves_the_label():
    aug = Augmenter({"speed_perturb": {"prob": 1.0, "as_classes": True}}, SR, num_classes=2)
    rng = np.random.default_rng(0)
    seen = {}
    for _ in range(60):
        y, label = aug.utterance(tone(0.5), 1, rng)
        seen[label] = len(y)
    assert seen == {1: 8000, 3: round(8000 / 0.9), 5: round(8000 / 1.1)}


def write_scp(tmp_path, name, signals):
    lines = []
    for key, sig in signals.items():
        path = tmp_path / f"{key}.wav"
        soundfile.write(path, sig, SR)
        lines.append(f"{key} {path}")
    scp = tmp_path / f"{name}.scp"
    scp.write_text("\n".join(lines) + "\n")
    return scp


def test_noise_at_the_configured_snr(tmp_path):
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal(SR // 2)).astype(np.float32)  # shorter: looped
    scp = write_scp(tmp_path, "musan", {"noise-a-0001": noise, "music-b-0001": noise})
    adder = NoiseAdder(str(scp), {"noise": {"snr": [10, 10]}, "speech": {"snr": [0, 5]}}, SR)
    assert adder.names == ["noise"]  # no speech-* recordings: that type is left out
    x = tone(1.3)
    y = adder(x, rng)
    snr = 10 * np.log10(np.mean(x ** 2) / np.mean((y - x) ** 2))
    assert len(y) == len(x) and abs(snr - 10) < 0.1


def test_reverb_keeps_alignment_and_power():
    x = tone()
    rir = np.zeros(800, np.float32)
    rir[100], rir[400], rir[700] = 1.0, 0.5, 0.25
    y = reverberate(x, rir)
    assert len(y) == len(x)
    assert np.isclose(np.mean(y ** 2), np.mean(x ** 2), rtol=1e-3)
    assert np.corrcoef(x[:2000], y[:2000])[0, 1] > 0.5  # direct path at time zero


@pytest.mark.parametrize("algo", range(1, 9))
def test_rawboost_algorithms(algo):
    rng = np.random.default_rng(algo)
    x = tone(0.5) + 0.01 * rng.standard_normal(SR // 2).astype(np.float32)
    y = RawBoost(algo=algo)(x, rng)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert not np.allclose(x, y) and np.max(np.abs(y)) < 1.5


def test_rawboost_rejects_unknown_settings():
    with pytest.raises(ValueError):
        RawBoost(algo=9)
    with pytest.raises(ValueError):
        RawBoost(snr=[1, 2])


def test_codecs_round_trip(caplog):
    x = tone(0.5, 440.0)
    available = [c for c in CODECS if supported(c)]
    assert {"mulaw_8k", "alaw_8k"} <= set(available)
    for codec in available:
        y = encode_decode(x, SR, codec)
        assert y.shape == x.shape and np.isfinite(y).all(), codec
        assert np.max(np.abs(y)) > 0.05, codec  # the tone survives
    mulaw = encode_decode(x, SR, "mulaw_8k")
    assert np.corrcoef(x, mulaw)[0, 1] > 0.99  # 440 Hz is inside the 8 kHz band
    sim = CodecSimulator(available[:2])
    assert sim(x, np.random.default_rng(0)).shape == x.shape
    with pytest.raises(ValueError):
        CodecSimulator(["amr_wb"])


def test_unsupported_codec_is_skipped_with_a_note(monkeypatch, caplog):
    from wedefense.dataset.augment import codec as codec_module
    monkeypatch.setitem(codec_module.CODECS, "bogus", ("WAV", "NO_SUCH_SUBTYPE", None, None))
    with caplog.at_level(logging.INFO, logger="wedefense.dataset.augment.codec"):
        sim = CodecSimulator(["mulaw_8k", "bogus"])
    assert sim.codecs == ["mulaw_8k"] and "codec bogus is not supported" in caplog.text


def test_augmenter_applies_every_kind(tmp_path):
    rng = np.random.default_rng(3)
    noise_scp = write_scp(tmp_path, "musan", {"noise-x-1": 0.1 * rng.standard_normal(SR)})
    rir = np.zeros(400, np.float32)
    rir[0], rir[200] = 1.0, 0.3
    rir_scp = write_scp(tmp_path, "rirs", {"rir1": rir})
    aug = Augmenter({"reverb": {"prob": 1.0, "rir_scp": str(rir_scp)},
                     "noise": {"prob": 1.0, "noise_scp": str(noise_scp),
                               "types": {"noise": {"snr": [5, 5]}}},
                     "rawboost": {"prob": 1.0, "algo": 2},
                     "codec": {"prob": 1.0, "codecs": ["alaw_8k"]},
                     "speed_perturb": {"prob": 0.0}}, SR)
    x = tone(0.5)
    y = aug.chunk(x, rng)
    assert y.shape == x.shape and np.abs(y).max() <= 1.0 and not np.allclose(x, y)
    with pytest.raises(ValueError, match="unknown augmentation"):
        Augmenter({"mixup": {"prob": 1}})


def test_spec_augment_masks_in_training_only():
    torch.manual_seed(0)
    feats = torch.randn(4, 100, 20)
    out = SpecAugment(prob=1.0, max_time_mask=30, max_freq_mask=8)(feats.clone())
    changed = out != feats
    assert changed.any()
    mean = feats.mean(dim=1, keepdim=True).expand_as(feats)
    assert torch.equal(out[changed], mean[changed])  # masked values are the bin means
    assert torch.equal(SpecAugment(prob=0.0)(feats), feats)

    class Frontend(torch.nn.Module):
        def forward(self, wav, lengths):
            return wav.unsqueeze(-1).repeat(1, 1, 20), lengths

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.frontend = Frontend()

    model = Model()
    assert attach_spec_augment(model, {"prob": 0}) is None
    attach_spec_augment(model, {"prob": 1.0, "max_time_mask": 50, "max_freq_mask": 10})
    wav, lengths = torch.randn(3, 200), torch.full((3,), 200)
    model.train()
    assert not torch.equal(model.frontend(wav, lengths)[0], wav.unsqueeze(-1).repeat(1, 1, 20))
    model.eval()
    assert torch.equal(model.frontend(wav, lengths)[0], wav.unsqueeze(-1).repeat(1, 1, 20))


def test_spec_augment_fill_is_the_mean_of_valid_frames():
    torch.manual_seed(0)
    feats = torch.zeros(2, 10, 3)
    feats[0] = torch.arange(10.0)[:, None] + 1  # mean 5.5
    feats[1, :4] = torch.tensor([1.0, 2.0, 4.0, 5.0])[:, None]  # mean 3, then padding
    lengths = torch.tensor([10, 4])
    out = SpecAugment(prob=1.0, max_time_mask=0, max_freq_mask=3, num_freq_masks=3)(
        feats, lengths)
    masked = out != feats
    assert masked[0].any() and masked[1, :4].any()
    assert torch.all(out[0][masked[0]] == 5.5)
    assert torch.all(out[1, :4][masked[1, :4]] == 3.0)  # padding left out of the mean


def test_spec_augment_refuses_frontends_without_a_time_frequency_map():
    from wedefense.frontend.fbank import KaldiFbank
    from wedefense.frontend.spectrogram import RawWaveform

    class LayerStack(torch.nn.Module):
        """Shaped like the SSL front-end's output: (B, L + 1, T, D)."""

        def forward(self, wav, lengths):
            frames = wav.shape[1] // 320
            return wav.new_zeros(wav.shape[0], 3, frames, 8), lengths // 320

    class Model(torch.nn.Module):
        def __init__(self, frontend):
            super().__init__()
            self.frontend = frontend

    config = {"prob": 1.0}
    for frontend in (RawWaveform(), LayerStack()):
        model = Model(frontend)
        with pytest.raises(InputError, match="spec_augment needs a front-end"):
            attach_spec_augment(model, config)
        assert not model.frontend._forward_hooks
    model = Model(KaldiFbank()).train()
    assert attach_spec_augment(model, config) is not None and model.training
