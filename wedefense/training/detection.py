"""The detection task: utterance-level bona fide/spoof classification, chosen by the config's
``task: detection`` (the default). See :mod:`wedefense.training.task` for the seam."""

import inspect

import numpy as np
import torch

from wedefense.calibration.llr import logits_to_llr, removes_training_prior
from wedefense.dataset.dataset import check_long_enough
from wedefense.dataset.loader import train_loader, utterance_loader
from wedefense.metrics.detection import compute_metrics
from wedefense.models.spoof_model import min_samples
from wedefense.training import detection_data
from wedefense.training.amp import autocast_context
from wedefense.utils import distributed as dist_utils

# validation_args are utterance_loader's batching options; validate() sets the others itself
VALIDATION_OPTIONS = tuple(name for name in inspect.signature(utterance_loader).parameters
                           if name not in ("items", "sample_rate", "num_workers", "rank",
                                           "world_size", "durations"))


@torch.no_grad()
def validate(model, items, config, labels, rank, world_size, device, durations=None):
    """Dev metrics over every dev utterance (whole, length-bucketed), reduced over ranks; every
    rank gets the same numbers. A collective: all ranks call it."""
    dist_utils.sync_buffers(model)
    model.eval()
    sample_rate = config.get("dataset_args", {}).get("sample_rate", 16000)
    loader = utterance_loader(items, sample_rate, rank=rank, world_size=world_size,
                              durations=durations,
                              num_workers=config.get("dataloader_args", {}).get("num_workers", 1),
                              **(config.get("validation_args") or {}))
    keys, logits = [], []
    for batch_keys, wavs, lengths in loader:
        # only the embedding under autocast: bf16/fp16 logits would be so coarse that dev scores
        # tie (a few hundred distinct values), so the head runs in float32
        with autocast_context(device, config.get("amp")):
            embedding = model.embed(wavs.to(device), lengths.to(device))
        out = model.projection(embedding.float())
        keys.extend(batch_keys)
        logits.append(out.float().cpu())
    local = (keys, torch.cat(logits).numpy() if logits else np.zeros((0, len(config["classes"]))))
    gathered = dist_utils.all_gather_objects(local)
    all_keys = [k for ks, _ in gathered for k in ks]
    all_logits = np.concatenate([lg for _, lg in gathered])
    llr = logits_to_llr(all_logits, config["classes"], config["class_counts"],
                        config.get("bonafide_classes", ("bonafide",)),
                        removes_training_prior(config))
    bona = [s for k, s in zip(all_keys, llr) if labels[k] == "bonafide"]
    spoof = [s for k, s in zip(all_keys, llr) if labels[k] != "bonafide"]
    model.train()
    return compute_metrics(np.asarray(bona), np.asarray(spoof))


class DetectionTask:
    """Batches ``(wavs (B, N), labels (B,))`` of fixed-length chunks; the head's own loss;
    utterance EER/minDCF/actDCF/Cllr on the whole dev set."""

    name = "detection"
    metrics = ("eer", "min_dcf", "act_dcf", "cllr")  # all: lower is better
    validation_options = VALIDATION_OPTIONS

    def read_training_items(self, config, args):
        return detection_data.read_training_items(config, args)

    def complete_config(self, config):
        detection_data.balance_class_counts(config)
        detection_data.add_speed_classes(config)

    def read_dev_set(self, args, rank, world_size):
        return detection_data.read_dev_set(args, rank, world_size)

    def check_dev_set(self, dev, model, config):
        # a dev utterance too short for the model would crash the first validation
        check_long_enough(dev.items, dev.durations,
                          config.get("dataset_args", {}).get("sample_rate", 16000),
                          min_samples(model), dev.path)

    def train_loader(self, items, config, rank, world_size):
        classes = config.get("data_classes", config["classes"])  # the labels in the data
        return train_loader(items, classes, config, rank, world_size)

    def num_train_utterances(self, items, config, data_type):
        # a shard list names tars: the utterance count is the sum of the utt2lab class counts
        # (speed-perturbed copies split counts without changing their sum)
        counts = config.get("train_class_counts", config["class_counts"])  # class_balance
        return len(items) if data_type == "raw" else round(sum(counts))

    def train_step(self, model, ddp_model, batch, device, config):
        """Loss of one batch (not yet backpropagated), its size and its correct count."""
        wavs, labels = batch[0], batch[-1]  # whole_utterance batches carry lengths between
        lengths = batch[1].to(device) if len(batch) == 3 else None
        wavs, labels = wavs.to(device, non_blocking=True), labels.to(device)
        with autocast_context(device, config.get("amp")):
            logits = ddp_model(wavs, lengths, labels)
            # each head owns its loss (P2SGrad is not cross-entropy on its logits)
            loss = model.projection.loss(logits.float(), labels)
        return loss, len(labels), (logits.argmax(-1) == labels).sum()

    def validate(self, model, dev, config, rank, world_size, device):
        return validate(model, dev.items, config, dev.labels, rank, world_size, device,
                        dev.durations)
