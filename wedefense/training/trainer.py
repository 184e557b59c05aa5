"""Stage 3's orchestration: check everything, then lock and fill the experiment directory,
then train epoch by epoch with checkpoints, validation and early stopping."""

import contextlib
import logging
import os
import sys

import torch
from torch.nn.parallel import DistributedDataParallel

from wedefense.dataset.augment.spec_augment import attach_spec_augment
from wedefense.models.margin_scheduler import build_margin_scheduler
from wedefense.models.param_groups import build_param_groups, group_lr_lambdas
from wedefense.models.registry import build_model, count_parameters
from wedefense.training.checkpoint_state import (
    TrainingState,
    resume,
    save_epoch,
    seed_everything,
)
from wedefense.training.early_stopping import EarlyStopping
from wedefense.training.epoch import train_one_epoch
from wedefense.training.exp_lock import ExpDirLock, check_not_in_use
from wedefense.training.launcher_watch import die_with_launcher
from wedefense.training.run_config import apply_lr_scaling, resolve_config
from wedefense.training.run_logging import setup_logging, start_log_file
from wedefense.utils import distributed as dist_utils
from wedefense.utils.checkpoint import epoch_checkpoints, save_checkpoint
from wedefense.utils.config import save_config
from wedefense.utils.errors import InputError
from wedefense.utils.schedulers import lr_multiplier

logger = logging.getLogger("wedefense.train")


def on_rank0(check, rank):
    """Run ``check`` on rank 0 only; its ``InputError`` is raised on every rank, so no rank
    is left waiting in a collective."""
    message = None
    if rank == 0:
        try:
            check()
        except InputError as e:
            message = str(e)
            if not dist_utils.is_distributed():
                raise
    message = dist_utils.broadcast_object(message)
    if message is not None:
        raise InputError(message)


def cpu_channels_last_safe(model):
    """Whether oneDNN can train ``model`` in channels_last on CPU: with torch 2.13 the
    backward of a strided NHWC convolution with fewer than 16 input channels (the 8-channel
    demo ResNet's 1x1 shortcuts) corrupts the heap and crashes (train_speed.md)."""
    return all(m.in_channels >= 16 for m in model.modules()
               if isinstance(m, torch.nn.Conv2d) and max(m.stride) > 1)


def build_training_state(model, config, steps_per_epoch, device):
    """Optimiser, lr schedule, grad scaler, margin schedule and early stopping of a run."""
    optimizer_cls = getattr(torch.optim, config.get("optimizer", "Adam"))
    # frontend_lr_ratio / frozen_frontend_steps: see wedefense/models/param_groups.py
    optimizer = optimizer_cls(build_param_groups(model, config),
                              **config.get("optimizer_args", {"lr": 1e-3}))
    sched_args = dict(config.get("scheduler_args", {}))
    warmup_steps = int(sched_args.pop("warmup_epochs", 0) * steps_per_epoch)
    total_steps = config.get("num_epochs", 10) * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, group_lr_lambdas(
        optimizer, lr_multiplier(config.get("scheduler", "exponential"), total_steps,
                                 warmup_steps, **sched_args),
        model, config))
    scaler = torch.amp.GradScaler(enabled=device.type == "cuda" and config.get("amp") == "fp16")
    return TrainingState(model, optimizer, scheduler, scaler,
                         build_margin_scheduler(config, getattr(model, "projection", None)),
                         EarlyStopping(config.get("early_stop_patience", -1)))


class Run:
    """One training run's fixed context: what validation and checkpointing need."""

    def __init__(self, task, config, state, dev, exp_dir, rank, world_size, device):
        self.task, self.config, self.state, self.dev = task, config, state, dev
        self.models_dir = os.path.join(exp_dir, "models")
        self.rank, self.world_size, self.device = rank, world_size, device
        self.best_metric = config.get("best_metric", "eer")

    def save_epoch(self, epoch, pending_validation=False):
        save_epoch(self.state, os.path.join(self.models_dir, f"model_{epoch}.pt"), epoch,
                   self.rank, pending_validation)

    def validate_epoch(self, epoch):
        """Validate, track the best model and early stopping; the dev_* summary entries."""
        # the bare module: DDP's forward syncs buffers, a collective that would hang when
        # ranks hold different numbers of dev batches
        metrics = self.task.validate(self.state.model, self.dev, self.config, self.rank,
                                     self.world_size, self.device)
        stopping = self.state.stopping
        if stopping.update(metrics[self.best_metric], epoch) and self.rank == 0:
            save_checkpoint({"model": self.state.model.state_dict(), "epoch": epoch,
                             self.best_metric: stopping.best},
                            os.path.join(self.models_dir, "best_model.pt"))
        return {f"dev_{k}": float(metrics[k]) for k in self.task.metrics}

    def resume(self, path):
        """Restore the run from ``path``; the epoch to start from (None: it already stopped
        early, nothing to train)."""
        saved = resume(self.state, path, self.rank)
        epoch = saved["epoch"]
        logger.info("resumed from %s (epoch %d)", path, epoch)
        if saved.get("pending_validation") and self.dev is not None:
            # saved before a validation that did not finish: validate it now, as the run
            # would have (same weights, same RNG), and complete its checkpoint
            log_summary(epoch, self.validate_epoch(epoch))
            self.save_epoch(epoch)
        if self.state.stopping.should_stop:
            logger.info("early stopping already happened at epoch %d (%s): nothing to train",
                        epoch, self.state.stopping.describe(self.best_metric))
            return None
        return epoch + 1


def log_summary(epoch, summary):
    logger.info("epoch %d: %s", epoch, " ".join(f"{k} {v:.4g}" for k, v in summary.items()))


def train(args, overrides=()):
    """Train as ``python -m wedefense.bin.train`` does (``args``: its parsed options)."""
    die_with_launcher()
    rank, world_size, _, device = dist_utils.init_distributed()
    setup_logging(rank)
    # everything is checked before the experiment directory is touched
    on_rank0(lambda: check_not_in_use(args.exp_dir), rank)
    task, config, train_items = resolve_config(args, overrides)
    apply_lr_scaling(config, world_size)
    dev = task.read_dev_set(args, rank, world_size) if args.val_data else None
    seed_everything(config.get("seed", 42) + rank)
    model = build_model(config).to(device)
    if dev is not None:
        task.check_dev_set(dev, model, config)
    with contextlib.ExitStack() as held:
        on_rank0(lambda: held.enter_context(ExpDirLock(args.exp_dir)), rank)
        if rank == 0:
            os.makedirs(os.path.join(args.exp_dir, "models"), exist_ok=True)
            start_log_file(args.exp_dir)
            save_config(config, os.path.join(args.exp_dir, "config.yaml"))
        fit(args, task, config, model, train_items, dev, rank, world_size, device)
    dist_utils.barrier()
    dist_utils.cleanup()


def fit(args, task, config, model, train_items, dev, rank, world_size, device):
    """The epochs (after a resume, the remaining ones)."""
    if config.get("channels_last"):
        if device.type == "cuda" or cpu_channels_last_safe(model):
            # NHWC convolutions: faster in cuDNN, and on CPU oneDNN's backward avoids
            # reordering every activation (a quarter less CPU time per step, train_speed.md)
            model = model.to(memory_format=torch.channels_last)
        else:
            logger.info("channels_last skipped on CPU: a strided convolution has fewer than "
                        "16 input channels (oneDNN corrupts memory in its backward)")
    attach_spec_augment(model, config.get("spec_augment"))
    logger.info("model %s: %.3fM parameters (%s, classes %s, counts %s, lr %g)",
                config["model"], count_parameters(model) / 1e6, device,
                config.get("data_classes", config["classes"]), config["class_counts"],
                config.get("optimizer_args", {}).get("lr", 1e-3))
    dataset, loader = task.train_loader(train_items, config, rank, world_size)
    batch_size = config.get("dataloader_args", {}).get("batch_size", 32)
    num_train = task.num_train_utterances(train_items, config, args.data_type)
    steps_per_epoch = max(1, num_train // (world_size * batch_size))
    state = build_training_state(model, config, steps_per_epoch, device)
    run = Run(task, config, state, dev, args.exp_dir, rank, world_size, device)

    start_epoch, ckpt_path = 1, args.checkpoint
    if args.resume and not ckpt_path:
        found = epoch_checkpoints(run.models_dir)
        ckpt_path = found[max(found)] if found else None
    if ckpt_path:
        start_epoch = run.resume(ckpt_path)
        if start_epoch is None:
            return
    # a task may train through another forward than the model's (localization: all branches)
    trained = task.training_module(model) if hasattr(task, "training_module") else model
    ddp_model = DistributedDataParallel(trained) if world_size > 1 else trained
    if config.get("compile"):
        # compiles the training forward; validation and checkpoints use the plain module
        ddp_model = torch.compile(ddp_model)
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(os.path.join(args.exp_dir, "tensorboard"))
    model.train()
    run_epochs(run, ddp_model, dataset, loader, start_epoch, steps_per_epoch, writer)
    if rank == 0:
        stopping = state.stopping
        if stopping.best_epoch is None:  # no dev set: the last weights are the best we know
            save_checkpoint({"model": model.state_dict(), "epoch": config.get("num_epochs", 10)},
                            os.path.join(run.models_dir, "best_model.pt"))
        else:
            logger.info("best %s %.4g at epoch %d", run.best_metric, stopping.best,
                        stopping.best_epoch)
        writer.close()
    # DDP's reducer holds the process group: drop it first, so destroying the group joins
    # gloo's threads now and not during interpreter shutdown (a sporadic SIGABRT at exit)
    del ddp_model


def run_epochs(run, ddp_model, dataset, loader, start_epoch, steps_per_epoch, writer):
    """Train, save, validate and log each epoch until the last one or an early stop."""
    config, stopping = run.config, run.state.stopping
    num_epochs = config.get("num_epochs", 10)
    for epoch in range(start_epoch, num_epochs + 1):
        dataset.set_epoch(epoch)
        summary = train_one_epoch(run.task, run.state, ddp_model, loader, epoch,
                                  steps_per_epoch, config, run.device, run.world_size,
                                  show_progress=run.rank == 0 and sys.stderr.isatty())
        validating = run.dev is not None and epoch % config.get("validate_interval", 1) == 0
        save_now = epoch % config.get("save_epoch_interval", 1) == 0 or epoch == num_epochs
        if validating and save_now:
            # on disk before validating: a validation that fails loses no training
            run.save_epoch(epoch, pending_validation=True)
        if validating:
            summary.update(run.validate_epoch(epoch))
        # every rank computed the same metric from the same gathered scores: same decision
        stop = stopping.should_stop
        if run.rank == 0:
            log_summary(epoch, summary)
            for k, v in summary.items():
                writer.add_scalar(f"train/{k}" if not k.startswith("dev") else f"dev/{k[4:]}",
                                  v, epoch)
            writer.flush()
        if save_now or stop:  # the stopping epoch too: later stages and --resume need it
            run.save_epoch(epoch)
        if stop:
            logger.info("early stop at epoch %d: %s", epoch, stopping.describe(run.best_metric))
            break
