"""The localization training task: frame-labelled chunks, the frame loss, and validation by
segment EER (at the model's resolution, from frame LLRs) and utterance EER.

Config keys of this task (besides the model's, see ``wedefense.models.registry``)::

    task: localization
    frame_resolution: 0.02        # seconds per output frame (and per label segment)
    loss_args: {frame_weight: 1.0, branch_weight: 1.0, utterance_weight: 0.0}
    best_metric: segment_eer      # or utterance_eer

Labels come from ``timestamps`` beside each set's ``raw.list`` (``wedefense.dataset.
frame_labels``). ``frame_class_counts`` (bona fide / spoof frames of the training set at the
model's resolution) is saved in the config: the prior that stage 6 removes from frame logits
(and from utterance logits that are a frame's, when the head has no utterance branch).
"""

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from wedefense.calibration.llr import logits_to_llr
from wedefense.dataset.dataset import check_long_enough
from wedefense.dataset.frame_labels import (
    FrameChunks,
    check_label_length,
    frame_collate,
    spoof_segments,
    timestamps_path,
    utterance_frame_labels,
)
from wedefense.dataset.loader import utterance_loader
from wedefense.dataset.timestamps import read_timestamps
from wedefense.metrics.detection import compute_eer
from wedefense.models.frame_loss import localization_loss, loss_weights
from wedefense.models.registry import frame_bonafide_index
from wedefense.models.spoof_model import min_samples
from wedefense.training import detection_data
from wedefense.training.amp import autocast_context
from wedefense.training.detection import VALIDATION_OPTIONS
from wedefense.utils import distributed as dist_utils
from wedefense.utils.errors import InputError

TASK = "localization"
BEST_METRICS = ("segment_eer", "utterance_eer")


def hop_samples(config):
    sample_rate = (config.get("dataset_args") or {}).get("sample_rate", 16000)
    return int(round(float(config.get("frame_resolution", 0.02)) * sample_rate))


def resolve(config, train_items, train_list):
    """Check the task's options and add ``frame_class_counts`` (counted on the timestamps of
    the training list's utterances). Returns the training timestamps."""
    loss_weights(config)
    frame_bonafide_index(config)
    if "speed_perturb" in (config.get("augment") or {}):
        raise InputError("augment.speed_perturb changes the time axis and so would move audio "
                         "against its frame labels: not for localization training")
    config.setdefault("frame_resolution", 0.02)
    path = timestamps_path(train_list)
    timestamps = read_timestamps(path)
    hop = hop_samples(config)
    sample_rate = (config.get("dataset_args") or {}).get("sample_rate", 16000)
    spoof = total = 0
    for item in train_items:
        if item["key"] not in timestamps:
            raise InputError(f"training utterance '{item['key']}' has no timestamps", path)
        ts = timestamps[item["key"]]
        segments = spoof_segments(ts, int(round(ts.duration_s * sample_rate)), hop, sample_rate)
        spoof += int(segments.sum())
        total += len(segments)
    if spoof == 0 or spoof == total:
        raise InputError("the training set needs both bona fide and spoofed frames", path)
    bona = total - spoof
    index = frame_bonafide_index(config)
    config["frame_class_counts"] = [bona, spoof] if index == 0 else [spoof, bona]
    return timestamps


def train_loader(items, config, rank, world_size, timestamps):
    ds_args = config.get("dataset_args", {})
    sample_rate = ds_args.get("sample_rate", 16000)
    hop = hop_samples(config)
    dataset = FrameChunks(items, config["classes"], int(ds_args.get("chunk_len", 3.0) *
                                                        sample_rate),
                          timestamps, hop, frame_bonafide_index(config),
                          sample_rate=sample_rate, rank=rank, world_size=world_size,
                          seed=config.get("seed", 42), augment=config.get("augment"),
                          min_duration=float(ds_args.get("min_duration", 0.0)),
                          max_duration=float(ds_args.get("max_duration", float("inf"))))
    dl_args = config.get("dataloader_args", {})
    num_workers = dl_args.get("num_workers", 1)
    loader = DataLoader(dataset, batch_size=dl_args.get("batch_size", 32),
                        num_workers=num_workers, collate_fn=frame_collate(hop),
                        pin_memory=dl_args.get("pin_memory", False),
                        prefetch_factor=dl_args.get("prefetch_factor", 4) if num_workers else None)
    return dataset, loader


class TrainingOutputs(nn.Module):
    """``model.training_outputs`` as a module's forward, so that DistributedDataParallel (which
    syncs gradients of what goes through its own forward) can wrap it."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, wav, lengths):
        return self.model.training_outputs(wav, lengths)


def train_step(model, ddp_model, batch, device, config):
    """Loss of one batch ``(wavs, lengths, frame labels)`` (not yet backpropagated), its frame
    count and its correct frames. ``ddp_model`` wraps :class:`TrainingOutputs` of ``model``."""
    wavs, lengths, labels = batch
    wavs, lengths, labels = wavs.to(device), lengths.to(device), labels.to(device)
    with autocast_context(device, config.get("amp")):
        outputs = ddp_model(wavs, lengths)
    loss, _ = localization_loss(outputs, labels, loss_weights(config), model.bonafide_index)
    valid = labels != -100
    correct = (outputs["frame"].argmax(-1) == labels)[valid].sum().item()
    return loss, int(valid.sum()), correct


def frame_llr(logits, config):
    """Frame logits ``(T, 2)`` -> frame LLRs, the training frame prior removed."""
    return logits_to_llr(logits, config["classes"], config["frame_class_counts"],
                         config.get("bonafide_classes", ("bonafide",)))


def utterance_llr(logits, config, has_branch):
    """Utterance logits ``(N, 2)`` -> LLRs: the utterance prior for an utterance branch, the
    frame prior for a minimum-LLR frame."""
    counts = config["class_counts"] if has_branch else config["frame_class_counts"]
    return logits_to_llr(logits, config["classes"], counts,
                         config.get("bonafide_classes", ("bonafide",)))


def has_utterance_branch(model):
    return getattr(model.head, "utterance", None) is not None


@torch.no_grad()
def score_utterances(model, loader, device):
    """``{key: (frame logits (T, C), utterance logits (C,))}`` for whole utterances."""
    out = {}
    for keys, wavs, lengths in loader:
        frame, frame_lengths, utt = model(wavs.to(device), lengths.to(device))
        frame, utt = frame.float().cpu().numpy(), utt.float().cpu().numpy()
        for i, key in enumerate(keys):
            out[key] = (frame[i, :int(frame_lengths[i])], utt[i], int(lengths[i]))
    return out


def read_dev_timestamps(val_list, items, durations, config):
    """The dev set's timestamps, checked before the first epoch: every dev utterance labelled,
    labels and audio of the same length to within one frame."""
    path = timestamps_path(val_list)
    timestamps = read_timestamps(path)
    hop = hop_samples(config)
    sample_rate = (config.get("dataset_args") or {}).get("sample_rate", 16000)
    for item, seconds in zip(items, durations):
        if item["key"] not in timestamps:
            raise InputError(f"dev utterance '{item['key']}' has no timestamps", path)
        check_label_length(item["key"], timestamps[item["key"]].duration_s,
                           int(round(seconds * sample_rate)), hop, sample_rate)
    return timestamps


@torch.no_grad()
def validate(model, items, config, labels, rank, world_size, device, durations, timestamps,
             num_workers=1):
    """Segment EER (frames at the model's resolution) and utterance EER on the whole dev set,
    gathered over ranks; every rank gets the same numbers. A collective."""
    model.eval()
    sample_rate = config.get("dataset_args", {}).get("sample_rate", 16000)
    loader = utterance_loader(items, sample_rate, rank=rank, world_size=world_size,
                              durations=durations, num_workers=num_workers,
                              **(config.get("validation_args") or {}))
    local = score_utterances(model, loader, device)
    scores = {}
    for part in dist_utils.all_gather_objects(local):
        scores.update(part)
    keys = sorted(scores)
    frame_labels = utterance_frame_labels(timestamps, keys, [scores[k][2] for k in keys],
                                          hop_samples(config), model.bonafide_index,
                                          sample_rate)
    llrs = frame_llr(np.concatenate([scores[k][0] for k in keys]), config)
    seg_labels = np.concatenate(frame_labels)
    if len(seg_labels) != len(llrs):
        raise RuntimeError("frame scores and labels of the dev set do not line up")
    is_bona = seg_labels == model.bonafide_index
    utt = utterance_llr(np.stack([scores[k][1] for k in keys]), config,
                        has_utterance_branch(model))
    utt_bona = np.array([labels[k] == "bonafide" for k in keys])
    model.train()
    return {"segment_eer": compute_eer(llrs[is_bona], llrs[~is_bona]),
            "utterance_eer": compute_eer(utt[utt_bona], utt[~utt_bona])}


class LocalizationTask:
    """The training task seam (:mod:`wedefense.training.task`) for ``task: localization``:
    batches ``(wavs, lengths, frame labels)`` of raw-list chunks, the frame loss, dev segment
    and utterance EER."""

    name = TASK
    metrics = BEST_METRICS
    validation_options = VALIDATION_OPTIONS
    count_unit = "frames"

    def __init__(self):
        self.train_timestamps = self.dev_timestamps = None

    def read_training_items(self, config, args):
        if args.data_type != "raw":
            raise InputError("localization training reads a raw.list (the timestamp table "
                             "beside it gives the labels); shard lists are not supported")
        items = detection_data.read_training_items(config, args)
        self.train_timestamps = resolve(config, items, args.train_data)
        return items

    def complete_config(self, config):
        pass

    def read_dev_set(self, args, rank, world_size):
        return detection_data.read_dev_set(args, rank, world_size)

    def check_dev_set(self, dev, model, config):
        check_long_enough(dev.items, dev.durations,
                          config.get("dataset_args", {}).get("sample_rate", 16000),
                          min_samples(model), dev.path)
        self.dev_timestamps = read_dev_timestamps(dev.path, dev.items, dev.durations, config)

    def train_loader(self, items, config, rank, world_size):
        return train_loader(items, config, rank, world_size, self.train_timestamps)

    def num_train_utterances(self, items, config, data_type):
        return len(items)

    def training_module(self, model):
        return TrainingOutputs(model)

    def train_step(self, model, ddp_model, batch, device, config):
        return train_step(model, ddp_model, batch, device, config)

    def validate(self, model, dev, config, rank, world_size, device):
        dist_utils.sync_buffers(model)
        return validate(model, dev.items, config, dev.labels, rank, world_size, device,
                        dev.durations, self.dev_timestamps,
                        config.get("dataloader_args", {}).get("num_workers", 1))
