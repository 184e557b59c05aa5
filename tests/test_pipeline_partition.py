"""How the training stream shares the data among (rank, worker) parts: every part always has
data or ends, one epoch of the training loop reads every utterance once, and a pass that comes
up empty by chance is no error."""

import itertools
import tarfile
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile

from wedefense.dataset import pipeline
from wedefense.dataset.loader import train_loader
from wedefense.dataset.pipeline import TrainChunks
from wedefense.dataset.shards import write_shard
from wedefense.utils.errors import InputError

CLASSES = ("bonafide", "spoof")
SCALE = 1024  # utterance k is the constant (k + 1) / SCALE, exact in float32


def make_utts(root, n):
    """``(key, label, path)`` of n tiny utterances; a chunk tells which one it came from."""
    root.mkdir(parents=True, exist_ok=True)
    records = []
    for k in range(n):
        path = root / f"u{k}.wav"
        soundfile.write(path, np.full(400, (k + 1) / SCALE, np.float32), 16000, subtype="FLOAT")
        records.append((f"u{k}", CLASSES[k % 2], str(path)))
    return records


def make_tars(root, sizes):
    """Tars holding ``sizes[i]`` consecutive utterances each; returns (tar paths, count)."""
    records = make_utts(root / "audio", sum(sizes))
    tars, start = [], 0
    for i, size in enumerate(sizes):
        tars.append(str(root / f"t{i}.tar"))
        write_shard(tars[-1], records[start:start + size])
        start += size
    return tars, sum(sizes)


def utt_of(chunk):
    return int(round(float(chunk[0]) * SCALE)) - 1


def worker_stream(ds, worker, num_workers, monkeypatch):
    """The stream a DataLoader worker gets: ``iter(ds)`` seen from inside that worker (started
    there, since a generator looks at its worker only when first asked for an item)."""
    monkeypatch.setattr(pipeline, "get_worker_info",
                        lambda: SimpleNamespace(id=worker, num_workers=num_workers))
    it = iter(ds)
    try:
        first = next(it)
    except StopIteration:
        return iter(())
    finally:
        monkeypatch.undo()
    return itertools.chain([first], it)


def test_small_last_tar_does_not_stop_training(tmp_path, monkeypatch):
    # 1000 + 1 utterances in spirit: the second tar split 4 ways leaves 3 workers empty pieces
    tars, _ = make_tars(tmp_path, [20, 1])
    ds = TrainChunks(tars, CLASSES, 400)
    for epoch in range(1, 9):
        ds.set_epoch(epoch)
        for worker in range(4):
            chunks = list(itertools.islice(worker_stream(ds, worker, 4, monkeypatch), 12))
            assert len(chunks) == 12


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_small_last_tar_with_dataloader_workers(tmp_path):
    tars, _ = make_tars(tmp_path, [20, 1])
    config = {"dataset_args": {"chunk_len": 0.025},
              "dataloader_args": {"batch_size": 4, "num_workers": 4, "prefetch_factor": 1}}
    ds, loader = train_loader(tars, CLASSES, config)
    for epoch in (1, 2, 3):
        ds.set_epoch(epoch)
        batches = list(itertools.islice(iter(loader), 8))
        assert len(batches) == 8 and all(len(labels) == 4 for _, labels in batches)


@pytest.mark.parametrize("num_tars,world_size,num_workers,batch_size", [
    (9, 2, 2, 3),     # 2 tars per part and one tar split 4 ways
    (26, 4, 2, 13),   # 3 tars per part and two tars split 4 ways each
])
def test_one_epoch_reads_every_utterance_once(tmp_path, monkeypatch, num_tars, world_size,
                                              num_workers, batch_size):
    tars, num_utts = make_tars(tmp_path, [8] * num_tars)
    # what wedefense/bin/train.py takes per epoch and rank; the DataLoader asks the workers
    # for batches in turn
    steps_per_epoch = max(1, num_utts // (world_size * batch_size))
    seen = []
    for rank in range(world_size):
        ds = TrainChunks(tars, CLASSES, 400, rank=rank, world_size=world_size, seed=3)
        ds.set_epoch(2)
        streams = [worker_stream(ds, w, num_workers, monkeypatch) for w in range(num_workers)]
        for step in range(steps_per_epoch):
            stream = streams[step % num_workers]
            seen += [utt_of(chunk) for chunk, _ in itertools.islice(stream, batch_size)]
    assert len(seen) == num_utts  # these sizes divide evenly: an epoch is the whole data
    assert sorted(seen) == list(range(num_utts))


def test_raw_list_with_fewer_utterances_than_workers(tmp_path, monkeypatch):
    raw = [{"key": k, "lab": lab, "wav": w} for k, lab, w in make_utts(tmp_path, 3)]
    ds = TrainChunks(raw, CLASSES, 400)
    per_worker = []
    for worker in range(4):
        chunks = list(itertools.islice(worker_stream(ds, worker, 4, monkeypatch), 6))
        per_worker.append([utt_of(chunk) for chunk, _ in chunks])
    assert per_worker[3] == []  # the worker without an utterance ends its stream
    # one utterance per worker and pass: in every pass, each utterance goes to one worker
    for pass_index in range(6):
        assert sorted(ids[pass_index] for ids in per_worker[:3]) == [0, 1, 2]


def test_raw_list_worker_without_data_ends_in_the_dataloader(tmp_path):
    raw = [{"key": k, "lab": lab, "wav": w} for k, lab, w in make_utts(tmp_path, 1)]
    config = {"dataset_args": {"chunk_len": 0.025},
              "dataloader_args": {"batch_size": 2, "num_workers": 2, "prefetch_factor": 1}}
    _, loader = train_loader(raw, CLASSES, config)
    batches = list(itertools.islice(iter(loader), 3))  # worker 1 has none: no hang
    assert len(batches) == 3 and all(utt_of(chunk) == 0 for x, _ in batches for chunk in x)


def test_rank_without_any_utterance_is_a_clear_error(tmp_path):
    raw = [{"key": k, "lab": lab, "wav": w} for k, lab, w in make_utts(tmp_path, 2)]
    TrainChunks(raw, CLASSES, 400, rank=1, world_size=2)
    with pytest.raises(InputError, match="2 training utterance.* for 3 ranks"):
        TrainChunks(raw, CLASSES, 400, rank=2, world_size=3)


def test_a_pass_without_usable_audio_is_no_error(tmp_path, monkeypatch):
    # one good utterance among broken ones: most passes of most workers hold none of it
    raw = [{"key": k, "lab": lab, "wav": w} for k, lab, w in make_utts(tmp_path, 1)]
    raw += [{"key": f"gone{i}", "lab": "spoof", "wav": str(tmp_path / f"gone{i}.wav")}
            for i in range(3)]
    ds = TrainChunks(raw, CLASSES, 400)
    for worker in range(4):
        chunks = list(itertools.islice(worker_stream(ds, worker, 4, monkeypatch), 3))
        assert [utt_of(chunk) for chunk, _ in chunks] == [0, 0, 0]


def test_tars_without_samples_are_an_error_not_a_hang(tmp_path):
    tars = []
    for i in range(2):
        tars.append(str(tmp_path / f"empty{i}.tar"))
        tarfile.open(tars[-1], "w").close()
    with pytest.raises(InputError, match="no usable training audio.*0 samples read"):
        next(iter(TrainChunks(tars, CLASSES, 400)))
