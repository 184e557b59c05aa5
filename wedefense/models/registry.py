"""Build a model from the resolved config: ``model: ResNet18`` plus ``*_args`` sections.

Known names: ``frontend`` in ``FRONTENDS`` (fbank, lfcc, spectrogram, raw), ``model`` in
``BACKBONES`` (ResNet18, ResNet34, LCNN_LSTM, AASIST, AASIST_L, RawNet2),
``projection_args.project_type`` in ``wedefense.models.projections.PROJECTIONS``.
``model_args.feat_dim`` defaults to the front-end's feature dimension; ``mean_norm``
(per-utterance feature mean normalisation) defaults to true, except for the raw-waveform and SSL
front-ends. For ``oc_softmax`` the bona fide column is the position in ``classes`` of the one
class that ``bonafide_classes`` names (default ``bonafide``).

An argument a section does not take (``frontend_args``, ``model_args``,
``model_args.pooling_args``, ``projection_args``) is an :class:`InputError` naming the section and
the keys it accepts.

The SSL front-end (``frontend: ssl``, ``wedefense.frontend.ssl``, needs ``transformers``) gives
all hidden layers and goes only with the SSL back-ends in ``SSL_BACKBONES`` (SSL_MHFA,
SSL_AASIST, SSL_Pool, SSL_SLS_Utt, SSL_Res1D, SSL_Nes2Net, SSL_gMLP); their
``model_args.num_layers`` defaults to the front-end's. SSL_SLS_Utt is the utterance-level SLS
detector (``wedefense.models.sls``); SSL_SLS is the frame-level one for localization.

Localization models (``FRAME_BACKBONES``: FrameCNN on fbank-like front-ends; SSL_FrameMHFA,
SSL_SLS, SSL_MultiReso on ``ssl``) build a :class:`~wedefense.models.frame_model.FrameSpoofModel`
(``task: localization``): ``frame_resolution`` (seconds, default 0.02) sets the output hop and the
backbone's ``time_pool``; ``frame_head`` (``linear``, or ``multireso``, the default for
SSL_MultiReso) and ``frame_head_args`` the head. They take no ``projection_args``.
"""

import inspect

from wedefense.calibration.llr import bonafide_class_names
from wedefense.frontend.fbank import KaldiFbank
from wedefense.frontend.lfcc import LFCC
from wedefense.frontend.spectrogram import LogSpectrogram, RawWaveform
from wedefense.frontend.ssl import SSLFrontend
from wedefense.models import (
    aasist,
    frame_cnn,
    gmlp,
    lcnn,
    mhfa,
    nes2net,
    rawnet2,
    res1d,
    resnet,
    sls,
    ssl_backends,
    ssl_frame_backends,
)
from wedefense.models.frame_model import HEADS, FrameSpoofModel
from wedefense.models.pooling import POOLING
from wedefense.models.projections import build_projection
from wedefense.models.spoof_model import SpoofModel
from wedefense.utils.checkpoint import model_state
from wedefense.utils.config import load_yaml
from wedefense.utils.errors import InputError

BACKBONES = {"ResNet18": resnet.ResNet18, "ResNet34": resnet.ResNet34,
             "LCNN_LSTM": lcnn.LCNN_LSTM, "AASIST": aasist.AASIST, "AASIST_L": aasist.AASIST_L,
             "RawNet2": rawnet2.RawNet2}
SSL_BACKBONES = {"SSL_MHFA": mhfa.MHFA, "SSL_AASIST": ssl_backends.SSLAASIST,
                 "SSL_Pool": ssl_backends.SSLPool, "SSL_SLS_Utt": sls.SLS,
                 "SSL_Res1D": res1d.Res1D, "SSL_Nes2Net": nes2net.Nes2Net,
                 "SSL_gMLP": gmlp.GMLP}
SSL_FRAME_BACKBONES = {"SSL_FrameMHFA": ssl_frame_backends.SSLFrameMHFA,
                       "SSL_SLS": ssl_frame_backends.SSLSLS,
                       "SSL_MultiReso": ssl_frame_backends.SSLFrameProj}
FRAME_BACKBONES = {"FrameCNN": frame_cnn.FrameCNN, **SSL_FRAME_BACKBONES}
SSL_BACKBONES.update(SSL_FRAME_BACKBONES)
BACKBONES.update(SSL_BACKBONES)
BACKBONES["FrameCNN"] = frame_cnn.FrameCNN
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
    if name in FRAME_BACKBONES:
        return _build_frame_model(config, frontend, model_args)
    if config.get("task", "detection") != "detection":
        raise InputError(f"model '{name}' is an utterance-level detector; task "
                         f"'{config['task']}' needs one of {', '.join(sorted(FRAME_BACKBONES))}")
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


def frame_bonafide_index(config):
    """Column of ``bonafide`` among a localization model's two classes (frame labels are
    binary: bona fide or spoof)."""
    classes = list(config["classes"])
    names = bonafide_class_names(config.get("bonafide_classes"))
    if len(classes) != 2 or len(names) != 1 or names[0] not in classes:
        raise InputError(f"a localization model needs two classes, one of them bona fide "
                         f"({names}); got classes {classes}")
    return classes.index(names[0])


def _build_frame_model(config, frontend, model_args):
    name = config["model"]
    if config.get("task", "localization") != "localization":
        raise InputError(f"model '{name}' scores frames: it needs task 'localization', "
                         f"not '{config['task']}'")
    if config.get("projection_args"):
        raise InputError(f"projection_args do not apply to the localization model '{name}' "
                         "(its head is frame_head / frame_head_args)")
    sample_rate = (config.get("dataset_args") or {}).get("sample_rate", 16000)
    resolution = float(config.get("frame_resolution", 0.02))
    hop = resolution * sample_rate
    shift = getattr(frontend, "frame_shift", None)
    if not shift:
        raise InputError(f"model '{name}' needs a framed front-end (fbank, lfcc, spectrogram, "
                         f"ssl), not '{config.get('frontend', 'fbank')}'")
    pool = hop / shift
    if abs(hop - round(hop)) > 1e-6 or pool < 1 or abs(pool - round(pool)) > 1e-6:
        raise InputError(f"frame_resolution {resolution} s is not a whole multiple of the "
                         f"front-end's frame shift ({frontend.frame_shift} samples at "
                         f"{sample_rate} Hz)")
    model_args.setdefault("time_pool", int(round(pool)))
    backbone = BACKBONES[name](**model_args)
    head_name = config.get("frame_head", "multireso" if name == "SSL_MultiReso" else "linear")
    if head_name not in HEADS:
        raise InputError(f"unknown frame_head '{head_name}' (known: {', '.join(HEADS)})")
    head_args = dict(config.get("frame_head_args") or {})
    _check_section("frame_head_args", head_args, HEADS[head_name], skip=("in_dim", "num_classes"))
    head = HEADS[head_name](backbone.embed_dim, len(config["classes"]), **head_args)
    return FrameSpoofModel(frontend, backbone, head, int(round(hop)), frame_bonafide_index(config),
                           mean_norm=config.get("mean_norm", config.get("frontend", "fbank")
                                                not in ("raw", "ssl")))


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


def load_trained_model(config_path, checkpoint_path, device="cpu"):
    """Rebuild the model from an exp dir's config.yaml and load a checkpoint's weights, in
    eval mode."""
    config = load_yaml(config_path)
    model = build_model(config)
    model.load_state_dict(model_state(checkpoint_path))
    return config, model.to(device).eval()
