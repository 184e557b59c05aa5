"""Stage 3: train a spoof detector (run under torchrun; a plain `python` run is one process).

    torchrun --standalone --nproc_per_node=1 wedefense/bin/train.py --config conf/resnet.yaml \\
        --exp_dir exp/resnet --train_data data/train/raw.list --train_label data/train/utt2lab \\
        --val_data data/dev/raw.list --val_label data/dev/utt2lab [--resume] [--key.sub value ...]

Any config key can be overridden after the known options (``--optimizer_args.lr 0.01``). The
resolved config, with the class names and training class counts, is saved to
``<exp_dir>/config.yaml``; it is all later stages need to rebuild the model.
Writes train.log, tensorboard/, models/model_<epoch>.pt (full resume state) and
models/best_model.pt (weights of the epoch with the best dev metric).
"""

import argparse
import logging
import os
import random
import sys
import time

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from wedefense.calibration.llr import logits_to_llr
from wedefense.dataset.augment.spec_augment import attach_spec_augment
from wedefense.dataset.augment.speed import speed_classes
from wedefense.dataset.dataset import read_raw_list, read_train_list
from wedefense.dataset.loader import train_loader, utterance_loader
from wedefense.dataset.tables import read_labels
from wedefense.metrics.detection import compute_metrics
from wedefense.models.margin_scheduler import build_margin_scheduler
from wedefense.models.param_groups import build_param_groups, group_lr_lambdas
from wedefense.models.registry import build_model, count_parameters
from wedefense.utils import distributed as dist_utils
from wedefense.utils.checkpoint import epoch_checkpoints, load_checkpoint, save_checkpoint
from wedefense.utils.cli import entry_point
from wedefense.utils.config import load_config, save_config
from wedefense.utils.errors import InputError
from wedefense.utils.schedulers import lr_multiplier

logger = logging.getLogger("wedefense.train")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML training config")
    parser.add_argument("--exp_dir", required=True, help="experiment directory to write")
    parser.add_argument("--train_data", required=True, help="training raw.list or shard.list")
    parser.add_argument("--train_label", required=True, help="training utt2lab (class counts)")
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


def resolve_config(args, overrides):
    config = load_config(args.config, overrides)
    counts = {}
    for lab in read_labels(args.train_label, labels=config.get("classes")).values():
        counts[lab] = counts.get(lab, 0) + 1
    classes = config.get("classes") or sorted(counts)
    missing = [c for c in classes if counts.get(c, 0) == 0]
    if missing:
        raise InputError(f"no training utterance of class {', '.join(missing)}", args.train_label)
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
    return config


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


@torch.no_grad()
def validate(model, items, config, labels, rank, world_size, device):
    """Dev EER/minDCF over every dev utterance (whole, length-bucketed), reduced over ranks."""
    model.eval()
    sample_rate = config.get("dataset_args", {}).get("sample_rate", 16000)
    loader = utterance_loader(items, sample_rate, rank=rank, world_size=world_size,
                              num_workers=config.get("dataloader_args", {}).get("num_workers", 1),
                              **config.get("validation_args", {}))
    keys, logits = [], []
    for batch_keys, wavs, lengths in loader:
        with autocast_context(device, config.get("amp")):
            out = model(wavs.to(device), lengths.to(device))
        keys.extend(batch_keys)
        logits.append(out.float().cpu())
    local = (keys, torch.cat(logits).numpy() if logits else np.zeros((0, len(config["classes"]))))
    gathered = dist_utils.all_gather_objects(local)
    all_keys = [k for ks, _ in gathered for k in ks]
    all_logits = np.concatenate([lg for _, lg in gathered])
    llr = logits_to_llr(all_logits, config["classes"], config["class_counts"],
                        config.get("bonafide_classes", ("bonafide",)))
    bona = [s for k, s in zip(all_keys, llr) if labels[k] == "bonafide"]
    spoof = [s for k, s in zip(all_keys, llr) if labels[k] != "bonafide"]
    model.train()
    return compute_metrics(np.asarray(bona), np.asarray(spoof))


def better(metric, best):
    return best is None or metric < best


@entry_point
def main(argv=None):
    args, overrides = parse_args(argv)
    rank, world_size, _, device = dist_utils.init_distributed()
    os.makedirs(os.path.join(args.exp_dir, "models"), exist_ok=True)
    setup_rank0_logging(args.exp_dir, rank)
    config = resolve_config(args, overrides)
    apply_lr_scaling(config, world_size)
    if rank == 0:
        save_config(config, os.path.join(args.exp_dir, "config.yaml"))
    seed_everything(config.get("seed", 42) + rank)

    classes = config.get("data_classes", config["classes"])  # the labels in the data
    train_items = read_train_list(args.train_data, classes, args.data_type)
    val_items = val_labels = None
    if args.val_data:
        val_labels = read_labels(args.val_label) if args.val_label else None
        val_items = read_raw_list(args.val_data, None if val_labels else ("bonafide", "spoof"))
        if val_labels is None:
            val_labels = {it["key"]: it["lab"] for it in val_items}
        for it in val_items:
            if it["key"] not in val_labels:
                raise InputError(f"dev utterance '{it['key']}' has no label", args.val_label)

    model = build_model(config).to(device)
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
    margin_scheduler = build_margin_scheduler(config, model.projection)

    start_epoch, best, best_epoch, stale = 1, None, None, 0
    ckpt_path = args.checkpoint
    if args.resume and not ckpt_path:
        found = epoch_checkpoints(os.path.join(args.exp_dir, "models"))
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
        best, best_epoch, stale = state["best"], state["best_epoch"], state["stale"]
        logger.info("resumed from %s (epoch %d)", ckpt_path, state["epoch"])

    ddp_model = DistributedDataParallel(model) if world_size > 1 else model
    if config.get("compile"):
        # compiles the training forward; validation and checkpoints use the plain module
        ddp_model = torch.compile(ddp_model)
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(os.path.join(args.exp_dir, "tensorboard"))

    best_metric = config.get("best_metric", "eer")
    patience = config.get("early_stop_patience", -1)
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
            wavs, labels = next(data)
            wavs, labels = wavs.to(device, non_blocking=True), labels.to(device)
            with autocast_context(device, config.get("amp")):
                logits = ddp_model(wavs, None, labels)
                # each head owns its loss (P2SGrad is not cross-entropy on its logits)
                loss = model.projection.loss(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(
                model.parameters(), grad_clip if grad_clip > 0 else float("inf"))
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            total_loss += loss.item() * len(labels)
            correct += (logits.argmax(-1) == labels).sum().item()
            seen += len(labels)
        del data
        elapsed = time.time() - t0
        summary = {"loss": total_loss / seen, "acc": correct / seen,
                   "lr": optimizer.param_groups[0]["lr"], "grad_norm": float(grad_norm),
                   "chunks_per_s": seen * world_size / elapsed}
        if margin_scheduler is not None:
            summary["margin"] = margin_scheduler.margin
        if val_items and epoch % config.get("validate_interval", 1) == 0:
            # the bare module: DDP's forward syncs buffers, a collective that would hang
            # when ranks hold different numbers of dev batches
            metrics = validate(model, val_items, config, val_labels, rank, world_size, device)
            summary.update({"dev_eer": metrics["eer"], "dev_min_dcf": metrics["min_dcf"]})
            if better(metrics[best_metric], best):
                best, best_epoch, stale = metrics[best_metric], epoch, 0
                if rank == 0:
                    save_checkpoint({"model": model.state_dict(), "epoch": epoch,
                                     best_metric: best}, os.path.join(args.exp_dir, "models",
                                                                      "best_model.pt"))
            else:
                stale += 1
        save_now = epoch % config.get("save_epoch_interval", 1) == 0 or epoch == num_epochs
        rng_states = dist_utils.all_gather_objects(rng_state()) if save_now else None
        if rank == 0:
            logger.info("epoch %d: %s", epoch,
                        " ".join(f"{k} {v:.4g}" for k, v in summary.items()))
            for k, v in summary.items():
                writer.add_scalar(f"train/{k}" if not k.startswith("dev") else f"dev/{k[4:]}",
                                  v, epoch)
            writer.flush()
            if save_now:
                save_checkpoint({
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                    "epoch": epoch, "rng": rng_states,
                    "best": best, "best_epoch": best_epoch, "stale": stale,
                    "margin": margin_scheduler and margin_scheduler.state_dict(),
                }, os.path.join(args.exp_dir, "models", f"model_{epoch}.pt"))
        if patience >= 0 and stale > patience:
            # every rank computed the same metric from the same gathered scores: same decision
            logger.info("early stop at epoch %d: no %s improvement for %d epochs (best %.4g at "
                        "epoch %d)", epoch, best_metric, stale, best, best_epoch)
            break
    if rank == 0:
        if best_epoch is None:  # no dev set: the last weights are the best we know
            save_checkpoint({"model": model.state_dict(), "epoch": num_epochs},
                            os.path.join(args.exp_dir, "models", "best_model.pt"))
        else:
            logger.info("best %s %.4g at epoch %d", best_metric, best, best_epoch)
        writer.close()
    # DDP's reducer holds the process group: drop it first, so destroying the group joins
    # gloo's threads now and not during interpreter shutdown (a sporadic SIGABRT at exit)
    del ddp_model
    dist_utils.barrier()
    dist_utils.cleanup()


if __name__ == "__main__":
    main()
