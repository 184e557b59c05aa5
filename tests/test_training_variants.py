"""Training variants: class-balanced sampling, whole-utterance training with a length sampler,
their config keys, and the demo's shifted evaluation corpus and synthetic noise/RIR sets."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml

from tests.conftest import REPO
from tests.test_pipeline import make_corpus, utt_of
from tests.test_train import TINY_CONFIG, data, train_args  # noqa: F401 (fixture)
from wedefense.bin import train
from wedefense.dataset import demo_corpus, speech_synth
from wedefense.dataset.augment.noise import NoiseAdder
from wedefense.dataset.augment.reverb import Reverberator
from wedefense.dataset.loader import train_loader
from wedefense.dataset.pipeline import (
    TrainChunks,
    TrainUtterances,
    balance_repeats,
    length_bucketed,
    oversample,
)
from wedefense.training.detection import DetectionTask
from wedefense.training.detection_data import balance_class_counts
from wedefense.utils.config import load_config
from wedefense.utils.errors import InputError

CLASSES = ("bonafide", "spoof")


def items_of(counts):
    return [{"key": f"{lab}{i}", "lab": lab, "wav": "x"} for lab, n in counts.items()
            for i in range(n)]


@pytest.mark.parametrize("counts", [{"bonafide": 3, "spoof": 27}, {"bonafide": 4, "spoof": 10},
                                    {"bonafide": 5, "spoof": 5}])
def test_oversampling_evens_the_classes_of_a_raw_list(counts):
    repeats = dict(zip(CLASSES, balance_repeats([counts[c] for c in CLASSES])))
    out = oversample(items_of(counts), repeats, seed=1)
    per_class = Counter(it["lab"] for it in out)
    assert per_class["bonafide"] == per_class["spoof"] == max(counts.values())
    # every utterance of the smaller class is used, none more than once beyond its share
    uses = Counter(it["key"] for it in out if it["lab"] == "bonafide")
    r = repeats["bonafide"]
    assert len(uses) == counts["bonafide"] and set(uses.values()) <= {int(r), int(r) + 1}


def test_balance_repeats_needs_every_class():
    assert balance_repeats([1, 9]) == [9.0, 1.0]
    with pytest.raises(InputError, match="class_balance"):
        balance_repeats([0, 9])


def test_balanced_stream_reads_classes_equally_from_raw_lists_and_shards(tmp_path):
    raw, tars = make_corpus(tmp_path, n=10, per_shard=3)
    raw = [it for it in raw if it["lab"] == "spoof"] + [raw[0]]  # 5 spoof : 1 bona fide
    spoof_keys = {it["key"] for it in raw if it["lab"] == "spoof"}
    for items, repeats in ((raw, [5.0, 1.0]), (tars, [1.0, 1.0])):
        ds = TrainChunks(items, CLASSES, 800, seed=3, class_repeats=repeats)
        labels = [label for _, label in
                  (next(s) for s in [iter(ds)] for _ in range(400))]
        share = np.mean(np.asarray(labels) == 0)
        assert share == pytest.approx(0.5, abs=0.08) if items is raw else 0.5 - 0.08 < share
    # a shard stream repeats a class-c sample r times on average (here bona fide 3 times)
    ds = TrainChunks(tars, CLASSES, 800, seed=3, class_repeats=[3.0, 1.0])
    stream = iter(ds)
    labels = [next(stream)[1] for _ in range(400)]
    assert np.mean(np.asarray(labels) == 0) == pytest.approx(0.75, abs=0.07)
    assert spoof_keys  # raw list above held both classes


def test_class_balance_sets_a_uniform_prior_and_keeps_the_list_counts():
    config = {"dataset_args": {"class_balance": True}, "class_counts": [2, 18]}
    balance_class_counts(config)
    assert config["class_counts"] == [18, 18] and config["train_class_counts"] == [2, 18]
    # steps per epoch of a shard list still count each utterance once
    assert DetectionTask().num_train_utterances(["a.tar"], config, "shard") == 20
    plain = {"dataset_args": {}, "class_counts": [2, 18]}
    balance_class_counts(plain)
    assert plain == {"dataset_args": {}, "class_counts": [2, 18]}


def test_length_bucketed_yields_every_sample_once_in_sorted_batches():
    rng = np.random.default_rng(0)
    lengths = rng.integers(100, 1000, size=50)
    samples = [(torch.full((int(n),), float(i)), i % 2) for i, n in enumerate(lengths)]
    batches = list(length_bucketed(iter(samples), 4, 5, np.random.default_rng(1)))
    seen = []
    for wavs, lens, labels in batches:
        ids = [int(w[0]) for w in wavs]
        seen += ids
        assert lens.tolist() == [int(lengths[i]) for i in ids]
        assert labels.tolist() == [i % 2 for i in ids]
        assert wavs.shape[1] == int(lens.max())
        assert all(float(w[n:].abs().sum()) == 0.0 for w, n in zip(wavs, lens))
    assert sorted(seen) == list(range(50))
    # within a pool of 20, a batch holds neighbours in length: it pads less than at random
    padded = sum(int(lens.max()) * len(lens) - int(lens.sum()) for _, lens, _ in batches)
    assert padded < 0.25 * int(lengths.sum())


def test_whole_utterance_stream_keeps_short_utterances_whole_and_crops_long_ones(tmp_path):
    raw, _ = make_corpus(tmp_path, n=10)  # 1600 + 160 i samples
    ds = TrainUtterances(raw, CLASSES, 2400, seed=0, batch_size=3, pool_batches=2)
    stream = iter(ds)
    for _ in range(8):
        wavs, lens, labels = next(stream)
        for w, n, y in zip(wavs, lens, labels):
            utt = utt_of(w)
            assert int(n) == min(1600 + 160 * utt, 2400)  # whole, or cropped; never tiled
            assert CLASSES[int(y)] == raw[utt]["lab"]


def test_train_loader_builds_the_length_sampler_from_the_config(tmp_path):
    raw, _ = make_corpus(tmp_path, n=10)
    config = dict(TINY_CONFIG, dataset_args={"chunk_len": 0.12, "whole_utterance": True,
                                             "pool_batches": 2},
                  class_counts=[5, 5])
    dataset, loader = train_loader(raw, CLASSES, config)
    wavs, lens, labels = next(iter(loader))
    assert isinstance(dataset, TrainUtterances) and wavs.shape == (4, int(lens.max()))
    assert int(lens.max()) <= 1920


def test_training_with_class_balance_and_whole_utterances(data):  # noqa: F811
    config = dict(TINY_CONFIG, dataset_args={"chunk_len": 0.6, "class_balance": True,
                                             "whole_utterance": True})
    with open(data / "conf.yaml", "w") as f:
        yaml.safe_dump(config, f)
    # 4 bona fide : 12 spoof in the training list
    lines = [json.loads(line) for line in open(data / "train" / "raw.list")]
    kept = [it for i, it in enumerate(lines) if it["lab"] == "spoof" or i % 4 == 0]
    with open(data / "train" / "raw.list", "w") as f:
        f.writelines(json.dumps(it) + "\n" for it in kept)
    with open(data / "train" / "utt2lab", "w") as f:
        f.writelines(f"{it['key']} {it['lab']}\n" for it in kept)
    exp = data / "exp"
    train.main(train_args(data, exp))
    saved = yaml.safe_load(open(exp / "config.yaml"))
    assert saved["train_class_counts"] == [4, 8] and saved["class_counts"] == [8, 8]
    assert "epoch 2:" in open(exp / "train.log").read()


@pytest.mark.parametrize("key, value, message", [
    ("class_balance", "yes", "dataset_args.class_balance must be true or false"),
    ("whole_utterance", 1, "dataset_args.whole_utterance must be true or false"),
    ("pool_batches", 0, "dataset_args.pool_batches must be >= 1"),
])
def test_variant_keys_are_checked(tmp_path, key, value, message):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"dataset_args": {key: value}}))
    with pytest.raises(InputError, match=message):
        load_config(path)


def test_shifted_corpus_has_other_voices_and_a_telephone_channel(tmp_path):
    rng_default, rng_shifted = (np.random.default_rng(5) for _ in range(2))
    plain = [speech_synth.draw_speaker(rng_default) for _ in range(40)]
    shifted = [speech_synth.draw_speaker(rng_shifted, shifted=True) for _ in range(40)]
    assert all(s.f0_hz < 85.0 or s.f0_hz > 240.0 for s in shifted)  # default: 85-240 Hz
    assert min(s.jitter for s in shifted) >= max(s.jitter for s in plain)
    demo_corpus.generate_demo_corpus(tmp_path / "c", seed=1, num_train=1, num_dev=1,
                                     num_eval=6, num_workers=1, shifted=True)
    stamp = json.load(open(tmp_path / "c" / demo_corpus.STAMP))
    assert stamp["params"]["shifted"] is True
    wav = np.concatenate([soundfile.read(p)[0] for p in
                          sorted((tmp_path / "c" / "database" / "eval" / "con_wav").glob("*"))])
    spectrum = np.abs(np.fft.rfft(wav)) ** 2
    freqs = np.fft.rfftfreq(len(wav), 1 / 16000)
    out_of_band = spectrum[(freqs < 150) | (freqs > 5000)].sum() / spectrum.sum()
    assert out_of_band < 0.01
    # the same seed without the shift is another corpus: regenerated, not reused
    summary = demo_corpus.generate_demo_corpus(tmp_path / "c", seed=1, num_train=1, num_dev=1,
                                               num_eval=6, num_workers=1)
    assert not summary["reused"] and "shifted" not in summary["params"]
    with pytest.raises(InputError, match="shifted"):
        demo_corpus.generate_demo_corpus(tmp_path / "l", task="localization", shifted=True)


def test_noise_and_rir_sets_feed_the_augmenters(tmp_path):
    noise_scp, rir_scp = demo_corpus.write_noise_and_rirs(tmp_path, num_noises=2, num_rirs=2,
                                                          noise_seconds=1.0)
    assert [line.split()[0] for line in open(noise_scp)] == ["noise-0001", "noise-0002"]
    rng = np.random.default_rng(0)
    speech = (0.1 * np.sin(np.arange(16000) / 5.0)).astype(np.float32)
    noisy = NoiseAdder(noise_scp, {"noise": {"snr": [5, 5]}})(speech, rng)
    snr = 10 * np.log10(np.mean(speech ** 2) / np.mean((noisy - speech) ** 2))
    assert snr == pytest.approx(5.0, abs=0.5)
    wet = Reverberator(rir_scp)(speech, rng)
    assert wet.shape == speech.shape and not np.allclose(wet, speech, atol=1e-3)


VARIANTS = {"rawboost": ("augment",), "codec": ("augment",), "noise_reverb": ("augment",),
            "class_balance": ("dataset_args",), "whole_utt": ("dataset_args",)}


@pytest.mark.parametrize("recipe", ["asvspoof2019_la", "asvspoof5", "partialspoof", "demo"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_corpus_recipe_has_each_variant_config(recipe, variant):
    """Each variant is the recipe's plain ResNet18 config plus its own section, nothing else."""
    conf = Path(REPO) / "egs" / "detection" / recipe / "v03_resnet18" / "conf"
    plain_name, prefix = ("resnet_demo", "resnet_demo_") if recipe == "demo" else \
        ("resnet", "resnet_")
    plain = load_config(conf / f"{plain_name}.yaml")
    config = load_config(conf / f"{prefix}{variant}.yaml")
    changed = {k for k in set(plain) | set(config) if plain.get(k) != config.get(k)}
    assert changed == set(VARIANTS[variant])
    if variant == "class_balance":
        assert config["dataset_args"]["class_balance"] is True
    if variant == "whole_utt":
        assert config["dataset_args"]["whole_utterance"] is True
