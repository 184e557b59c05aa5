"""The detection task's data: training class counts from the list and its utt2lab, and the dev
set, both checked at start-up so that bad data fails before the first epoch."""

import logging
import os
from dataclasses import dataclass

from wedefense.dataset.augment.speed import speed_classes
from wedefense.dataset.dataset import item_durations, read_raw_list, read_train_list
from wedefense.dataset.tables import LABELS, read_labels
from wedefense.metrics.scores_io import find_line
from wedefense.utils import distributed as dist_utils
from wedefense.utils.errors import InputError

logger = logging.getLogger("wedefense.train")


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


def read_training_items(config, args):
    """The training items (a raw list's utterances, or a shard list's tars); sets the config's
    ``classes`` and ``class_counts`` (the prior stage 6 removes)."""
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
    return train_items


def balance_class_counts(config):
    """With ``dataset_args.class_balance`` every class is read as often as the largest, so the
    prior the model sees, and stage 6 removes, is uniform; the list's own counts are kept in
    ``train_class_counts`` (the loader's repeat factors come from them)."""
    if not (config.get("dataset_args") or {}).get("class_balance"):
        return
    counts = config.get("train_class_counts") or config["class_counts"]
    config["train_class_counts"] = list(counts)
    config["class_counts"] = [max(counts)] * len(counts)


def add_speed_classes(config):
    """With ``speed_perturb.as_classes`` each non-unit speed is a copy of every class; counts
    become the expected numbers of chunks per epoch, the prior that stage 6 removes."""
    speed = (config.get("augment") or {}).get("speed_perturb") or {}
    if not (speed.get("as_classes") and speed.get("prob", 0) > 0):
        return
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


@dataclass
class DevSet:
    path: str
    items: list
    labels: dict
    durations: list  # seconds, per item: read once, reused by every validation


def read_dev_set(args, rank, world_size):
    """Dev items, labels and durations, checked before training: every utterance labelled, both
    classes present (EER needs both), every audio header readable (ranks share the reading).
    A collective: all ranks call it."""
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
    return DevSet(os.fspath(args.val_data), items, labels, durations)
