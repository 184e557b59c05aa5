"""The streaming training pipeline: an endless, epoch-seeded stream of fixed-length chunks.

    units -> partition by (rank, worker) -> read -> buffer shuffle -> decode (mono, resample)
          -> duration filter -> speed perturbation -> random chunk -> chunk augmentation

Two variants (config ``dataset_args``): ``class_balance`` oversamples the smaller classes (see
:func:`balance_repeats`), and :class:`TrainUtterances` trains on whole utterances (up to a
maximum length) in batches that a length sampler forms (:func:`length_bucketed`).

The unit is the utterance of a ``raw.list`` or the tar of a ``shard.list``. Each pass over the
data permutes the units with a seed of (seed, epoch, pass) and deals them whole, round-robin, to
the (rank, worker) parts, so the parts read disjoint shares of (nearly) equal size and no memory
grows with the corpus: a worker holds its unit list and a shuffle buffer of encoded samples.
Only the ``r`` units left over after dealing ``floor(units / parts)`` to every part are split
(see :func:`partition`): tars into sub-units of every n-th sample, so that the pieces divide
evenly over the parts; utterances go whole to the first ``r`` parts. A tar is read sequentially
(skipping members still reads through them), so only those few tars are read more than once.

The stream never ends: the training loop takes the same fixed number of batches on every rank
(no DDP hang at an epoch end however unevenly the data falls), and the next epoch restarts the
stream with the next seed. Only a worker that a raw list with fewer utterances than workers
leaves without any ends its stream at once (the DataLoader goes on with the others); every rank
must get at least one utterance. A broken sample or tar is skipped, counted and logged with its
id; a pass without a usable sample moves on to the next, and only a long run of them (see
``_stream``) is an error.
"""

import itertools
import logging
import math
import os
import tarfile

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from wedefense.dataset.audio import load_audio
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


def partition(num_units, part, num_parts, seed, split=True):
    """Pieces ``(unit, sub, num_subs)`` of ``part`` in the pass seeded by ``seed``: samples
    ``i`` of the unit with ``i % num_subs == sub``.

    The units are permuted and ``floor(num_units / num_parts)`` go whole to every part. With
    ``split`` (tars), each of the ``r`` left over is split into ``s = num_parts / gcd(r,
    num_parts)`` sub-units and the ``r * s`` pieces, a multiple of ``num_parts``, are dealt at
    random, the same number to every part; without (utterances) they go whole to parts
    ``0 .. r - 1``, so shares differ by at most one unit and, with fewer units than parts, the
    parts from ``num_units`` on get none.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(num_units)
    whole = num_units // num_parts * num_parts
    share = [(int(u), 0, 1) for u in order[part:whole:num_parts]]
    rest = order[whole:]
    if not len(rest):
        return share
    if not split:
        return share + ([(int(rest[part]), 0, 1)] if part < len(rest) else [])
    subs = num_parts // math.gcd(len(rest), num_parts)
    pieces = [(int(u), sub, subs) for u in rest for sub in range(subs)]
    # dealt at random, not in order: a part always taking the same sub of a tiny tar (one with
    # fewer samples than subs) could go without data pass after pass
    return share + [pieces[i] for i in rng.permutation(len(pieces))[part::num_parts]]


def num_pieces(num_units, num_parts, split=True):
    """How many pieces :func:`partition` deals in one pass over all parts."""
    rest = num_units % num_parts
    subs = num_parts // math.gcd(rest, num_parts) if split and rest else 1
    return num_units - rest + rest * subs


def balance_repeats(counts):
    """Per class, how often each utterance is read per pass so that every class is read as
    often as the largest: ``max(counts) / count``."""
    if any(c <= 0 for c in counts):
        raise InputError(f"class_balance needs utterances of every class, counts {counts}")
    return [max(counts) / c for c in counts]


def oversample(items, repeats, seed):
    """Raw-list items, those of class ``lab`` repeated ``repeats[lab]`` times on average: each
    ``floor(r)`` times, and a seeded random share of them once more, so class totals are
    exact up to rounding."""
    rng = np.random.default_rng((seed, 7))
    by_class = {}
    for item in items:
        by_class.setdefault(item.get("lab"), []).append(item)
    out = []
    for lab, members in by_class.items():
        r = repeats.get(lab, 1.0)
        whole, extra = int(r), int(round((r - int(r)) * len(members)))
        out.extend(it for it in members for _ in range(whole))
        out.extend(members[i] for i in sorted(rng.permutation(len(members))[:extra]))
    return out


# When to give up on a part's share (see TrainChunks._stream): after reading, since the last
# usable sample, COVER_PASSES times as many pieces as a whole pass deals (a piece holding usable
# audio escapes one part that long with probability about e^-COVER_PASSES, each pass dealing the
# pieces anew at random), or at least MANY_SAMPLES samples from at least MANY_PIECES pieces.
COVER_PASSES = 30
MANY_SAMPLES = 10000
MANY_PIECES = 50


class TrainChunks(IterableDataset):
    """Endless stream of ``(chunk (N,) float32, label_index)`` for one rank.

    ``items``: a raw list (dicts with key/lab/wav) or tars (dicts with ``shard``, or paths).
    """

    def __init__(self, items, classes, chunk_samples, sample_rate=16000, rank=0, world_size=1,
                 seed=42, augment=None, min_duration=0.0, max_duration=float("inf"),
                 shuffle_size=None, class_repeats=None):
        self.items = [{"shard": it} if isinstance(it, (str, os.PathLike)) else it
                      for it in items]
        if not self.items:
            raise InputError("no training data")
        self.sharded = "shard" in self.items[0]
        # class_repeats[c]: how often, on average, a class-c utterance is read per pass
        self.class_repeats = None if class_repeats is None else \
            {c: float(r) for c, r in zip(classes, class_repeats)}
        if self.class_repeats and not self.sharded:
            # a raw list's labels are known: repeat its utterances up front, so the per-pass
            # permutation spreads the copies over the pass
            self.items = oversample(self.items, self.class_repeats, seed)
        if not self.sharded and len(self.items) < world_size:
            # an utterance is never split, so some rank would get no data at all, and its
            # training loop would end early or wait forever for the others
            raise InputError(f"{len(self.items)} training utterance(s) for {world_size} "
                             "ranks: each rank needs at least one")
        self.classes = list(classes)
        self.class_index = {c: i for i, c in enumerate(classes)}
        self.chunk_samples = chunk_samples
        self.sample_rate = sample_rate
        self.rank, self.world_size = rank, world_size
        self.seed = seed
        self.epoch = 0
        # imported here: augmentation pulls in scipy.signal (1 s), which extraction never needs
        from wedefense.dataset.augment import Augmenter

        self.augment = augment if isinstance(augment, Augmenter) else \
            Augmenter(augment, sample_rate, len(self.classes))
        self.min_duration, self.max_duration = min_duration, max_duration
        # raw lists are fully permuted already; tars need the buffer to mix their contents
        self.shuffle_size = (1000 if self.sharded else 1) if shuffle_size is None \
            else shuffle_size

    def set_epoch(self, epoch):
        self.epoch = epoch

    def _samples(self, pieces, stats, rng=None):
        """``(key, label, audio source)`` of the pieces, in order; broken tars are skipped.

        Pieces of one tar are read together, in one pass through it. ``stats["read"]`` counts
        the samples read, broken ones included. ``rng`` draws the class-balance repeats of tar
        samples (needed with ``class_repeats`` and shards only)."""
        wanted = {}
        for unit, sub, subs in pieces:
            wanted.setdefault(unit, (set(), subs))[0].add(sub)
        for unit, (subs_wanted, subs) in wanted.items():
            item = self.items[unit]
            if not self.sharded:
                stats["read"] += 1
                yield item["key"], item.get("lab"), item["wav"]
                continue
            if self.class_repeats:
                yield from self._repeated(self._tar_samples(item["shard"], subs, subs_wanted,
                                                            stats), rng)
            else:
                yield from self._tar_samples(item["shard"], subs, subs_wanted, stats)

    def _repeated(self, samples, rng):
        """Each tar sample ``floor(r)`` or ``ceil(r)`` times (``r`` its class's repeat, on
        average exact); the shuffle buffer downstream spreads the copies."""
        for key, lab, data in samples:
            r = self.class_repeats.get(lab, 1.0)
            for _ in range(int(r) + (rng.random() < r - int(r))):
                yield key, lab, data

    def _tar_samples(self, tar, subs, subs_wanted, stats):
        try:
            for i, (key, lab, _ext, data, problem) in enumerate(iter_shard(tar)):
                if i % subs not in subs_wanted:
                    continue
                stats["read"] += 1
                if problem:
                    self._skip(stats, key, f"broken sample in {tar}: {problem}")
                    continue
                yield key, lab, data
        except (tarfile.TarError, OSError, EOFError) as e:
            stats["read"] += 1
            self._skip(stats, tar, f"broken shard, rest of it skipped: {e}")

    def _make_sample(self, key, wav, label, rng):
        """What the stream yields for one decoded utterance (a subclass may yield other
        targets, e.g. frame labels)."""
        chunk = random_chunk(wav, self.chunk_samples, rng)
        if self.augment.active:
            chunk = self.augment.chunk(chunk, rng)
        return torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32)), label

    def _skip(self, stats, what, why):
        stats["skipped"] += 1
        logger.warning("training data: skipping '%s' (rank %d worker %d, %d skipped so far "
                       "this epoch): %s", what, self.rank, stats["worker"], stats["skipped"],
                       why)

    def _part(self, worker, num_workers):
        """``(part, num_parts)`` of a worker of this rank. Worker-major, so a raw list's
        leftover utterances go to worker 0 of every rank before worker 1 of any."""
        return worker * self.world_size + self.rank, self.world_size * num_workers

    def _share(self, part, num_parts, pass_index):
        """The pieces ``part`` reads in pass ``pass_index`` of the current epoch."""
        return partition(len(self.items), part, num_parts, (self.seed, self.epoch, pass_index),
                         split=self.sharded)

    def __iter__(self):
        info = get_worker_info()
        worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        return self._stream(worker, num_workers)

    def _stream(self, worker, num_workers):
        part, num_parts = self._part(worker, num_workers)
        if not self.sharded and part >= len(self.items):
            # fewer utterances than parts: this worker has none in any pass. Its stream ends,
            # and the DataLoader goes on with the other workers (a worker that neither yields
            # nor ends would hang it); __init__ made sure that worker 0 of every rank has some.
            logger.info("training data: rank %d worker %d has no utterance to read (%d "
                        "utterances for %d workers in all)", self.rank, worker,
                        len(self.items), num_parts)
            return
        stats = {"skipped": 0, "filtered": 0, "read": 0, "worker": worker}
        total_pieces = num_pieces(len(self.items), num_parts, self.sharded)
        # since the last usable sample: pieces dealt to this part and samples read from them
        run_pieces = run_samples = run_passes = 0
        for pass_index in itertools.count():
            pieces = self._share(part, num_parts, pass_index)
            rng = np.random.default_rng((self.seed, self.epoch, pass_index, part))
            read_before = stats["read"]
            yielded = False
            for key, lab, source in buffer_shuffle(self._samples(pieces, stats, rng),
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
                try:
                    sample = self._make_sample(key, wav, label, rng)
                except InputError as e:
                    self._skip(stats, key, str(e))
                    continue
                yielded = True
                yield sample
            if yielded:
                run_pieces = run_samples = run_passes = 0
                continue
            # A pass without a usable sample is no proof of unusable data: a tiny tar split
            # many ways gives empty pieces, and a small share can hold only broken or filtered
            # samples by chance. So the next pass follows, and the data is declared unusable
            # only after (a) COVER_PASSES whole passes' worth of pieces (a piece with usable
            # audio stays out of this part's shares that long with probability about e^-30),
            # or (b) MANY_SAMPLES samples from MANY_PIECES pieces, none usable (for a false
            # alarm, fewer than half the pieces must hold usable audio, (0.5)^50 ~ 1e-15, and,
            # unless the usable ones cluster, fewer than 1 in 300 samples, (1 - 1/300)^10000 ~
            # e^-33).
            run_passes += 1
            run_pieces += len(pieces)
            run_samples += stats["read"] - read_before
            if run_pieces >= COVER_PASSES * total_pieces or (
                    run_samples >= MANY_SAMPLES and run_pieces >= MANY_PIECES):
                raise InputError(f"no usable training audio in the share of rank {self.rank} "
                                 f"worker {worker} ({run_samples} samples read in "
                                 f"{run_passes} passes: {stats['skipped']} skipped, "
                                 f"{stats['filtered']} outside the duration limits "
                                 f"[{self.min_duration}, {self.max_duration}] s)")


def pad_batch(samples):
    """``[(wav (N,), label)]`` -> ``(wavs (B, Nmax) zero-padded, lengths (B,), labels (B,))``."""
    lengths = torch.tensor([len(w) for w, _ in samples], dtype=torch.long)
    wavs = torch.zeros(len(samples), int(lengths.max()))
    for i, (w, _) in enumerate(samples):
        wavs[i, :len(w)] = w
    return wavs, lengths, torch.tensor([label for _, label in samples], dtype=torch.long)


def length_bucketed(samples, batch_size, pool_batches, rng):
    """A length sampler over a stream: pools of ``batch_size * pool_batches`` samples, each
    sorted by length and cut into batches (so a batch pads little), yielded in random order
    as :func:`pad_batch` tuples. A larger pool pads less but mixes lengths less across steps."""
    pool_size = batch_size * pool_batches
    pool = []
    for sample in itertools.chain(samples, [None]):
        if sample is not None:
            pool.append(sample)
        if pool and (len(pool) == pool_size or sample is None):
            pool.sort(key=lambda s: len(s[0]))
            batches = [pool[i:i + batch_size] for i in range(0, len(pool), batch_size)]
            for i in rng.permutation(len(batches)):
                yield pad_batch(batches[i])
            pool = []


class TrainUtterances(TrainChunks):
    """Whole-utterance training: an endless stream of padded batches ``(wavs, lengths,
    labels)`` (see :func:`pad_batch`), for a DataLoader with ``batch_size=None``.

    An utterance longer than ``chunk_samples`` is cropped to a random window of that length
    (the memory bound); shorter ones stay as they are, not repeated. Batches hold
    ``batch_size`` utterances of similar length (:func:`length_bucketed`)."""

    def __init__(self, *args, batch_size=32, pool_batches=8, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_size, self.pool_batches = batch_size, pool_batches

    def _make_sample(self, key, wav, label, rng):
        if len(wav) > self.chunk_samples:
            wav = random_chunk(wav, self.chunk_samples, rng)
        if self.augment.active:
            wav = self.augment.chunk(wav, rng)
        return torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)), label

    def __iter__(self):
        info = get_worker_info()
        worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        part, _ = self._part(worker, num_workers)
        rng = np.random.default_rng((self.seed, self.epoch, part, 11))
        return length_bucketed(self._stream(worker, num_workers), self.batch_size,
                               self.pool_batches, rng)
