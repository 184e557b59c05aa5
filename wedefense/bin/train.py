"""Stage 3: train a spoof detector (run under torchrun; a plain `python` run is one process).

    torchrun --standalone --nproc_per_node=1 wedefense/bin/train.py --config conf/resnet.yaml \\
        --exp_dir exp/resnet --train_data data/train/raw.list --train_label data/train/utt2lab \\
        --val_data data/dev/raw.list --val_label data/dev/utt2lab [--resume] [--key.sub value ...]

Any config key can be overridden after the known options (``--optimizer_args.lr 0.01``). The
resolved config, with the class names and training class counts, is saved to
``<exp_dir>/config.yaml``; it is all later stages need to rebuild the model.
Writes train.log, tensorboard/, models/model_<epoch>.pt (full resume state) and
models/best_model.pt (weights of the epoch with the best dev metric).

With a raw.list the training class counts (the prior stage 6 removes) are counted from the list
itself, and a label in --train_label that differs from the list's is an error; a shard.list
names only tars, so its counts come from --train_label. The dev set and the validation
options are checked before the first epoch. An epoch's checkpoint is written before its
validation, so a failing validation loses no training; --resume validates such an epoch first.
--resume after an early stop trains nothing.
"""

import argparse
import inspect
import logging
import os
import random
import sys
import time

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from wedefense.calibration.llr import logits_to_llr, removes_training_prior
from wedefense.dataset.augment.spec_augment import attach_spec_augment
from wedefense.dataset.augment.speed import speed_classes
from wedefense.dataset.dataset import (
    check_long_enough,
    item_durations,
    read_raw_list,
    read_train_list,
)
from wedefense.dataset.loader import train_loader, utterance_loader
from wedefense.dataset.tables import LABELS, read_labels
from wedefense.metrics.detection import compute_metrics
from wedefense.metrics.scores_io import find_line
from wedefense.models.detector import min_samples
from wedefense.models.margin_scheduler import build_margin_scheduler
from wedefense.models.param_groups import build_param_groups, group_lr_lambdas
from wedefense.models.registry import build_model, count_parameters
from wedefense.training import localization
from wedefense.utils import distributed as dist_utils
from wedefense.utils.checkpoint import epoch_checkpoints, load_checkpoint, save_checkpoint
from wedefense.utils.cli import entry_point
from wedefense.utils.config import load_config, save_config
from wedefense.utils.errors import InputError
from wedefense.utils.schedulers import lr_multiplier

logger = logging.getLogger("wedefense.train")

# the dev metrics a best model can be chosen by (all: lower is better)
BEST_METRICS = ("eer", "min_dcf", "act_dcf", "cllr")
TASK_METRICS = {"detection": BEST_METRICS, "localization": localization.BEST_METRICS}
# validation_args are utterance_loader's batching options; validate() sets the others itself
VALIDATION_OPTIONS = tuple(name for name in inspect.signature(utterance_loader).parameters
                           if name not in ("items", "sample_rate", "num_workers", "rank",
                                           "world_size", "durations"))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML training config")
    parser.add_argument("--exp_dir", required=True, help="experiment directory to write")
    parser.add_argument("--train_data", required=True, help="training raw.list or shard.list")
    parser.add_argument("--train_label", required=True,
                        help="training utt2lab: the class counts of a shard list; a raw list "
                             "is counted itself and checked against it")
    parser.add_argument("--val_data", help="dev raw.list or shard.list; without it no best "
                        "model is chosen")
    parser.add_argument("--val_label", help="dev utt2lab")
    parser.add_argument("--data_type", default="raw", choices=["raw", "shard"],
                        help="list format of --train_data (shard: streamed tar by tar); "
                             "--val_data may be either")
    parser.add_argument("--checkpoint", help="model_<epoch>.pt to resume from")
    parser.add_argument("--resume", action="store_true",
                        help="resume from the latest model_<epoch>.pt in exp_dir/models")
    return parser.parse_known_args(argv)


def setup_rank0_logging(exp_dir, rank):
    handlers = [logging.StreamHandler(sys.stderr)]
    if rank == 0:
        handlers.append(logging.FileHandler(os.path.join(exp_dir, "train.log")))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, handlers=handlers,
                        format="%(asctime)s %(levelname)s [rank %(rank)s] %(message)s",
                        force=True)
    old_factory = logging.getLogRecordFactory()

    def factory(*a, **kw):
        record = old_factory(*a, **kw)
        record.rank = rank
        return record

    logging.setLogRecordFactory(factory)


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def rng_state():
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def check_train_labels(items, list_path, label_path, classes):
    """A raw list's own labels, checked against its utt2lab: a label that differs is an error
    naming the utt2lab line; ids in only one of them are reported (a list may be a subset)."""
    labels = read_labels(label_path, labels=classes)
    for item in items:
        if not isinstance(item.get("lab"), str):
            raise InputError(f"training utterance '{item['key']}' has no 'lab'", list_path)
    in_list = {item["key"]: item["lab"] for item in items}
    for utt, lab in labels.items():
        if utt in in_list and in_list[utt] != lab:
            # the line is looked up only for the message: the file is read once otherwise
            raise InputError(f"label '{lab}' of '{utt}' differs from its label "
                             f"'{in_list[utt]}' in {list_path}", label_path,
                             find_line(label_path, utt))
    only_list = [k for k in in_list if k not in labels]
    only_labels = [k for k in labels if k not in in_list]
    if only_list or only_labels:
        logger.warning("%s and %s hold different utterances (%d only in the list, e.g. %s; %d "
                       "only in utt2lab, e.g. %s): class counts come from the list",
                       list_path, label_path, len(only_list), only_list[:1], len(only_labels),
                       only_labels[:1])
    return [item["lab"] for item in items]


def resolve_config(args, overrides):
    """The run's config (with class names and training class counts) and the training items
    (a raw list's utterances, or a shard list's tars)."""
    config = load_config(args.config, overrides)
    check_training_options(config)
    pretrained = (config.get("frontend_args") or {}).get("pretrained")
    if isinstance(pretrained, str) and os.path.isdir(pretrained):
        # a local SSL checkpoint, usually given relative to the recipe: later stages may run
        # elsewhere (the In-the-Wild recipe scores models of other recipes)
        config["frontend_args"]["pretrained"] = os.path.abspath(pretrained)
    if args.data_type == "raw":
        # count what is trained on, so the prior stage 6 removes is the one the model saw
        train_items = read_train_list(args.train_data, config.get("classes"), "raw")
        train_labels = check_train_labels(train_items, args.train_data, args.train_label,
                                          config.get("classes"))
    else:
        # a shard list names tars: counting it would read every tar's headers; the shards were
        # made from this utt2lab (stage 2), and the loader checks each streamed label
        train_items = read_train_list(args.train_data, None, "shard")
        train_labels = list(read_labels(args.train_label, labels=config.get("classes")).values())
    counts = {}
    for lab in train_labels:
        counts[lab] = counts.get(lab, 0) + 1
    classes = config.get("classes") or sorted(counts)
    missing = [c for c in classes if counts.get(c, 0) == 0]
    if missing:
        raise InputError(f"no training utterance of class {', '.join(missing)}",
                         args.train_data if args.data_type == "raw" else args.train_label)
    config["classes"] = list(classes)
    config["class_counts"] = [counts[c] for c in classes]
    config["data"] = {"train_data": os.path.abspath(args.train_data),
                      "train_label": os.path.abspath(args.train_label),
                      "val_data": args.val_data and os.path.abspath(args.val_data),
                      "val_label": args.val_label and os.path.abspath(args.val_label),
                      "data_type": args.data_type}
    speed = (config.get("augment") or {}).get("speed_perturb") or {}
    if speed.get("as_classes") and speed.get("prob", 0) > 0:
        # each non-unit speed is a copy of every class; counts are the expected numbers of
        # chunks per epoch, the prior that stage 6 removes
        speeds = speed.get("speeds", [0.9, 1.0, 1.1])
        share = speed["prob"] / len(speeds)
        copies = sum(1 for s in speeds if s != 1.0)
        config["data_classes"] = config["classes"]
        config["classes"] = speed_classes(config["classes"], speeds)
        config["bonafide_classes"] = [c for c in config["classes"]
                                      if c == "bonafide" or c.startswith("bonafide_sp")]
        counts = config["class_counts"]
        config["class_counts"] = [c * (1 - copies * share) for c in counts] + \
            [c * share for _ in range(copies) for c in counts]
    return config, train_items


def check_training_options(config):
    """Options only validation reads fail here, at start-up, not after the first epoch."""
    if localization.is_localization(config):
        return  # localization.resolve checks its own options
    metric = config.get("best_metric", "eer")
    if metric not in BEST_METRICS:
        raise InputError(f"best_metric '{metric}' is not one of {', '.join(BEST_METRICS)}")
    options = config.get("validation_args") or {}
    if not isinstance(options, dict):
        raise InputError("validation_args must be a mapping of option: value")
    for key in options:
        if key not in VALIDATION_OPTIONS:
            raise InputError(f"unknown validation_args key '{key}' (known: "
                             f"{', '.join(VALIDATION_OPTIONS)})")
    for key in ("validate_interval", "save_epoch_interval"):
        value = config.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{key} must be a positive integer, got {value!r}")
    patience = config.get("early_stop_patience", -1)
    if isinstance(patience, bool) or not isinstance(patience, int):
        raise InputError(f"early_stop_patience must be an integer, got {patience!r}")


def read_dev_set(args, rank, world_size):
    """Dev items, labels and durations, checked before training: every utterance labelled, both
    classes present (EER needs both), every audio header readable (ranks share the reading, and
    every validation reuses the durations)."""
    labels = read_labels(args.val_label) if args.val_label else None
    items = read_raw_list(args.val_data, None if labels else LABELS)
    if labels is None:
        labels = {it["key"]: it["lab"] for it in items}
    for it in items:
        if it["key"] not in labels:
            raise InputError(f"dev utterance '{it['key']}' has no label", args.val_label)
    present = {labels[it["key"]] for it in items}
    if "bonafide" not in present or present == {"bonafide"}:
        raise InputError("the dev set needs both bona fide and spoof utterances; it has only "
                         f"{', '.join(sorted(present))}", args.val_label or args.val_data)
    error, share = None, None
    try:
        share = item_durations(items[rank::world_size])
    except (InputError, OSError) as e:
        error = str(e)
    gathered = dist_utils.all_gather_objects((error, share))
    errors = [e for e, _ in gathered if e is not None]
    if errors:  # every rank stops, with the same message
        raise InputError(f"dev set: {errors[0]}")
    durations = [0.0] * len(items)
    for r, (_, share) in enumerate(gathered):
        durations[r::world_size] = share
    return items, labels, durations


LR_SCALING = {"none": lambda n: 1.0, "linear": float, "sqrt": lambda n: n ** 0.5}


def apply_lr_scaling(config, world_size):
    """Scale ``optimizer_args.lr`` by the world size as the config's ``lr_scaling`` says
    (none, linear, sqrt). The saved config then holds the lr actually used and ``lr_scaling:
    none``, so training again from it does not scale twice."""
    rule = config.get("lr_scaling", "none")
    if rule not in LR_SCALING:
        raise InputError(f"unknown lr_scaling '{rule}' (known: {', '.join(LR_SCALING)})")
    factor = LR_SCALING[rule](world_size)
    if factor != 1.0:
        args = config.setdefault("optimizer_args", {"lr": 1e-3})
        config["lr_scaling_applied"] = {"rule": rule, "world_size": world_size,
                                        "base_lr": args["lr"]}
        args["lr"] = args["lr"] * factor
    config["lr_scaling"] = "none"


def autocast_context(device, amp):
    if device.type != "cuda" or amp in (None, "none", False):
        return torch.autocast(device_type=device.type, enabled=False)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    return torch.autocast(device_type="cuda", dtype=dtype)


def sync_buffers(model):
    """Give every rank rank 0's buffers (BatchNorm running statistics). DDP copies them from
    rank 0 only at the start of each training forward, so after an epoch each rank holds what
    its own last batch left; validation must score the model rank 0 saves."""
    if dist_utils.is_distributed():
        for buf in model.buffers():
            torch.distributed.broadcast(buf, src=0)


@torch.no_grad()
def validate(model, items, config, labels, rank, world_size, device, durations=None):
    """Dev metrics over every dev utterance (whole, length-bucketed), reduced over ranks; every
    rank gets the same numbers. A collective: all ranks call it."""
    sync_buffers(model)
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


class EarlyStopping:
    """The best dev metric so far (lower is better) and the count of validations since it
    improved; training stops once that count exceeds ``patience`` (negative: never)."""

    def __init__(self, patience, best=None, best_epoch=None, stale=0):
        self.patience = patience
        self.best, self.best_epoch, self.stale = best, best_epoch, stale

    def update(self, value, epoch):
        """Record one validation; True if it is a new best."""
        if self.best is None or value < self.best:
            self.best, self.best_epoch, self.stale = value, epoch, 0
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self):
        return self.patience >= 0 and self.stale > self.patience

    def describe(self, metric):
        return (f"no {metric} improvement in the last {self.stale} validation(s), patience "
                f"{self.patience}; best {self.best:.4g} at epoch {self.best_epoch}")


@entry_point
def main(argv=None):
    args, overrides = parse_args(argv)
    rank, world_size, _, device = dist_utils.init_distributed()
    os.makedirs(os.path.join(args.exp_dir, "models"), exist_ok=True)
    setup_rank0_logging(args.exp_dir, rank)
    config, train_items = resolve_config(args, overrides)
    apply_lr_scaling(config, world_size)
    val_items = val_labels = val_durations = None
    if args.val_data:
        val_items, val_labels, val_durations = read_dev_set(args, rank, world_size)
    seed_everything(config.get("seed", 42) + rank)

    classes = config.get("data_classes", config["classes"])  # the labels in the data
    task = config.get("task", "detection")
    localizing = task == localization.TASK
    train_timestamps = dev_timestamps = None
    if localizing:  # the timestamp tables beside the lists give the frame labels
        train_timestamps = localization.resolve(config, train_items, args.train_data)
        if val_items:
            dev_timestamps = localization.read_dev_timestamps(args.val_data, val_items,
                                                              val_durations, config)
    if rank == 0:
        save_config(config, os.path.join(args.exp_dir, "config.yaml"))
    model = build_model(config).to(device)
    if val_items:  # a dev utterance too short for the model would crash the first validation
        check_long_enough(val_items, val_durations,
                          config.get("dataset_args", {}).get("sample_rate", 16000),
                          min_samples(model), args.val_data)
    if config.get("channels_last") and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)  # faster cuDNN convolutions
    attach_spec_augment(model, config.get("spec_augment"))
    logger.info("model %s: %.3fM parameters (%s, classes %s, counts %s, lr %g)",
                config["model"], count_parameters(model) / 1e6, device, classes,
                config["class_counts"], config.get("optimizer_args", {}).get("lr", 1e-3))
    optimizer_cls = getattr(torch.optim, config.get("optimizer", "Adam"))
    # frontend_lr_ratio / frozen_frontend_steps: see wedefense/models/param_groups.py
    optimizer = optimizer_cls(build_param_groups(model, config),
                              **config.get("optimizer_args", {"lr": 1e-3}))

    if localizing:
        dataset, loader = localization.train_loader(train_items, config, rank, world_size,
                                                    train_timestamps)
    else:
        dataset, loader = train_loader(train_items, classes, config, rank, world_size)
    batch_size = config.get("dataloader_args", {}).get("batch_size", 32)
    # a shard list names tars: the utterance count is the sum of the utt2lab class counts
    # (speed-perturbed copies split counts without changing their sum)
    num_train = len(train_items) if args.data_type == "raw" else round(
        sum(config["class_counts"]))
    steps_per_epoch = max(1, num_train // (world_size * batch_size))
    num_epochs = config.get("num_epochs", 10)
    sched_args = dict(config.get("scheduler_args", {}))
    warmup_steps = int(sched_args.pop("warmup_epochs", 0) * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, group_lr_lambdas(
        optimizer, lr_multiplier(config.get("scheduler", "exponential"),
                                 num_epochs * steps_per_epoch, warmup_steps, **sched_args),
        model, config))
    scaler = torch.amp.GradScaler(enabled=device.type == "cuda" and config.get("amp") == "fp16")
    margin_scheduler = build_margin_scheduler(config, getattr(model, "projection", None))

    best_metric = config.get("best_metric", "eer")
    reported = TASK_METRICS[task]
    stopping = EarlyStopping(config.get("early_stop_patience", -1))
    models_dir = os.path.join(args.exp_dir, "models")

    def save_epoch(epoch, pending_validation=False):
        """model_<epoch>.pt with all resuming needs; a collective (the RNG states)."""
        rng_states = dist_utils.all_gather_objects(rng_state())
        if rank == 0:
            save_checkpoint({
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "epoch": epoch, "rng": rng_states,
                "best": stopping.best, "best_epoch": stopping.best_epoch,
                "stale": stopping.stale, "pending_validation": pending_validation,
                "margin": margin_scheduler and margin_scheduler.state_dict(),
            }, os.path.join(models_dir, f"model_{epoch}.pt"))

    def validate_epoch(epoch):
        """Validate, track the best model and early stopping; the dev_* summary entries."""
        if localizing:
            metrics = localization.validate(
                model, val_items, config, val_labels, rank, world_size, device, val_durations,
                dev_timestamps, config.get("dataloader_args", {}).get("num_workers", 1))
        else:
            metrics = validate(model, val_items, config, val_labels, rank, world_size, device,
                               val_durations)
        if stopping.update(metrics[best_metric], epoch) and rank == 0:
            save_checkpoint({"model": model.state_dict(), "epoch": epoch,
                             best_metric: stopping.best},
                            os.path.join(models_dir, "best_model.pt"))
        return {f"dev_{k}": metrics[k] for k in reported}

    def log_summary(epoch, summary):
        logger.info("epoch %d: %s", epoch, " ".join(f"{k} {v:.4g}" for k, v in summary.items()))

    start_epoch = 1
    ckpt_path = args.checkpoint
    if args.resume and not ckpt_path:
        found = epoch_checkpoints(models_dir)
        ckpt_path = found[max(found)] if found else None
    if ckpt_path:
        state = load_checkpoint(ckpt_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"][rank] if rank < len(state["rng"]) else state["rng"][0])
        if margin_scheduler is not None:
            margin_scheduler.load_state_dict(state["margin"])
        start_epoch = state["epoch"] + 1
        stopping.best, stopping.best_epoch = state["best"], state["best_epoch"]
        stopping.stale = state["stale"]
        logger.info("resumed from %s (epoch %d)", ckpt_path, state["epoch"])
        if state.get("pending_validation") and val_items:
            # saved before a validation that did not finish: validate it now, as the run
            # would have (same weights, same RNG), and complete its checkpoint
            log_summary(state["epoch"], validate_epoch(state["epoch"]))
            save_epoch(state["epoch"])
        if stopping.should_stop:
            logger.info("early stopping already happened at epoch %d (%s): nothing to train",
                        state["epoch"], stopping.describe(best_metric))
            dist_utils.barrier()
            dist_utils.cleanup()
            return

    train_module = localization.TrainingOutputs(model) if localizing else model
    ddp_model = DistributedDataParallel(train_module) if world_size > 1 else train_module
    if config.get("compile"):
        # compiles the training forward; validation and checkpoints use the plain module
        ddp_model = torch.compile(ddp_model)
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(os.path.join(args.exp_dir, "tensorboard"))

    validate_interval = config.get("validate_interval", 1)
    save_interval = config.get("save_epoch_interval", 1)
    grad_clip = config.get("grad_clip", 0)
    show_progress = rank == 0 and sys.stderr.isatty()
    model.train()
    for epoch in range(start_epoch, num_epochs + 1):
        dataset.set_epoch(epoch)
        data = iter(loader)
        total_loss = correct = seen = 0.0
        t0 = time.time()
        steps = range(steps_per_epoch)
        if show_progress:
            from tqdm import tqdm
            steps = tqdm(steps, desc=f"epoch {epoch}", leave=False)
        for step in steps:
            if margin_scheduler is not None:
                margin_scheduler.step(epoch - 1 + step / steps_per_epoch)
            if localizing:
                with autocast_context(device, config.get("amp")):
                    loss, batch_seen, batch_correct = localization.train_step(
                        model, ddp_model, next(data), device, config)
            else:
                wavs, labels = next(data)
                wavs, labels = wavs.to(device, non_blocking=True), labels.to(device)
                with autocast_context(device, config.get("amp")):
                    logits = ddp_model(wavs, None, labels)
                    # each head owns its loss (P2SGrad is not cross-entropy on its logits)
                    loss = model.projection.loss(logits.float(), labels)
                batch_correct = (logits.argmax(-1) == labels).sum().item()
                batch_seen = len(labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(
                model.parameters(), grad_clip if grad_clip > 0 else float("inf"))
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            # localization: per frame; detection: per chunk
            total_loss += loss.item() * batch_seen
            correct += batch_correct
            seen += batch_seen
        del data
        elapsed = time.time() - t0
        summary = {"loss": total_loss / seen, "acc": correct / seen,
                   "lr": optimizer.param_groups[0]["lr"], "grad_norm": float(grad_norm),
                   ("frames_per_s" if localizing else "chunks_per_s"):
                       seen * world_size / elapsed}
        if margin_scheduler is not None:
            summary["margin"] = margin_scheduler.margin
        validating = bool(val_items) and epoch % validate_interval == 0
        save_now = epoch % save_interval == 0 or epoch == num_epochs
        if validating and save_now:
            # on disk before validating: a validation that fails loses no training
            save_epoch(epoch, pending_validation=True)
        if validating:
            # the bare module: DDP's forward syncs buffers, a collective that would hang
            # when ranks hold different numbers of dev batches
            summary.update(validate_epoch(epoch))
        # every rank computed the same metric from the same gathered scores: same decision
        stop = stopping.should_stop
        if rank == 0:
            log_summary(epoch, summary)
            for k, v in summary.items():
                writer.add_scalar(f"train/{k}" if not k.startswith("dev") else f"dev/{k[4:]}",
                                  v, epoch)
            writer.flush()
        if save_now or stop:  # the stopping epoch too: later stages and --resume need it
            save_epoch(epoch)
        if stop:
            logger.info("early stop at epoch %d: %s", epoch, stopping.describe(best_metric))
            break
    if rank == 0:
        if stopping.best_epoch is None:  # no dev set: the last weights are the best we know
            save_checkpoint({"model": model.state_dict(), "epoch": num_epochs},
                            os.path.join(models_dir, "best_model.pt"))
        else:
            logger.info("best %s %.4g at epoch %d", best_metric, stopping.best,
                        stopping.best_epoch)
        writer.close()
    # DDP's reducer holds the process group: drop it first, so destroying the group joins
    # gloo's threads now and not during interpreter shutdown (a sporadic SIGABRT at exit)
    del ddp_model
    dist_utils.barrier()
    dist_utils.cleanup()


if __name__ == "__main__":
    main()
