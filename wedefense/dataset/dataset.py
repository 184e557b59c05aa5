"""Data lists and whole-utterance datasets: random fixed-length chunks for training (see
:mod:`wedefense.dataset.pipeline`), whole utterances for validation and extraction.

A list is a ``raw.list`` (JSON Lines, one utterance each) or a ``shard.list`` (one tar per
line, see :mod:`wedefense.dataset.shards`). Training streams either; validation and extraction
index the tars' members so every utterance is read alone, in list order.
"""

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import torch
from torch.utils.data import Dataset

from wedefense.dataset.audio import FileSlice, audio_info, load_audio
from wedefense.dataset.pipeline import TrainChunks, random_chunk  # noqa: F401 (public API)
from wedefense.dataset.shards import index_shard, read_shard_list
from wedefense.utils.errors import InputError

logger = logging.getLogger(__name__)


def list_type(path):
    """``"raw"`` or ``"shard"``, from the first non-empty line of a list file."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    return "raw" if line.lstrip().startswith("{") else "shard"
    except FileNotFoundError:
        raise InputError("list file not found", path) from None
    raise InputError("list is empty", path)


def read_raw_list(path, classes=None):
    """Parse a ``raw.list`` (JSON Lines with key/lab/wav); labels must be in ``classes``.

    A ``shard.list`` is accepted too and expanded to one item per utterance (see
    :func:`read_shard_items`), so whole-utterance readers take either list.
    """
    if list_type(path) == "shard":
        return read_shard_items(path, classes)
    items, seen = [], set()
    with open(path, encoding="utf-8") as f:
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


def read_shard_items(path, classes=None, num_threads=8):
    """One ``{"key", "lab", "shard", "offset", "size", "ext"}`` per utterance of a shard.list,
    in list order, from the tar headers (the audio is not read)."""
    shards = read_shard_list(path)
    with ThreadPoolExecutor(max_workers=num_threads) as pool:
        per_shard = list(pool.map(index_shard, shards))
    items, seen = [], {}
    for tar, shard_items in zip(shards, per_shard):
        for item in shard_items:
            if item["key"] in seen:
                raise InputError(f"duplicate key '{item['key']}' (also in {seen[item['key']]})",
                                 tar)
            if classes is not None and item["lab"] not in classes:
                raise InputError(f"label {item['lab']!r} of '{item['key']}' is not one of "
                                 f"{', '.join(classes)}", tar)
            seen[item["key"]] = tar
            items.append(item)
    if not items:
        raise InputError("no utterances in the shards", path)
    return items


def read_train_list(path, classes, data_type=None):
    """Training items: raw.list utterances, or for a shard.list just its tars (streamed)."""
    data_type = data_type or list_type(path)
    if data_type != list_type(path):
        raise InputError(f"this is not a {data_type} list (pass --data_type "
                         f"{list_type(path)})", path)
    if data_type == "shard":
        return [{"shard": tar} for tar in read_shard_list(path)]
    return read_raw_list(path, classes)


def item_source(item):
    """``(source, name)`` for :func:`load_audio`: the path, or the member's slice of its tar."""
    if "shard" in item:
        return FileSlice(item["shard"], item["offset"], item["size"]), \
            f"{item['shard']}:{item['key']}.{item['ext']}"
    return item["wav"], item["wav"]


def item_duration(item):
    """Seconds, from the audio header only."""
    source, name = item_source(item)
    try:
        return audio_info(source, name)[0]
    finally:
        if not isinstance(source, (str, os.PathLike)):
            source.close()


def item_durations(items, num_threads=8):
    """:func:`item_duration` of every item, in order (header reads overlap in threads)."""
    with ThreadPoolExecutor(max_workers=num_threads) as pool:
        return list(pool.map(item_duration, items))


def check_long_enough(items, durations, sample_rate, shortest, source=None):
    """InputError naming the utterances shorter than ``shortest`` samples, the least a model
    scores (:func:`wedefense.models.spoof_model.min_samples`); shorter ones would crash it or get
    a meaningless score."""
    short = [it["key"] for it, d in zip(items, durations) if round(d * sample_rate) < shortest]
    if short:
        raise InputError(f"{len(short)} utterance(s) shorter than {shortest} samples "
                         f"({shortest / sample_rate:.4f} s), the least this model scores: "
                         f"{', '.join(short[:5])}{' ...' if len(short) > 5 else ''}", source)


class Utterances(Dataset):
    """Whole utterances, for validation and extraction; unreadable audio is an error here."""

    def __init__(self, items, sample_rate=16000):
        self.items = items
        self.sample_rate = sample_rate

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        item = self.items[index]
        source, name = item_source(item)
        try:
            return item["key"], torch.from_numpy(load_audio(source, self.sample_rate, name))
        finally:
            if not isinstance(source, (str, os.PathLike)):
                source.close()


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
