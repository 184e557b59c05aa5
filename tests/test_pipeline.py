"""The streaming training pipeline: disjoint partitions, seeded shuffles, endless per-rank
streams, broken audio skipped and reported, and training from shards."""

import io
import json
import logging
import os
import tarfile
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import torch
import yaml

from tests.conftest import write_wav
from tests.test_shards import load_tool
from tests.test_train import TINY_CONFIG
from wedefense.dataset import pipeline
from wedefense.dataset.pipeline import TrainChunks, buffer_shuffle, partition
from wedefense.utils.errors import InputError

make_shard_list = load_tool("make_shard_list")
CLASSES = ("bonafide", "spoof")


def make_corpus(root, n=10, per_shard=3):
    """n utterances of constant value (i+1)/64, so a chunk tells which utterance it came from."""
    d = root / "data"
    d.mkdir(parents=True)
    raw = []
    with open(d / "wav.scp", "w") as scp, open(d / "utt2lab", "w") as lab:
        for i in range(n):
            path = root / "audio" / f"u{i:02d}.wav"
            path.parent.mkdir(exist_ok=True)
            soundfile.write(path, np.full(1600 + 160 * i, (i + 1) / 64, np.float32), 16000)
            label = CLASSES[i % 2]
            scp.write(f"u{i:02d} {path}\n")
            lab.write(f"u{i:02d} {label}\n")
            raw.append({"key": f"u{i:02d}", "lab": label, "wav": str(path)})
    make_shard_list.main([str(d / "wav.scp"), str(d / "utt2lab"), str(d / "shards"),
                          str(d / "shard.list"), "--num_utts_per_shard", str(per_shard)])
    tars = [line.strip() for line in open(d / "shard.list")]
    return raw, tars


def utt_of(chunk):
    return int(round(float(chunk[0]) * 64)) - 1


def one_pass(ds, part, num_parts, pass_index=0):
    """Utterance ids one (rank, worker) part reads in one pass."""
    pieces = ds._share(part, num_parts, pass_index)
    return [key for key, _, _ in ds._samples(pieces, {"skipped": 0, "read": 0, "worker": 0})]


@pytest.mark.parametrize("num_units,num_parts", [(10, 4), (3, 4), (1, 3), (7, 7), (26, 8)])
@pytest.mark.parametrize("split", [True, False])
def test_partition_is_disjoint_and_complete(num_units, num_parts, split):
    samples = 24  # per unit; a multiple of every split here
    seen = []
    for p in range(num_parts):
        pieces = partition(num_units, p, num_parts, (1, 2, 0), split=split)
        seen.append([(u, i) for u, sub, subs in pieces for i in range(sub, samples, subs)])
        if not split:  # an utterance is never split
            assert all(subs == 1 for _, _, subs in pieces)
    flat = [x for share in seen for x in share]
    assert sorted(flat) == [(u, i) for u in range(num_units) for i in range(samples)]
    sizes = [len(share) for share in seen]
    # tars: equal shares; utterances: one more for some parts, and none for parts beyond them
    assert max(sizes) - min(sizes) == (0 if split else (samples if num_units % num_parts else 0))


def take(ds, n):
    it = iter(ds)
    return [next(it) for _ in range(n)]


@pytest.mark.parametrize("sharded", [False, True])
def test_stream_is_seeded_by_epoch_and_endless(tmp_path, sharded):
    raw, tars = make_corpus(tmp_path)
    ds = TrainChunks(tars if sharded else raw, CLASSES, 800, rank=1, world_size=2, seed=5,
                     shuffle_size=4)
    ds.set_epoch(1)
    a = take(ds, 40)  # far more than this rank's share of 10 utterances: it never ends
    b = take(ds, 40)
    ds.set_epoch(2)
    c = take(ds, 40)
    ids = [utt_of(x) for x, _ in a]
    assert ids == [utt_of(x) for x, _ in b] and ids != [utt_of(x) for x, _ in c]
    for chunk, label in a:
        assert chunk.shape == (800,) and chunk.dtype == torch.float32
        assert label == utt_of(chunk) % 2  # the label travels with its audio


def test_short_audio_is_repeat_padded(tmp_path):
    raw, _ = make_corpus(tmp_path, n=2)
    (chunk, _), = take(TrainChunks(raw[:1], CLASSES, 5000), 1)
    assert chunk.shape == (5000,) and torch.all(chunk == chunk[0])


def test_buffer_shuffle_keeps_every_item():
    rng = np.random.default_rng(0)
    out = list(buffer_shuffle(iter(range(100)), 10, rng))
    assert sorted(out) == list(range(100)) and out != list(range(100))


def test_duration_filter(tmp_path):
    raw, tars = make_corpus(tmp_path)
    ds = TrainChunks(tars, CLASSES, 800, min_duration=0.115, max_duration=0.145)
    assert {utt_of(x) for x, _ in take(ds, 30)} == {2, 3, 4}  # 0.12, 0.13, 0.14 s
    with pytest.raises(InputError, match="outside the duration limits"):
        take(TrainChunks(tars, CLASSES, 800, min_duration=5.0), 1)


def test_broken_audio_is_skipped_counted_and_logged(tmp_path, caplog):
    raw, tars = make_corpus(tmp_path, n=6)
    # a member whose bytes are not audio, inside an otherwise good tar
    with tarfile.open(tars[0]) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(tars[0], "w") as tar:
        for m, data in members:
            if m.name == "u01.wav":
                data = b"not audio at all" * 10
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
    with open(tars[1], "r+b") as f:  # the second tar loses its end, inside u05's audio
        f.truncate(os.path.getsize(tars[1]) - 1024 - 600)
    raw[5]["wav"] = str(tmp_path / "missing.wav")
    with caplog.at_level(logging.WARNING, logger="wedefense.dataset.pipeline"):
        got = {utt_of(x) for x, _ in take(TrainChunks(tars, CLASSES, 800, shuffle_size=1), 20)}
        got_raw = {utt_of(x) for x, _ in take(TrainChunks(raw, CLASSES, 800), 20)}
    assert got == {0, 2, 3, 4} and got_raw == {0, 1, 2, 3, 4}
    log = caplog.text
    assert "'u01'" in log and "cannot read audio" in log
    assert "shards_000000001.tar" in log and "broken shard" in log
    assert "'u05'" in log and "skipped so far" in log


def test_worker_info_splits_a_rank(tmp_path, monkeypatch):
    raw, _ = make_corpus(tmp_path, n=8)
    seen = []
    for worker in range(2):
        monkeypatch.setattr(pipeline, "get_worker_info",
                            lambda w=worker: SimpleNamespace(id=w, num_workers=2))
        seen.append({utt_of(x) for x, _ in take(TrainChunks(raw, CLASSES, 800), 4)})
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 8


def test_train_from_shards_with_augmentation(tmp_path):
    from wedefense.bin import train
    for name, n in (("train", 12), ("dev", 6)):
        d = tmp_path / name
        d.mkdir()
        with open(d / "wav.scp", "w") as scp, open(d / "utt2lab", "w") as lab:
            for i in range(n):
                wav = str(tmp_path / "wav" / f"{name}{i}.wav")
                write_wav(wav, 0.5, i)
                scp.write(f"{name}{i} {wav}\n")
                lab.write(f"{name}{i} {CLASSES[i % 2]}\n")
        make_shard_list.main([str(d / "wav.scp"), str(d / "utt2lab"), str(d / "shards"),
                              str(d / "shard.list"), "--num_utts_per_shard", "4"])
    config = dict(TINY_CONFIG, num_epochs=1,
                  augment={"rawboost": {"prob": 0.5, "algo": 5},
                           "speed_perturb": {"prob": 0.5}},
                  spec_augment={"prob": 0.5, "max_time_mask": 5, "max_freq_mask": 4})
    with open(tmp_path / "conf.yaml", "w") as f:
        yaml.safe_dump(config, f)
    exp = tmp_path / "exp"
    train.main(["--config", str(tmp_path / "conf.yaml"), "--exp_dir", str(exp),
                "--data_type", "shard", "--train_data", str(tmp_path / "train" / "shard.list"),
                "--train_label", str(tmp_path / "train" / "utt2lab"),
                "--val_data", str(tmp_path / "dev" / "shard.list"),
                "--val_label", str(tmp_path / "dev" / "utt2lab")])
    saved = yaml.safe_load(open(exp / "config.yaml"))
    assert saved["data"]["data_type"] == "shard" and saved["class_counts"] == [6, 6]
    assert "epoch 1:" in open(exp / "train.log").read()
    assert os.path.isfile(exp / "models" / "best_model.pt")
    assert json.dumps(saved)  # the config stays plain data
