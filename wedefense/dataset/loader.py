"""DataLoaders for the two ways audio is consumed: training chunks and whole utterances.

Config keys read here::

    dataset_args: {sample_rate: 16000, chunk_len: 3.0, min_duration: 0.0, max_duration: .inf,
                   shuffle_size: 1000,     # shuffle_size: the shard stream's buffer, samples
                   class_balance: false,   # oversample smaller classes to the largest one
                   whole_utterance: false, # whole utterances up to chunk_len, length-batched
                   pool_batches: 8}        # length sampler: batches sorted together
    dataloader_args: {batch_size: 32, num_workers: 1, pin_memory: false, prefetch_factor: 4}
    augment: {...}                         # see wedefense.dataset.augment
"""

from torch.utils.data import DataLoader

from wedefense.dataset.batch_seconds import GPU_BATCH_SECONDS
from wedefense.dataset.dataset import (
    TrainChunks,
    Utterances,
    item_durations,
    length_batches,
    pad_collate,
)
from wedefense.dataset.pipeline import TrainUtterances, balance_repeats


def train_loader(items, classes, config, rank=0, world_size=1):
    """``items``: from :func:`~wedefense.dataset.dataset.read_train_list` (utterances or tars)."""
    ds_args = config.get("dataset_args", {})
    sample_rate = ds_args.get("sample_rate", 16000)
    dl_args = config.get("dataloader_args", {})
    batch_size = dl_args.get("batch_size", 32)
    repeats = None
    if ds_args.get("class_balance"):
        # counts of the utterances in the data (class_counts then holds the balanced prior)
        repeats = balance_repeats(config.get("train_class_counts", config["class_counts"]))
    kwargs = dict(sample_rate=sample_rate, rank=rank, world_size=world_size,
                  seed=config.get("seed", 42), augment=config.get("augment"),
                  min_duration=float(ds_args.get("min_duration", 0.0)),
                  max_duration=float(ds_args.get("max_duration", float("inf"))),
                  shuffle_size=ds_args.get("shuffle_size"), class_repeats=repeats)
    chunk_samples = int(ds_args.get("chunk_len", 3.0) * sample_rate)
    if ds_args.get("whole_utterance"):
        dataset = TrainUtterances(items, classes, chunk_samples, batch_size=batch_size,
                                  pool_batches=ds_args.get("pool_batches", 8), **kwargs)
        batch_size = None  # the dataset yields whole batches
    else:
        dataset = TrainChunks(items, classes, chunk_samples, **kwargs)
    num_workers = dl_args.get("num_workers", 1)
    loader = DataLoader(dataset, batch_size=batch_size,
                        num_workers=num_workers, pin_memory=dl_args.get("pin_memory", False),
                        prefetch_factor=dl_args.get("prefetch_factor", 4) if num_workers else None,
                        persistent_workers=False)
    return dataset, loader


def utterance_loader(items, sample_rate=16000, max_batch_seconds=GPU_BATCH_SECONDS,
                     max_batch_size=64, num_workers=1, rank=0, world_size=1, durations=None):
    """Length-sorted, padded batches of whole utterances (raw or shard items); rank r takes
    every world_size-th batch, so ranks share the work and together cover every utterance
    exactly once. ``durations`` (seconds per item) saves reading every header again."""
    if durations is None:
        durations = item_durations(items)
    batches = length_batches(durations, max_batch_seconds, max_batch_size)[rank::world_size]
    return DataLoader(Utterances(items, sample_rate), batch_sampler=batches,
                      num_workers=num_workers, collate_fn=pad_collate)
