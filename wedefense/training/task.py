"""The training task, chosen by the config's ``task`` key (default ``detection``).

The trainer owns what every task shares (config, distributed set-up, optimiser and scheduler,
checkpoints, early stopping, logging); a task owns what differs. A task is an object with:

- ``name``; ``metrics``: its dev metric names, all lower-is-better (``best_metric`` picks one);
  ``validation_options``: the keys ``validation_args`` may hold;
- ``read_training_items(config, args)`` -> items, setting the config keys the model needs
  (detection: ``classes``, ``class_counts``); ``complete_config(config)``: keys derived after
  the data paths are recorded;
- ``read_dev_set(args, rank, world_size)`` -> an object only the task reads (a collective);
  ``check_dev_set(dev, model, config)``: raise ``InputError`` before the first epoch;
- ``train_loader(items, config, rank, world_size)`` -> ``(dataset, loader)``, the dataset with
  ``set_epoch``; ``num_train_utterances(items, config, data_type)`` (sets the epoch length);
- ``train_step(model, ddp_model, batch, device, config)`` -> ``(loss, count, correct)``: the
  loss of one loader batch in its own format (detection: ``(wavs, labels)``; localization:
  ``(wavs, lengths, frame_labels)``), not yet backpropagated;
- ``validate(model, dev, config, rank, world_size, device)`` -> ``{metric: value}``, the same
  on every rank (a collective).
"""

from wedefense.utils.errors import InputError


def _detection():
    from wedefense.training.detection import DetectionTask
    return DetectionTask()


# name -> factory; imported lazily so a task's dependencies load only when it is used
TASKS = {"detection": _detection}


def build_task(config):
    name = config.get("task", "detection")
    if name not in TASKS:
        raise InputError(f"unknown task '{name}' (known: {', '.join(TASKS)})")
    return TASKS[name]()
