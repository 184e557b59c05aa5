"""Stage 2 (shard): tar layout, WebDataset compatibility, atomic writing, indexed reading."""

import importlib.util
import io
import json
import logging
import os
import tarfile

import numpy as np
import pytest
import soundfile

from tests.conftest import REPO, write_wav
from wedefense.dataset.audio import load_audio
from wedefense.dataset.dataset import Utterances, read_raw_list, read_train_list
from wedefense.dataset.loader import utterance_loader
from wedefense.utils.errors import InputError


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tools", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_shard_list = load_tool("make_shard_list")


def make_data_dir(root, n=7, fmt="wav"):
    d = root / "data"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "wav.scp", "w") as scp, open(d / "utt2lab", "w") as lab:
        for i in range(n):
            utt = f"utt{i:02d}"
            path = root / "audio" / f"{utt}.{fmt}"
            write_wav(str(path), 0.3 + 0.05 * i, i)
            if fmt != "wav":
                data, sr = soundfile.read(path)
                soundfile.write(path, data, sr, format=fmt.upper())
            scp.write(f"{utt} {path}\n")
            lab.write(f"{utt} {'bonafide' if i % 3 == 0 else 'spoof'}\n")
    return d


def make_shards(d, *extra):
    make_shard_list.main([str(d / "wav.scp"), str(d / "utt2lab"), str(d / "shards"),
                          str(d / "shard.list"), "--num_utts_per_shard", "3", *extra])
    return [line.strip() for line in open(d / "shard.list")]


def test_tar_layout_and_original_bytes(tmp_path):
    d = make_data_dir(tmp_path)
    tars = make_shards(d)
    assert [os.path.basename(t) for t in tars] == [f"shards_{i:09d}.tar" for i in range(3)]
    wavs = dict(line.split() for line in open(d / "wav.scp"))
    labs = dict(line.split() for line in open(d / "utt2lab"))
    names = []
    for t in tars:
        with tarfile.open(t) as tar:
            for m in tar.getmembers():
                names.append(m.name)
                key, ext = m.name.rsplit(".", 1)
                data = tar.extractfile(m).read()
                if ext == "lab":
                    assert data.decode() == labs[key]
                else:
                    assert ext == "wav" and data == open(wavs[key], "rb").read()
    assert names == [f"utt{i:02d}.{e}" for i in range(7) for e in ("lab", "wav")]
    assert not [f for f in os.listdir(d / "shards") if "tmp" in f]


def test_webdataset_reads_the_shards(tmp_path):
    webdataset = pytest.importorskip("webdataset")
    d = make_data_dir(tmp_path, n=5, fmt="flac")
    tars = make_shards(d)
    samples = list(webdataset.WebDataset(tars, shardshuffle=False))
    assert [s["__key__"] for s in samples] == [f"utt{i:02d}" for i in range(5)]
    for s in samples:
        assert set(s) >= {"__key__", "lab", "flac"}
        assert s["lab"].decode() in ("bonafide", "spoof")
        wav = load_audio(s["flac"], 16000)
        assert len(wav) > 0


def test_shuffle_is_seeded_and_complete(tmp_path):
    d = make_data_dir(tmp_path, n=9)

    def order(seed):
        tars = make_shards(d, "--shuffle", "--seed", str(seed))
        return [m.name for t in tars for m in tarfile.open(t).getmembers()
                if m.name.endswith(".lab")]
    a, b, c = order(1), order(1), order(2)
    assert a == b and a != c and sorted(a) == sorted(f"utt{i:02d}.lab" for i in range(9))


def test_failure_leaves_no_partial_tar_or_list(tmp_path):
    d = make_data_dir(tmp_path, n=7)
    os.remove(tmp_path / "audio" / "utt04.wav")  # in the second tar
    with pytest.raises(SystemExit):
        make_shards(d, "--num_threads", "1")
    assert not (d / "shard.list").exists()
    left = os.listdir(d / "shards")
    assert "shards_000000001.tar" not in left and not [f for f in left if "tmp" in f]


def test_failed_rerun_leaves_no_list_of_mixed_old_and_new_tars(tmp_path):
    d = make_data_dir(tmp_path, n=7)
    make_shards(d)
    os.remove(tmp_path / "audio" / "utt04.wav")
    with pytest.raises(SystemExit):  # the rerun reshuffles, then dies after rewriting some tars
        make_shards(d, "--num_threads", "1", "--shuffle")
    assert not (d / "shard.list").exists()


def test_ids_with_a_dot_are_refused_naming_the_file(tmp_path, capsys):
    d = make_data_dir(tmp_path, n=3)
    scp = (d / "wav.scp").read_text().replace("utt01", "spk.utt01")
    (d / "wav.scp").write_text(scp)
    (d / "utt2lab").write_text((d / "utt2lab").read_text().replace("utt01", "spk.utt01"))
    with pytest.raises(SystemExit) as e:
        make_shards(d)
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert "wav.scp" in err and "'spk.utt01' contains '.'" in err


@pytest.mark.parametrize("keys,error", [
    (["spk1/utt1", "spk2/utt1"], "'spk1/utt1' cannot be a tar member name"),
    (["LA.v2_001"], "'LA.v2_001' contains '.'"),
    ([".hidden"], "cannot be a tar member name"),
    (["utt1", "utt1"], "'utt1' appears twice"),
])
def test_write_shard_refuses_keys_that_would_not_read_back(tmp_path, keys, error):
    from wedefense.dataset.shards import write_shard
    wav = str(tmp_path / "a.wav")
    write_wav(wav, 0.1, 0)
    tar = tmp_path / "t.tar"
    with pytest.raises(InputError, match=error) as e:
        write_shard(str(tar), [(key, "spoof", wav) for key in keys])
    assert str(tar) in str(e.value)
    assert os.listdir(tmp_path) == ["a.wav"]  # no tar, no temporary


def test_rerun_with_fewer_shards_removes_stale_tars(tmp_path):
    d = make_data_dir(tmp_path, n=7)
    make_shards(d)
    make_shard_list.main([str(d / "wav.scp"), str(d / "utt2lab"), str(d / "shards"),
                          str(d / "shard.list"), "--num_utts_per_shard", "10"])
    assert sorted(os.listdir(d / "shards")) == ["shards_000000000.tar"]


def test_indexed_shards_read_like_raw(tmp_path):
    d = make_data_dir(tmp_path, n=7)
    make_shards(d)
    items = read_raw_list(d / "shard.list", ("bonafide", "spoof"))
    assert [it["key"] for it in items] == [f"utt{i:02d}" for i in range(7)]
    wavs = dict(line.split() for line in open(d / "wav.scp"))
    ds = Utterances(items)
    for i in range(len(items)):
        key, wav = ds[i]
        assert np.array_equal(wav.numpy(), load_audio(wavs[key]))
    got = {}
    for keys, batch, lengths in utterance_loader(items, num_workers=0, max_batch_seconds=1.0):
        for k, w, n in zip(keys, batch, lengths):
            got[k] = w[:n].numpy()
    assert sorted(got) == sorted(wavs)
    assert read_train_list(d / "shard.list", None) == \
        [{"shard": line.strip()} for line in open(d / "shard.list")]
    with pytest.raises(InputError, match="not a raw list"):
        read_train_list(d / "shard.list", None, "raw")


def test_missing_tar_and_truncated_tar_are_errors_outside_training(tmp_path):
    d = make_data_dir(tmp_path, n=7)
    tars = make_shards(d)
    with open(tars[1], "r+b") as f:
        f.truncate(700)
    with pytest.raises(InputError, match="shards_000000001.tar"):
        read_raw_list(d / "shard.list")
    os.remove(tars[2])
    with pytest.raises(InputError, match="shard.list:3: shard not found"):
        read_raw_list(d / "shard.list")


def test_raw_list_still_reads(tmp_path):
    p = tmp_path / "raw.list"
    p.write_text(json.dumps({"key": "a", "lab": "spoof", "wav": "x.wav"}) + "\n")
    assert read_raw_list(p)[0]["key"] == "a"


def craft_tar(path, samples):
    """A tar of ``(member name, bytes)`` pairs, written as given (no name checks)."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in samples:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def garbage_shard(tmp_path):
    """One good sample among samples with a non-UTF-8 label, an unknown label and member names
    with path components."""
    good = tmp_path / "good.wav"
    write_wav(str(good), 0.3, 0)
    audio = good.read_bytes()
    tar = tmp_path / "garbage.tar"
    craft_tar(tar, [("good.lab", b"spoof"), ("good.wav", audio),
                    ("latin.lab", "bonafidé".encode("latin-1")), ("latin.wav", audio),
                    ("odd.lab", b"maybe"), ("odd.wav", audio),
                    ("../up.lab", b"bonafide"), ("../up.wav", audio),
                    ("/abs.lab", b"bonafide"), ("/abs.wav", audio),
                    ("dir/sub.lab", b"bonafide"), ("dir/sub.wav", audio)])
    (tmp_path / "shard.list").write_text(f"{tar}\n")
    return tmp_path


def test_garbage_samples_are_skipped_in_extraction(garbage_shard, caplog):
    with caplog.at_level(logging.WARNING, logger="wedefense.dataset.shards"):
        items = read_raw_list(garbage_shard / "shard.list")
    # extraction needs no label, so only the unreadable label and the path names are refused
    assert [it["key"] for it in items] == ["good", "odd"]
    log = caplog.text
    assert "'latin'" in log and "not UTF-8" in log
    for name in ("../up", "/abs", "dir/sub"):
        assert f"'{name}' has path components" in log, name
    assert "(4 skipped in this shard)" in log


def test_garbage_samples_are_skipped_in_training(garbage_shard, caplog):
    from wedefense.dataset.pipeline import TrainChunks

    tar = str(garbage_shard / "garbage.tar")
    with caplog.at_level(logging.WARNING, logger="wedefense.dataset.pipeline"):
        it = iter(TrainChunks([tar], ("bonafide", "spoof"), 800, shuffle_size=1))
        labels = {next(it)[1] for _ in range(6)}
    assert labels == {1}  # only the good spoof sample is ever used
    log = caplog.text
    assert "'latin'" in log and "not UTF-8" in log and "'odd'" in log
    assert "'../up'" in log and "path components" in log and "'/abs'" in log
    assert "skipped so far" in log
