"""The streaming training pipeline: an endless, epoch-seeded stream of fixed-length chunks.

    units -> partition by (rank, worker) -> read -> buffer shuffle -> decode (mono, resample)
          -> duration filter -> speed perturbation -> random chunk -> chunk augmentation

The unit is the utterance of a ``raw.list`` or the tar of a ``shard.list``. Each pass over the
data permutes the units with a seed of (seed, epoch, pass) and gives rank r, worker w the slice
``perm[r * W + w :: R * W]``, so (rank, worker) pairs read disjoint parts and no memory grows
with the corpus: a worker holds its unit list and a shuffle buffer of encoded samples. With
fewer tars than pairs, each tar is split into sub-units (every n-th sample), so no pair idles.

The stream never ends: the training loop takes the same fixed number of batches on every rank
(no DDP hang at an epoch end however unevenly the data falls), and the next epoch restarts the
stream with the next seed. A broken sample or tar is skipped, counted and logged with its id.
"""

import logging
import math
import os
import tarfile

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from wedefense.dataset.audio import load_audio
from wedefense.dataset.augment import Augmenter
from wedefense.dataset.shards import iter_shard
from wedefense.utils.errors import InputError

logger = logging.getLogger(__name__)


def random_chunk(wav, num_samples, rng):
    """A random window of ``num_samples``; shorter audio is repeated to fill it."""
    if len(wav) < num_samples:
        wav = np.tile(wav, num_samples // len(wav) + 1)
        return wav[:num_samples]
    start = rng.integers(0, len(wav) - num_samples + 1)
    return wav[start:start + num_samples]


def buffer_shuffle(samples, size, rng):
    """Shuffle a stream through a buffer of ``size`` items (memory bound: ``size`` samples)."""
    if size <= 1:
        yield from samples
        return
    buffer = []
    for sample in samples:
        if len(buffer) < size:
            buffer.append(sample)
            continue
        i = int(rng.integers(size))
        buffer[i], sample = sample, buffer[i]
        yield sample
    rng.shuffle(buffer)
    yield from buffer


def partition(num_units, part, num_parts, seed):
    """Unit ids (``(unit, sub, num_subs)``) of ``part`` in the permutation seeded by ``seed``.

    With fewer units than parts, each unit is split ``ceil(num_parts / num_units)`` ways."""
    subs = max(1, math.ceil(num_parts / num_units))
    order = np.random.default_rng(seed).permutation(num_units * subs)
    return [(int(u) // subs, int(u) % subs, subs) for u in order[part::num_parts]]


class TrainChunks(IterableDataset):
    """Endless stream of ``(chunk (N,) float32, label_index)`` for one rank.

    ``items``: a raw list (dicts with key/lab/wav) or tars (dicts with ``shard``, or paths).
    """

    def __init__(self, items, classes, chunk_samples, sample_rate=16000, rank=0, world_size=1,
                 seed=42, augment=None, min_duration=0.0, max_duration=float("inf"),
                 shuffle_size=None):
        self.items = [{"shard": it} if isinstance(it, (str, os.PathLike)) else it
                      for it in items]
        if not self.items:
            raise InputError("no training data")
        self.sharded = "shard" in self.items[0]
        self.classes = list(classes)
        self.class_index = {c: i for i, c in enumerate(classes)}
        self.chunk_samples = chunk_samples
        self.sample_rate = sample_rate
        self.rank, self.world_size = rank, world_size
        self.seed = seed
        self.epoch = 0
        self.augment = augment if isinstance(augment, Augmenter) else \
            Augmenter(augment, sample_rate, len(self.classes))
        self.min_duration, self.max_duration = min_duration, max_duration
        # raw lists are fully permuted already; tars need the buffer to mix their contents
        self.shuffle_size = (1000 if self.sharded else 1) if shuffle_size is None \
            else shuffle_size

    def set_epoch(self, epoch):
        self.epoch = epoch

    def _samples(self, units, stats):
        """``(key, label, audio source)`` of the units, in order; broken tars are skipped."""
        for unit, sub, subs in units:
            item = self.items[unit]
            if not self.sharded:
                yield item["key"], item.get("lab"), item["wav"]
                continue
            tar = item["shard"]
            try:
                for i, (key, lab, _ext, data) in enumerate(iter_shard(tar)):
                    if i % subs != sub:
                        continue
                    if data is None or lab is None:
                        self._skip(stats, key, f"sample in {tar} lacks a label or audio member")
                        continue
                    yield key, lab, data
            except (tarfile.TarError, OSError, EOFError) as e:
                self._skip(stats, tar, f"broken shard, rest of it skipped: {e}")

    def _skip(self, stats, what, why):
        stats["skipped"] += 1
        logger.warning("training data: skipping '%s' (rank %d worker %d, %d skipped so far "
                       "this epoch): %s", what, self.rank, stats["worker"], stats["skipped"],
                       why)

    def __iter__(self):
        info = get_worker_info()
        worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        part = self.rank * num_workers + worker
        num_parts = self.world_size * num_workers
        stats = {"skipped": 0, "filtered": 0, "worker": worker}
        for pass_index in range(1 << 30):
            seed = (self.seed, self.epoch, pass_index)
            units = partition(len(self.items), part, num_parts, seed)
            rng = np.random.default_rng(seed + (part,))
            yielded = False
            for key, lab, source in buffer_shuffle(self._samples(units, stats),
                                                   self.shuffle_size, rng):
                label = self.class_index.get(lab)
                if label is None:
                    self._skip(stats, key, f"label {lab!r} is not one of {self.classes}")
                    continue
                try:
                    wav = load_audio(source, self.sample_rate,
                                     name=source if isinstance(source, str) else key)
                except InputError as e:
                    self._skip(stats, key, str(e))
                    continue
                seconds = len(wav) / self.sample_rate
                if not self.min_duration <= seconds <= self.max_duration:
                    stats["filtered"] += 1
                    continue
                wav, label = self.augment.utterance(wav, label, rng)
                chunk = random_chunk(wav, self.chunk_samples, rng)
                if self.augment.active:
                    chunk = self.augment.chunk(chunk, rng)
                yielded = True
                yield torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32)), label
            if not yielded:
                raise InputError(f"no usable training audio in the share of rank {self.rank} "
                                 f"worker {worker} ({stats['skipped']} skipped, "
                                 f"{stats['filtered']} outside the duration limits "
                                 f"[{self.min_duration}, {self.max_duration}] s)")
