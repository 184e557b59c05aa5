"""Relevance maps: shapes, and relevance where a hand-built model actually looks."""

import os
import types

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from tests.conftest import write_wav
from wedefense.bin import explain as explain_bin
from wedefense.explain import relevance, relevance_summary
from wedefense.frontend.fbank import KaldiFbank
from wedefense.inference.bundle import LLRModel
from wedefense.models.registry import build_model
from wedefense.utils.errors import InputError

SR = 16000
CONFIG = {"classes": ["bonafide", "spoof"], "class_counts": [3, 5], "frontend": "fbank",
          "frontend_args": {"num_mel_bins": 40, "dither": 0.0}, "model": "ResNet18",
          "model_args": {"m_channels": 4, "embed_dim": 8}, "projection_args":
          {"project_type": "linear"}, "dataset_args": {"sample_rate": SR}}


def speech_like(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    wav = 0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (wav + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


class BandBackbone(nn.Module):
    """Reads only mel bins [lo, hi): bias-free convolutions keep everything else at zero.
    ``layout`` is the order of the conv activations' last two axes, (F, T) like ResNet or (T, F)
    like LCNN, which Grad-CAM must tell apart on its own."""

    def __init__(self, bins, lo, hi, layout):
        super().__init__()
        self.register_buffer("band", (torch.arange(bins) >= lo) & (torch.arange(bins) < hi))
        self.layout = layout
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.relu = nn.ReLU()

    def forward(self, feats, frame_lengths):
        x = (feats - feats.min()) * self.band  # positive inside the band, zero outside
        x = x.unsqueeze(1) if self.layout == "TF" else x.transpose(1, 2).unsqueeze(1)
        x = self.relu(self.conv2(torch.relu(self.conv1(x))))
        return x.mean(dim=(1, 2, 3))[:, None]


class TimeBackbone(nn.Module):
    """Reads only the frames in [first, last)."""

    def __init__(self, first, last):
        super().__init__()
        self.first, self.last = first, last

    def forward(self, feats, frame_lengths):
        return feats[:, self.first:self.last].mean(dim=(1, 2))[:, None]


def wrap(frontend, backbone):
    """An LLRModel whose LLR is twice the backbone's one output (bona fide logit +x, spoof -x)."""
    projection = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        projection.weight.copy_(torch.tensor([[1.0], [-1.0]]))
    detector = types.SimpleNamespace(frontend=frontend, backbone=backbone,
                                     projection=projection, mean_norm=False)
    return LLRModel(detector, ["bonafide", "spoof"], [1, 1]).eval()


@pytest.mark.parametrize("layout", ["FT", "TF"])
def test_gradcam_of_a_model_that_reads_one_band_lies_in_that_band(layout):
    torch.manual_seed(0)
    with torch.no_grad():
        backbone = BandBackbone(40, 25, 31, layout)
        for conv in (backbone.conv1, backbone.conv2):
            conv.weight.abs_()  # positive weights: every active unit adds to the score
    model = wrap(KaldiFbank(num_mel_bins=40, dither=0.0), backbone)
    wav = speech_like(1.3)
    rmap = relevance.gradcam(model, wav, SR, target="bonafide")
    feats, _ = model.frontend(torch.from_numpy(wav)[None], torch.tensor([len(wav)]))
    assert rmap.values.shape == tuple(feats.shape[1:])
    per_bin = rmap.values.sum(axis=0)
    assert per_bin[23:33].sum() > 0.95 * per_bin.sum()  # the band, give or take a kernel
    assert per_bin[25:31].min() > 0
    # relevance spreads over time in the band, not in one frame (a swapped time axis would
    # give a band along time instead)
    assert (rmap.values[:, 27] > 0).mean() > 0.8


def test_occlusion_of_a_model_that_reads_one_stretch_lies_in_that_stretch():
    model = wrap(KaldiFbank(num_mel_bins=40, dither=0.0), TimeBackbone(60, 90))
    wav = speech_like(1.5)
    rmap = relevance.occlusion(model, wav, SR, target="bonafide", window=0.1, hop=0.05)
    assert rmap.values.shape == (148,)  # snipped edges: 1 + (1.5 s - 25 ms) // 10 ms
    mass = np.abs(rmap.values)
    assert mass[50:100].sum() > 0.99 * mass.sum()
    assert (mass[62:88] > 0).all()


def test_gradcam_of_resnet_has_the_fbank_shape():
    torch.manual_seed(0)
    detector = build_model(CONFIG).eval()
    model = LLRModel(detector, CONFIG["classes"], CONFIG["class_counts"]).eval()
    wav = speech_like(0.9)
    spoof = relevance.gradcam(model, wav, SR, "spoof")
    bona = relevance.gradcam(model, wav, SR, "bonafide")
    assert spoof.values.shape == (88, 40) == bona.values.shape
    assert spoof.llr == pytest.approx(bona.llr)
    for rmap in (spoof, bona):
        assert np.isfinite(rmap.values).all() and (rmap.values >= 0).all()


def test_gradcam_of_an_ssl_model_is_a_map_over_its_frames():
    pytest.importorskip("transformers")
    from tests.test_ssl import tiny_model

    detector = tiny_model("SSL_MHFA").eval()
    model = LLRModel(detector, ["bonafide", "spoof"], [1, 1]).eval()
    wav = speech_like(0.5)
    rmap = relevance.gradcam(model, wav, SR, "spoof")
    hidden, frames = model.frontend(torch.from_numpy(wav)[None], torch.tensor([len(wav)]))
    assert rmap.values.shape == (hidden.shape[2],) == (int(frames[0]),)
    assert rmap.frame_shift == pytest.approx(20 / SR)
    assert np.isfinite(rmap.values).all() and (rmap.values >= 0).all()


def test_shares_count_relevance_on_the_masked_frames():
    values = np.zeros((10, 3))
    values[2:4] = 1.0
    values[7] = -5.0  # negative relevance is not evidence for the class
    mask = np.zeros(10, dtype=bool)
    mask[:5] = True
    assert relevance_summary.shares(values, mask) == (0.5, 1.0)
    assert np.isnan(relevance_summary.shares(np.zeros(4), mask[:4])[1])
    speech = relevance_summary.energy_vad(np.r_[np.zeros(800), speech_like(0.1)], SR, 0.01, 15)
    assert not speech[:5].any() and speech[5:].all()


def test_explain_cli_writes_maps_pictures_index_and_per_attack_summary(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    torch.manual_seed(0)
    exp = tmp_path / "exp"
    (exp / "models").mkdir(parents=True)
    (exp / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    torch.save({"model": build_model(CONFIG).state_dict()}, exp / "models" / "avg_model.pt")
    scp, attacks = tmp_path / "wav.scp", tmp_path / "utt2attack"
    write_wav(str(tmp_path / "a.wav"), 1.0, 0)
    write_wav(str(tmp_path / "b.wav"), 0.8, 1)
    scp.write_text(f"u_a {tmp_path / 'a.wav'}\nu_b {tmp_path / 'b.wav'}\n")
    attacks.write_text("u_a -\nu_b A07\n")
    stamps = tmp_path / "timestamps"
    stamps.write_text("u_b 0.8000 spoof 0.0000-0.2000-bonafide 0.2000-0.6000-spoof "
                      "0.6000-0.8000-bonafide\n")
    out = tmp_path / "out"
    explain_bin.main(["--model", str(exp), "--wav_scp", str(scp), "--out_dir", str(out),
                      "--timestamps", str(stamps), "--utt2attack", str(attacks)])
    index = [line.split("\t") for line in (out / "index.tsv").read_text().splitlines()]
    assert index[0][:3] == ["utt", "map", "png"] and [r[0] for r in index[1:]] == ["u_a", "u_b"]
    assert np.load(out / "maps" / "u_a.npy").shape == (98, 40)  # the fbank's own shape
    assert np.load(out / "maps" / "u_b.npy").shape == (78, 40)
    assert (out / "png" / "u_b.png").read_bytes()[:4] == b"\x89PNG"
    row_b = dict(zip(index[0], index[2]))
    assert float(row_b["spoof_time"]) == pytest.approx(40 / 78, abs=1e-4)  # frames 20-59
    assert row_b["relevance_on_spoof"] != "nan" and dict(zip(index[0], index[1]))[
        "relevance_on_spoof"] == "nan"
    summary = [line.split("\t")[0] for line in (out / "summary.tsv").read_text().splitlines()]
    assert summary == ["attack", "all", "A07", "bonafide"]
    assert "relevance_on_spoof" in capsys.readouterr().out


def test_explain_cli_names_a_missing_audio_file(tmp_path, capsys):
    scp = tmp_path / "wav.scp"
    scp.write_text(f"u1 {tmp_path / 'nope.wav'}\n")
    torch.manual_seed(0)
    exp = tmp_path / "exp"
    (exp / "models").mkdir(parents=True)
    (exp / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    torch.save({"model": build_model(CONFIG).state_dict()}, exp / "models" / "avg_model.pt")
    with pytest.raises(SystemExit) as e:
        explain_bin.main(["--model", str(exp), "--wav_scp", str(scp), "--out_dir",
                          str(tmp_path / "o"), "--no_png"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.wav" in err and len(err.splitlines()) == 1
    assert not os.path.exists(tmp_path / "o" / "index.tsv")


def test_a_bundle_and_its_exp_dir_give_the_same_map(tmp_path):
    from wedefense.inference.bundle import export_bundle

    torch.manual_seed(0)
    exp = tmp_path / "exp"
    (exp / "models").mkdir(parents=True)
    (exp / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    torch.save({"model": build_model(CONFIG).state_dict()}, exp / "models" / "best_model.pt")
    export_bundle(str(exp / "config.yaml"), str(exp / "models" / "best_model.pt"),
                  str(tmp_path / "bundle"), torchscript=False, onnx=False)
    wav = speech_like(0.7)
    maps = [relevance.gradcam(relevance.load_llr_model(str(p)), wav, SR)
            for p in (exp, tmp_path / "bundle")]
    assert maps[0].llr == pytest.approx(maps[1].llr, abs=1e-5)
    np.testing.assert_allclose(maps[0].values, maps[1].values, rtol=1e-4, atol=1e-7)
    with pytest.raises(InputError, match="neither a model bundle"):
        relevance.load_llr_model(str(tmp_path))
