"""The training config's keys, declared once: type, range, default and meaning of each.

:func:`wedefense.utils.config.load_config` checks every config against :data:`SCHEMA` before
any work starts; ``train.py --help`` (:func:`schema_help`) and the README's "Config keys" table
(:func:`schema_markdown`) are rendered from it.

To add a key, add one :class:`Key` to :data:`SCHEMA` (or to a section's ``keys``). A section
whose keys are a class's constructor arguments (``model_args``, ``frontend_args``, ...) names
that class with ``signature``; its keys are then the class's keyword arguments, typed by their
defaults, so the code stays the single source of truth for them.
"""

import difflib
import inspect
import re
from dataclasses import dataclass

from wedefense.training.task import TASKS
from wedefense.utils.errors import InputError


@dataclass(frozen=True)
class Key:
    """One config key. ``kind``: int, float (any number), bool, str, list, list[int],
    list[float], list[str], mapping or any; ``|null`` also allows null. ``bounds``: ``>0``,
    ``>=0``, ``>=1``, ``[0,1]`` ... (numbers, and the items of numeric lists). ``choices``: the
    allowed values, or a function returning them (imported lazily). ``keys``: the keys of a
    nested section; ``signature(config) -> (callable, names to skip, extra bounds)`` instead
    takes them from a callable's keyword arguments; ``extra`` adds keys to those. ``saved``:
    written by training into the experiment's config.yaml."""

    name: str
    kind: str
    default: object = None
    doc: str = ""
    bounds: str = ""
    choices: object = ()
    keys: tuple = ()
    signature: object = None
    extra: tuple = ()
    saved: bool = False
    open: bool = False  # a mapping whose keys are free (e.g. noise types)


# keyword arguments typed by their defaults get a range from their name
_NAME_BOUNDS = ((re.compile(r"(^num_|^n_|_dims?$|channels$|_size$|_heads$|_filters$|_kernel$"
                            r"|_bins$|_ceps$|_layers$|_queries$)"), ">=1"),
                (re.compile(r"(dropout|^prob$|_prob$)"), "[0,1]"),
                (re.compile(r"(_ms$|^sample_rate$)"), ">0"))


def _backbone(config):
    from wedefense.models.registry import _SIGNATURE_OF, BACKBONES
    builder = BACKBONES.get(config.get("model"))
    if builder is None:
        return None
    target, fixed = _SIGNATURE_OF.get(builder, (builder, ()))
    return target, fixed, {}


def _frontend(config):
    from wedefense.models.registry import FRONTENDS
    cls = FRONTENDS.get(config.get("frontend", "fbank"))
    return None if cls is None else (cls, (), {})


def _pooling(config):
    from wedefense.models.pooling import POOLING
    from wedefense.models.registry import _SIGNATURE_OF, BACKBONES
    model_args = config.get("model_args") or {}
    name = model_args.get("pooling")
    if name is None:  # the backbone's default pooling
        builder = BACKBONES.get(config.get("model"))
        target = _SIGNATURE_OF.get(builder, (builder,))[0]
        param = None if target is None else inspect.signature(target).parameters.get("pooling")
        name = None if param is None else param.default
    cls = POOLING.get(name)
    return None if cls is None else (cls, ("in_dim",), {})


def _projection(config):
    from wedefense.models.projections import PROJECTIONS, head_arguments, head_class
    project_type = (config.get("projection_args") or {}).get("project_type", "linear")
    if project_type not in PROJECTIONS:
        return None
    accepted = set(head_arguments(project_type))
    cls = head_class(project_type)
    skip = tuple(n for n in inspect.signature(cls).parameters if n not in accepted)
    return cls, skip, {"scale": ">0", "margin": ">=0", "alpha": ">0"}


def _optimizer(config):
    import torch
    cls = getattr(torch.optim, str(config.get("optimizer", "Adam")), None)
    if not (inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer)):
        return None
    return cls, ("params",), {"lr": ">=0", "eps": ">=0", "weight_decay": ">=0",
                              "momentum": "[0,1]", "dampening": "[0,1]", "betas": "[0,1]"}


def _scheduler(config):
    from wedefense.utils.schedulers import lr_multiplier
    return lr_multiplier, ("name", "total_steps", "warmup_steps"), {"final_ratio": ">=0"}


def _margin_scheduler(config):
    from wedefense.models.margin_scheduler import MarginScheduler
    return MarginScheduler, ("head",), {"final_margin": ">=0", "initial_margin": ">=0",
                                        "increase_start_epoch": ">=0", "fix_start_epoch": ">=0"}


def _spec_augment(config):
    from wedefense.dataset.augment.spec_augment import SpecAugment
    return SpecAugment, (), {"max_time_mask": ">=0", "max_freq_mask": ">=0",
                             "num_time_masks": ">=0", "num_freq_masks": ">=0"}


def _validation(config):
    from wedefense.dataset.loader import utterance_loader
    return utterance_loader, ("items", "sample_rate", "num_workers", "rank", "world_size",
                              "durations"), {"max_batch_seconds": ">0"}


def _frame_head(config):
    from wedefense.models.frame_model import HEADS
    name = config.get("frame_head") or ("multireso" if config.get("model") == "SSL_MultiReso"
                                        else "linear")
    cls = HEADS.get(name)
    return None if cls is None else (cls, ("in_dim", "num_classes"), {})


def _frame_head_names():
    from wedefense.models.frame_model import HEADS
    return tuple(HEADS)


def _model_names():
    from wedefense.models.registry import BACKBONES
    return tuple(BACKBONES)


def _frontend_names():
    from wedefense.models.registry import FRONTENDS
    return tuple(FRONTENDS)


def _projection_names():
    from wedefense.models.projections import PROJECTIONS
    return tuple(PROJECTIONS)


def _optimizer_names():
    import torch
    return tuple(sorted(n for n, c in vars(torch.optim).items()
                        if inspect.isclass(c) and issubclass(c, torch.optim.Optimizer)
                        and c is not torch.optim.Optimizer))


def _rawboost_keys():
    from wedefense.dataset.augment.rawboost import DEFAULTS
    def kind(v):
        item = "int" if isinstance(v, int) or isinstance(v, list) and isinstance(v[0], int) \
            else "float"
        return f"list[{item}]" if isinstance(v, list) else item
    return tuple(Key(name, kind(v), v,
                     "RawBoost parameter (see wedefense/dataset/augment/rawboost.py)",
                     bounds="" if name in ("gain_db", "bias_db", "snr_db") else ">=0")
                 for name, v in DEFAULTS.items())


_PROB = Key("prob", "float", 0.0, "probability of applying it to an example", "[0,1]")

SCHEMA = (
    # data
    Key("classes", "list[str]|null", None, "class names, in logit order; default: the labels "
        "found in the training data, sorted"),
    Key("bonafide_classes", "any", ["bonafide"], "the bona fide class name(s): a name or a list"),
    Key("dataset_args", "mapping", {}, "training examples", keys=(
        Key("sample_rate", "int", 16000, "audio sample rate (Hz)", ">0"),
        Key("chunk_len", "float", 3.0, "seconds of audio per training example", ">0"),
        Key("min_duration", "float", 0.0, "skip shorter utterances (s)", ">=0"),
        Key("max_duration", "float", float("inf"), "skip longer utterances (s)", ">0"),
        Key("shuffle_size", "int|null", None, "shuffle buffer of shard examples", ">=1"),
        Key("class_balance", "bool", False, "oversample every class to the largest one's "
            "count (for imbalanced protocols); the prior stage 6 removes becomes uniform"),
        Key("whole_utterance", "bool", False, "train on whole utterances (cropped to chunk_len "
            "s at most, never repeated) in batches of similar length (a length sampler)"),
        Key("pool_batches", "int", 8, "whole_utterance: batches whose utterances are sorted by "
            "length together", ">=1"),
    )),
    Key("dataloader_args", "mapping", {}, "training DataLoader", keys=(
        Key("batch_size", "int", 32, "examples per batch and rank", ">=1"),
        Key("num_workers", "int", 1, "loader processes per rank", ">=0"),
        Key("pin_memory", "bool", False, "page-locked batches (GPU)"),
        Key("prefetch_factor", "int", 4, "batches loaded ahead per worker", ">=1"),
    )),
    Key("validation_args", "mapping|null", {}, "dev-set batching: keyword arguments of "
        "wedefense.dataset.loader.utterance_loader",
        signature=_validation),
    Key("augment", "mapping|null", {}, "waveform augmentation; each kind optional, prob 0 = off",
        keys=(
            Key("speed_perturb", "mapping|null", None, "speed perturbation", keys=(
                _PROB, Key("speeds", "list[float]", [0.9, 1.0, 1.1], "speeds", ">0"),
                Key("as_classes", "bool", False, "each speed is its own copy of every class"))),
            Key("reverb", "mapping|null", None, "convolve with a room impulse response", keys=(
                _PROB, Key("rir_scp", "str", None, "wav.scp of impulse responses"))),
            Key("noise", "mapping|null", None, "additive noise", keys=(
                _PROB, Key("noise_scp", "str|null", None, "wav.scp of noises"),
                Key("types", "mapping|null", None, "per noise type: snr [lo, hi], count "
                    "[lo, hi]", open=True))),
            Key("rawboost", "mapping|null", None, "RawBoost (Tak et al. 2022)", keys=(
                _PROB, Key("algo", "int", 5, "RawBoost configuration 1..8", "[1,8]")),
                extra=_rawboost_keys),
            Key("codec", "mapping|null", None, "codec simulation", keys=(
                _PROB, Key("codecs", "list[str]|null", None, "codec names (default: all)"))),
        )),
    Key("spec_augment", "mapping|null", None, "SpecAugment masks: keyword arguments of "
        "wedefense.dataset.augment.spec_augment.SpecAugment",
        signature=_spec_augment),
    # model
    Key("frontend", "str", "fbank", "waveform -> features", choices=_frontend_names),
    Key("frontend_args", "mapping|null", {}, "keyword arguments of the `frontend` class",
        signature=_frontend),
    Key("mean_norm", "bool", None, "per-utterance feature mean normalisation (default: true "
        "except raw and ssl front-ends)"),
    Key("model", "str", None, "backbone", choices=_model_names),
    Key("model_args", "mapping|null", {}, "keyword arguments of the `model` class",
        signature=_backbone, keys=(
            Key("pooling_args", "mapping|null", None, "keyword arguments of the pooling layer",
                signature=_pooling),)),
    Key("projection_args", "mapping|null", {}, "the head: project_type plus its keyword arguments",
        signature=_projection, keys=(
            Key("project_type", "str", "linear", "head type", choices=_projection_names),)),
    # optimisation
    Key("optimizer", "str", "Adam", "a torch.optim class", choices=_optimizer_names),
    Key("optimizer_args", "mapping", {"lr": 1e-3}, "keyword arguments of the `optimizer` class",
        signature=_optimizer),
    Key("lr_scaling", "str", "none", "lr x f(world size), applied and logged",
        choices=("none", "linear", "sqrt")),
    Key("frontend_lr_ratio", "float", 1.0, "front-end lr = lr x this", ">=0"),
    Key("frozen_frontend_steps", "int", 0, "steps the front-end stays frozen", ">=0"),
    Key("scheduler", "str", "exponential", "lr schedule",
        choices=("exponential", "cosine", "constant")),
    Key("scheduler_args", "mapping|null", {}, "warmup_epochs plus keyword arguments of "
        "wedefense.utils.schedulers.lr_multiplier",
        signature=_scheduler, keys=(
            Key("warmup_epochs", "float", 0, "linear warm-up (epochs)", ">=0"),)),
    Key("margin_scheduler_args", "mapping|null", None, "margin schedule (absent: none): keyword "
        "arguments of wedefense.models.margin_scheduler.MarginScheduler",
        signature=_margin_scheduler),
    Key("grad_clip", "float", 0, "gradient norm clip (0: off)", ">=0"),
    Key("amp", "any", None, "mixed precision on GPU", choices=(None, False, "none", "bf16",
                                                               "fp16")),
    Key("channels_last", "bool", False, "NHWC convolutions (GPU and CPU)"),
    Key("compile", "bool", False, "torch.compile the training forward"),
    Key("task", "str", "detection", "what is trained (wedefense.training.task.TASKS)",
        choices=tuple(TASKS)),
    # localization (task: localization; wedefense/training/localization.py)
    Key("frame_resolution", "float", 0.02, "localization: seconds per output frame and label "
        "segment (a whole multiple of the front-end's frame shift)", ">0"),
    Key("frame_head", "str|null", None, "localization: frame head (default linear; multireso "
        "for SSL_MultiReso)", choices=_frame_head_names),
    Key("frame_head_args", "mapping|null", {}, "keyword arguments of the frame head class",
        signature=_frame_head),
    Key("loss_args", "mapping|null", {}, "localization loss weights", keys=(
        Key("frame_weight", "float", 1.0, "frame cross-entropy (padding ignored)", ">=0"),
        Key("branch_weight", "float", 1.0, "each coarser multi-resolution branch", ">=0"),
        Key("utterance_weight", "float", 0.0, "utterance cross-entropy", ">=0"))),
    # schedule of the run
    Key("seed", "int", 42, "random seed (plus the rank)"),
    Key("num_epochs", "int", 10, "training epochs", ">=1"),
    Key("save_epoch_interval", "int", 1, "save a checkpoint every n epochs", ">=1"),
    Key("validate_interval", "int", 1, "validate every n epochs", ">=1"),
    Key("early_stop_patience", "int", -1, "epochs without dev improvement; negative: off"),
    Key("best_metric", "str", "eer", "dev metric that picks the best model (lower is better)",
        choices=("eer", "min_dcf", "act_dcf", "cllr", "segment_eer", "utterance_eer")),
    # written by training into exp/<name>/config.yaml
    Key("class_counts", "list[float]", None, "training examples per class", ">=0", saved=True),
    Key("train_class_counts", "list[float]", None, "with class_balance: utterances per class "
        "in the training list", ">=0", saved=True),
    Key("frame_class_counts", "list[float]", None, "localization: training frames per class at "
        "frame_resolution", ">=0", saved=True),
    Key("data_classes", "list[str]", None, "the labels in the data (speed classes)",
        saved=True),
    Key("data", "mapping", None, "the training and dev lists", saved=True, keys=(
        Key("train_data", "str", None, "training list"),
        Key("train_label", "str", None, "training labels"),
        Key("val_data", "str|null", None, "dev list"),
        Key("val_label", "str|null", None, "dev labels"),
        Key("data_type", "str", None, "raw or shard", choices=("raw", "shard")))),
    Key("lr_scaling_applied", "mapping", None, "the lr scaling done", saved=True, keys=(
        Key("rule", "str", None, "lr_scaling rule"),
        Key("world_size", "int", None, "ranks", ">=1"),
        Key("base_lr", "float", None, "lr before scaling", ">=0"))),
)


# --- checking ---------------------------------------------------------------------------------

_TYPE_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false",
               "str": "a string", "list": "a list", "mapping": "a mapping of key: value",
               "list[int]": "a list of integers", "list[float]": "a list of numbers",
               "list[str]": "a list of strings"}


def _is(value, kind):
    if kind == "any":
        return True
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "mapping":
        return isinstance(value, dict)
    if kind.startswith("list"):
        item = kind[5:-1] if kind != "list" else "any"
        return isinstance(value, (list, tuple)) and all(_is(v, item) for v in value)
    raise ValueError(f"schema: unknown kind {kind!r}")


def _within(value, bounds):
    m = re.fullmatch(r"\[(.+),(.+)\]|(>=|>)(.+)", bounds)
    if m.group(1) is not None:
        return float(m.group(1)) <= value <= float(m.group(2))
    limit = float(m.group(4))
    return value >= limit if m.group(3) == ">=" else value > limit


def _kind_of(param):
    """A keyword argument's kind: its annotation if a plain type, else its default's (an
    integer default takes any number: ``weight_decay=0`` means 0.0 as well)."""
    plain = {bool: "bool", int: "int", float: "float", str: "str"}
    if param.annotation in plain:
        return plain[param.annotation]
    d = param.default
    if d is param.empty or d is None:
        return "any"
    if isinstance(d, bool):
        return "bool"
    if isinstance(d, (int, float)):
        return "float"
    if isinstance(d, str):
        return "str"
    return "list" if isinstance(d, (list, tuple)) else "any"


def _signature_keys(section, config):
    """The keys of a signature section for this config, or None if any key goes (the class is
    unknown, which another check reports, or takes **kwargs)."""
    resolved = section.signature(config)
    if resolved is None:
        return None
    target, skip, bounds = resolved
    keys = {}
    for name, p in inspect.signature(target).parameters.items():
        if p.kind == p.VAR_KEYWORD:
            return None
        if name in skip or name == "self" or p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        kind = _kind_of(p)
        d = p.default
        bound = bounds.get(name, "")
        if not bound and kind in ("int", "float", "list"):
            bound = next((b for pattern, b in _NAME_BOUNDS if pattern.search(name)), "")
        keys[name] = Key(name, kind if kind == "any" else kind + "|null" * (d is None), d,
                         bounds=bound)
    return keys


def section_keys(section, config):
    """``({name: Key}, open)`` of a nested section: its known keys, and whether others may
    appear too (a free mapping, or a class that is unknown, which another check reports, or
    takes ``**kwargs``)."""
    keys, free = {}, section.open
    if section.signature is not None:
        found = _signature_keys(section, config)
        free = free or found is None
        keys.update(found or {})
    extra = section.extra() if callable(section.extra) else section.extra
    keys.update({k.name: k for k in (*section.keys, *extra)})
    return keys, free


def check_config(config, locate):
    """Raise :class:`InputError` for the first unknown key or bad value of ``config``.

    ``locate(path) -> (prefix, path, line)`` says where a dotted ``path`` came from: the
    config file and line, or the override that set it."""
    _check_section(config, ({k.name: k for k in SCHEMA}, False), config, (), locate)


def _fail(locate, path, message):
    prefix, file, line = locate(path)
    raise InputError(prefix + message, file, line)


def _check_section(values, known, config, path, locate):
    keys, free = known
    for name, value in values.items():
        here = (*path, str(name))
        key = keys.get(name)
        if key is None and free:
            continue
        if key is None:
            close = difflib.get_close_matches(str(name), list(keys), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else \
                f"; known: {', '.join(sorted(keys))}"
            _fail(locate, here, f"unknown key '{'.'.join(here)}'{hint}")
        _check_value(key, value, config, here, locate)


def _check_value(key, value, config, path, locate):
    dotted = ".".join(path)
    kinds = key.kind.split("|")
    if value is None and ("null" in kinds or key.kind == "any"):
        if key.choices and not callable(key.choices) and None not in key.choices:
            _fail(locate, path, f"{dotted} must be one of {_choices_text(key)}, got null")
        return
    kind = kinds[0]
    if not _is(value, kind):
        _fail(locate, path, f"{dotted} must be {_TYPE_WORDS.get(kind, kind)}"
              f"{_bounds_text(key.bounds)}, got {value!r}")
    choices = key.choices() if callable(key.choices) else key.choices
    if choices and not any(value == c and type(value) is type(c) for c in choices):
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        _fail(locate, path, f"{dotted} must be one of {_choices_text(key)}, got "
              f"{value!r}{hint}")
    if key.bounds:
        numbers = value if isinstance(value, (list, tuple)) else [value]
        for number in numbers:
            if isinstance(number, (int, float)) and not isinstance(number, bool) \
                    and not _within(number, key.bounds):
                _fail(locate, path, f"{dotted} must be{_bounds_text(key.bounds)}, got "
                      f"{value!r}")
    if kind == "mapping":
        _check_section(value, section_keys(key, config), config, path, locate)


def _bounds_text(bounds):
    """``[0,1]`` -> `` in [0, 1]``, ``>=1`` -> `` >= 1``."""
    if not bounds:
        return ""
    if bounds.startswith("["):
        return " in " + bounds.replace(",", ", ")
    return " " + re.sub(r"^(>=|>)", r"\1 ", bounds)


def _choices_text(key):
    choices = key.choices() if callable(key.choices) else key.choices
    return ", ".join("null" if c is None else str(c).lower() if isinstance(c, bool) else str(c)
                     for c in choices)


# --- documentation ----------------------------------------------------------------------------

def _rows():
    """(key, type, default, meaning) for each declared key, nested ones dotted."""
    def walk(keys, prefix):
        for key in keys:
            name = prefix + key.name
            kind = key.kind.replace("|null", " or null")
            if key.bounds:
                kind += f", {key.bounds}"
            doc = key.doc
            if key.choices:
                doc += f" ({_choices_text(key)})"
            if key.saved:
                doc += " [written by training]"
            default = "" if key.default is None or key.saved else repr(key.default)
            yield name, kind, default, doc
            if not key.signature:
                extra = key.extra() if callable(key.extra) else key.extra
                yield from walk((*key.keys, *extra), name + ".")
            else:
                yield from walk(key.keys, name + ".")
    return list(walk(SCHEMA, ""))


def schema_markdown():
    """The config keys as a Markdown table (the README's "Config keys")."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{n}` | {t} | {f'`{d}`' if d else ''} | {doc} |" for n, t, d, doc in _rows()]
    return "\n".join(lines) + "\n"


def schema_help():
    """The config keys as plain text, for an entry script's ``--help`` epilog."""
    rows = _rows()
    width = max(len(n) for n, *_ in rows)
    lines = ["config keys (override any with --key value, nested: --section.key value):"]
    for name, kind, default, doc in rows:
        lines.append(f"  {name:<{width}}  {kind}{f' = {default}' if default else ''}: {doc}")
    return "\n".join(lines)


if __name__ == "__main__":  # regenerate the README table: python -m wedefense.utils.config_schema
    print(schema_markdown(), end="")
