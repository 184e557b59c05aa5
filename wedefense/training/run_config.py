"""The run's config: the YAML with its overrides, checked before anything is written, completed
with what later stages need (classes, class counts, data paths) and the world-size lr scaling."""

import os

from wedefense.training.task import build_task
from wedefense.utils.config import load_config
from wedefense.utils.errors import InputError

LR_SCALING = {"none": lambda n: 1.0, "linear": float, "sqrt": lambda n: n ** 0.5}


def resolve_config(args, overrides):
    """``(task, config, training items)``; raises ``InputError`` for a bad config or bad data."""
    config = load_config(args.config, overrides)
    task = build_task(config)
    check_training_options(config, task)
    pretrained = (config.get("frontend_args") or {}).get("pretrained")
    if isinstance(pretrained, str) and os.path.isdir(pretrained):
        # a local SSL checkpoint, usually given relative to the recipe: later stages may run
        # elsewhere (the In-the-Wild recipe scores models of other recipes)
        config["frontend_args"]["pretrained"] = os.path.abspath(pretrained)
    train_items = task.read_training_items(config, args)
    config["data"] = {"train_data": os.path.abspath(args.train_data),
                      "train_label": os.path.abspath(args.train_label),
                      "val_data": args.val_data and os.path.abspath(args.val_data),
                      "val_label": args.val_label and os.path.abspath(args.val_label),
                      "data_type": args.data_type}
    task.complete_config(config)
    return task, config, train_items


def check_training_options(config, task):
    """Options only validation reads fail here, at start-up, not after the first epoch."""
    metric = config.get("best_metric", "eer")
    if metric not in task.metrics:
        raise InputError(f"best_metric '{metric}' is not one of {', '.join(task.metrics)}")
    options = config.get("validation_args") or {}
    if not isinstance(options, dict):
        raise InputError("validation_args must be a mapping of option: value")
    for key in options:
        if key not in task.validation_options:
            raise InputError(f"unknown validation_args key '{key}' (known: "
                             f"{', '.join(task.validation_options)})")
    for key in ("validate_interval", "save_epoch_interval"):
        value = config.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{key} must be a positive integer, got {value!r}")
    patience = config.get("early_stop_patience", -1)
    if isinstance(patience, bool) or not isinstance(patience, int):
        raise InputError(f"early_stop_patience must be an integer, got {patience!r}")


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
