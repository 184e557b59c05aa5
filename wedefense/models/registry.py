"""Build a model from the resolved config: ``model: ResNet18`` plus ``*_args`` sections.

Known names: ``frontend`` in ``FRONTENDS`` (fbank, lfcc, spectrogram, raw), ``model`` in
``BACKBONES`` (ResNet18, ResNet34, LCNN_LSTM, AASIST, AASIST_L), ``projection_args.project_type``
in ``wedefense.models.projections.PROJECTIONS``. ``model_args.feat_dim`` defaults to the
front-end's feature dimension; ``mean_norm`` (per-utterance feature mean normalisation) defaults
to true, except for the raw-waveform and SSL front-ends. For ``oc_softmax`` the bona fide column
is the position in ``classes`` of the one class that ``bonafide_classes`` names (default
``bonafide``).

An argument a section does not take (``frontend_args``, ``model_args``,
``model_args.pooling_args``, ``projection_args``) is an :class:`InputError` naming the section and
the keys it accepts.

The SSL front-end (``frontend: ssl``, ``wedefense.frontend.ssl``, needs ``transformers``) gives
all hidden layers and goes only with the SSL back-ends in ``SSL_BACKBONES`` (SSL_MHFA,
SSL_AASIST, SSL_Pool); their ``model_args.num_layers`` defaults to the front-end's.
"""

import inspect

from wedefense.calibration.llr import bonafide_class_names
from wedefense.frontend.fbank import KaldiFbank
from wedefense.frontend.lfcc import LFCC
from wedefense.frontend.spectrogram import LogSpectrogram, RawWaveform
from wedefense.frontend.ssl import SSLFrontend
from wedefense.models import aasist, lcnn, mhfa, resnet, ssl_backends
from wedefense.models.pooling import POOLING
from wedefense.models.projections import build_projection
from wedefense.models.spoof_model import SpoofModel
from wedefense.utils.checkpoint import model_state
from wedefense.utils.config import load_yaml
from wedefense.utils.errors import InputError

BACKBONES = {"ResNet18": resnet.ResNet18, "ResNet34": resnet.ResNet34,
             "LCNN_LSTM": lcnn.LCNN_LSTM, "AASIST": aasist.AASIST, "AASIST_L": aasist.AASIST_L}
SSL_BACKBONES = {"SSL_MHFA": mhfa.MHFA, "SSL_AASIST": ssl_backends.SSLAASIST,
                 "SSL_Pool": ssl_backends.SSLPool}
BACKBONES.update(SSL_BACKBONES)
FRONTENDS = {"fbank": KaldiFbank, "lfcc": LFCC, "spectrogram": LogSpectrogram,
             "raw": RawWaveform, "ssl": SSLFrontend}
# builders that pass their keyword arguments on to a class: the class's signature is theirs,
# less the arguments the builder sets itself
_SIGNATURE_OF = {resnet.ResNet18: (resnet.ResNet, ("num_blocks",)),
                 resnet.ResNet34: (resnet.ResNet, ("num_blocks",)),
                 aasist.AASIST_L: (aasist.AASIST, ())}


def _keywords(builder, skip=()):
    """The keyword arguments ``builder`` takes, less ``skip``; None if it takes any."""
    builder, fixed = _SIGNATURE_OF.get(builder, (builder, ()))
    target = builder.__init__ if inspect.isclass(builder) else builder
    names = []
    for name, param in inspect.signature(target).parameters.items():
        if param.kind == param.VAR_KEYWORD:
            return None
        if (name != "self" and name not in skip and name not in fixed
                and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)):
            names.append(name)
    return names


def _check_section(section, args, builder, skip=()):
    """An :class:`InputError` for a key of config section ``section`` that ``builder`` does not
    take, rather than a TypeError naming a Python class."""
    accepted = _keywords(builder, skip)
    unknown = [key for key in args if accepted is not None and key not in accepted]
    if unknown:
        raise InputError(f"{section}: unknown argument(s) {', '.join(map(repr, unknown))} for "
                         f"{getattr(builder, '__name__', builder)}; accepted: "
                         f"{', '.join(accepted) or 'none'}")


def _check_pooling_args(model_args, backbone):
    """``model_args.pooling_args`` against the pooling layer that ``model_args.pooling`` (or the
    backbone's default) names; an unknown pooling name is left to the backbone to report."""
    pooling_args = model_args.get("pooling_args")
    if not pooling_args:
        return
    if not isinstance(pooling_args, dict):
        raise InputError(f"model_args.pooling_args must be a mapping, got {pooling_args!r}")
    target, _ = _SIGNATURE_OF.get(backbone, (backbone, ()))
    params = inspect.signature(target.__init__ if inspect.isclass(target) else target).parameters
    name = model_args.get("pooling", params["pooling"].default if "pooling" in params else None)
    if name in POOLING:
        _check_section("model_args.pooling_args", pooling_args, POOLING[name], skip=("in_dim",))


def oc_softmax_bonafide_index(config, classes):
    """The column of the one bona fide class (``bonafide_classes``, default ``bonafide``) for
    an ``oc_softmax`` head; an :class:`InputError` unless there is exactly one, among
    ``classes``."""
    names = bonafide_class_names(config.get("bonafide_classes"))
    if len(names) != 1:
        raise InputError(f"oc_softmax is a one-class objective: it needs exactly one bona fide "
                         f"class, but bonafide_classes names {len(names)}: {list(names)}")
    if names[0] not in classes:
        raise InputError(f"oc_softmax: the bona fide class '{names[0]}' (bonafide_classes) is "
                         f"not among the classes {classes}")
    return classes.index(names[0])


def build_model(config):
    """``config`` keys: frontend, frontend_args, model, model_args, projection_args, classes."""
    frontend_name = config.get("frontend", "fbank")
    if frontend_name not in FRONTENDS:
        raise ValueError(f"unknown frontend '{frontend_name}' (known: {', '.join(FRONTENDS)})")
    name = config["model"]
    if name not in BACKBONES:
        raise ValueError(f"unknown model '{name}' (known: {', '.join(sorted(BACKBONES))})")
    ssl = frontend_name == "ssl"
    if ssl != (name in SSL_BACKBONES):
        raise ValueError(f"model '{name}' does not take frontend '{frontend_name}': the 'ssl' "
                         f"front-end goes with {', '.join(sorted(SSL_BACKBONES))} and only there")
    if ssl and config.get("mean_norm"):
        raise ValueError("mean_norm does not apply to the 'ssl' front-end (set it false)")
    frontend_args = config.get("frontend_args") or {}
    _check_section("frontend_args", frontend_args, FRONTENDS[frontend_name])
    frontend = FRONTENDS[frontend_name](**frontend_args)
    model_args = dict(config.get("model_args") or {})
    _check_section("model_args", model_args, BACKBONES[name])
    _check_pooling_args(model_args, BACKBONES[name])
    model_args.setdefault("feat_dim", frontend.feature_dim)
    if ssl:
        model_args.setdefault("num_layers", frontend.num_layers)
    backbone = BACKBONES[name](**model_args)
    classes = list(config["classes"])
    projection_args = dict(config.get("projection_args") or {})
    if projection_args.get("project_type") == "oc_softmax":
        index = oc_softmax_bonafide_index(config, classes)
        if projection_args.setdefault("bonafide_index", index) != index:
            raise InputError(f"projection_args.bonafide_index {projection_args['bonafide_index']}"
                             f" is not the column of the bona fide class '{classes[index]}' "
                             f"({index})")
    # build_projection reports an argument the head does not take (InputError)
    projection = build_projection(backbone.embed_dim, len(classes), **projection_args)
    return SpoofModel(frontend, backbone, projection,
                         mean_norm=config.get("mean_norm", frontend_name not in ("raw", "ssl")))


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


def load_trained_model(config_path, checkpoint_path, device="cpu"):
    """Rebuild the model from an exp dir's config.yaml and load a checkpoint's weights, in
    eval mode."""
    config = load_yaml(config_path)
    model = build_model(config)
    model.load_state_dict(model_state(checkpoint_path))
    return config, model.to(device).eval()
