"""Datasets over ``raw.list``: random fixed-length chunks for training, whole utterances for
validation and extraction.

Training data is an endless stream per rank and worker: each (rank, worker) reads a disjoint
slice of an epoch-seeded permutation, so the training loop can take the same fixed number of
batches on every rank (no DDP hang at the end of an epoch) and a broken file is skipped and
counted instead of stopping the job.
"""

import json
import logging

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from wedefense.dataset.audio import load_audio
from wedefense.utils.errors import InputError

logger = logging.getLogger(__name__)


def read_raw_list(path, classes=None):
    """Parse a ``raw.list`` (JSON Lines with key/lab/wav); labels must be in ``classes``."""
    items, seen = [], set()
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise InputError("list file not found", path) from None
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"not a JSON object: {e.msg}", path, lineno) from None
            if not isinstance(obj, dict) or not {"key", "wav"} <= obj.keys():
                raise InputError("each line needs at least 'key' and 'wav'", path, lineno)
            if obj["key"] in seen:
                raise InputError(f"duplicate key '{obj['key']}'", path, lineno)
            if classes is not None and obj.get("lab") not in classes:
                raise InputError(f"label {obj.get('lab')!r} of '{obj['key']}' is not one of "
                                 f"{', '.join(classes)}", path, lineno)
            seen.add(obj["key"])
            items.append(obj)
    if not items:
        raise InputError("list is empty", path)
    return items


def random_chunk(wav, num_samples, rng):
    """A random window of ``num_samples``; shorter audio is repeated to fill it."""
    if len(wav) < num_samples:
        wav = np.tile(wav, num_samples // len(wav) + 1)
        return wav[:num_samples]
    start = rng.integers(0, len(wav) - num_samples + 1)
    return wav[start:start + num_samples]


class TrainChunks(IterableDataset):
    """Endless stream of ``(chunk (N,), label_index)``; reshuffled each pass, seeded by epoch."""

    def __init__(self, items, classes, chunk_samples, sample_rate=16000, rank=0, world_size=1,
                 seed=42):
        self.items = items
        self.class_index = {c: i for i, c in enumerate(classes)}
        self.chunk_samples = chunk_samples
        self.sample_rate = sample_rate
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        info = get_worker_info()
        worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        shard = self.rank * num_workers + worker
        num_shards = self.world_size * num_workers
        skipped = 0
        for pass_index in range(1 << 30):
            seed = (self.seed, self.epoch, pass_index)
            order = np.random.default_rng(seed).permutation(len(self.items))
            rng = np.random.default_rng(seed + (shard,))
            yielded = False
            for i in order[shard::num_shards]:
                item = self.items[i]
                try:
                    wav = load_audio(item["wav"], self.sample_rate)
                except InputError as e:
                    skipped += 1
                    logger.warning("skipping '%s' (%d skipped so far): %s", item["key"],
                                   skipped, e)
                    continue
                yielded = True
                chunk = random_chunk(wav, self.chunk_samples, rng)
                yield torch.from_numpy(np.ascontiguousarray(chunk)), self.class_index[item["lab"]]
            if not yielded:
                raise InputError(f"no readable audio in this worker's share ({skipped} skipped)")


class Utterances(Dataset):
    """Whole utterances, for validation and extraction; unreadable audio is an error here."""

    def __init__(self, items, sample_rate=16000):
        self.items = items
        self.sample_rate = sample_rate

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        item = self.items[index]
        return item["key"], torch.from_numpy(load_audio(item["wav"], self.sample_rate))


def length_batches(durations, max_padded_total, max_batch_size=64):
    """Group indices sorted by length so a batch pads little: its padded size (longest times
    count, in the units of ``durations``) stays within ``max_padded_total``; never empty."""
    order = sorted(range(len(durations)), key=lambda i: durations[i])
    batches, current = [], []
    for i in order:
        longest = max(durations[i], durations[current[-1]] if current else 0)
        if current and (longest * (len(current) + 1) > max_padded_total
                        or len(current) >= max_batch_size):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def pad_collate(batch):
    """``[(key, wav)]`` -> ``(keys, wavs (B, Nmax) zero-padded, lengths (B,))``."""
    keys = [k for k, _ in batch]
    lengths = torch.tensor([len(w) for _, w in batch], dtype=torch.long)
    wavs = torch.zeros(len(batch), int(lengths.max()))
    for i, (_, w) in enumerate(batch):
        wavs[i, :len(w)] = w
    return keys, wavs, lengths
