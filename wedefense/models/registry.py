"""Build a model from the resolved config: ``model: ResNet18`` plus ``*_args`` sections.

Known names: ``frontend`` in ``FRONTENDS`` (fbank, lfcc, spectrogram, raw), ``model`` in
``BACKBONES`` (ResNet18, ResNet34, LCNN_LSTM, AASIST, AASIST_L), ``projection_args.project_type``
in ``wedefense.models.projections.PROJECTIONS``. ``model_args.feat_dim`` defaults to the
front-end's feature dimension; ``mean_norm`` (per-utterance feature mean normalisation) defaults
to true, except for the raw-waveform and SSL front-ends. For ``oc_softmax`` the bona fide column
is the position of ``bonafide`` in ``classes``.

The SSL front-end (``frontend: ssl``, ``wedefense.frontend.ssl``, needs ``transformers``) gives
all hidden layers and goes only with the SSL back-ends in ``SSL_BACKBONES`` (SSL_MHFA,
SSL_AASIST, SSL_Pool); their ``model_args.num_layers`` defaults to the front-end's.
"""

from wedefense.frontend.fbank import KaldiFbank
from wedefense.frontend.lfcc import LFCC
from wedefense.frontend.spectrogram import LogSpectrogram, RawWaveform
from wedefense.frontend.ssl import SSLFrontend
from wedefense.models import aasist, lcnn, mhfa, resnet, ssl_backends
from wedefense.models.detector import SpoofDetector
from wedefense.models.projections import build_projection
from wedefense.utils.checkpoint import model_state
from wedefense.utils.config import load_yaml

BACKBONES = {"ResNet18": resnet.ResNet18, "ResNet34": resnet.ResNet34,
             "LCNN_LSTM": lcnn.LCNN_LSTM, "AASIST": aasist.AASIST, "AASIST_L": aasist.AASIST_L}
SSL_BACKBONES = {"SSL_MHFA": mhfa.MHFA, "SSL_AASIST": ssl_backends.SSLAASIST,
                 "SSL_Pool": ssl_backends.SSLPool}
BACKBONES.update(SSL_BACKBONES)
FRONTENDS = {"fbank": KaldiFbank, "lfcc": LFCC, "spectrogram": LogSpectrogram,
             "raw": RawWaveform, "ssl": SSLFrontend}


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
    frontend = FRONTENDS[frontend_name](**config.get("frontend_args", {}))
    model_args = dict(config.get("model_args", {}))
    model_args.setdefault("feat_dim", frontend.feature_dim)
    if ssl:
        model_args.setdefault("num_layers", frontend.num_layers)
    backbone = BACKBONES[name](**model_args)
    classes = list(config["classes"])
    projection_args = dict(config.get("projection_args", {}))
    if projection_args.get("project_type") == "oc_softmax" and "bonafide" in classes:
        projection_args.setdefault("bonafide_index", classes.index("bonafide"))
    projection = build_projection(backbone.embed_dim, len(classes), **projection_args)
    return SpoofDetector(frontend, backbone, projection,
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
