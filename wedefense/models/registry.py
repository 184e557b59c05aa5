"""Build a model from the resolved config: ``model: ResNet18`` plus ``*_args`` sections.

Known names: ``frontend`` in ``FRONTENDS`` (fbank, lfcc, spectrogram, raw), ``model`` in
``BACKBONES`` (ResNet18, ResNet34, LCNN_LSTM, AASIST, AASIST_L), ``projection_args.project_type``
in ``wedefense.models.projections.PROJECTIONS``. ``model_args.feat_dim`` defaults to the
front-end's feature dimension; ``mean_norm`` (per-utterance feature mean normalisation) defaults
to true, except for the raw-waveform front-end. For ``oc_softmax`` the bona fide column is the
position of ``bonafide`` in ``classes``.
"""

from wedefense.frontend.fbank import KaldiFbank
from wedefense.frontend.lfcc import LFCC
from wedefense.frontend.spectrogram import LogSpectrogram, RawWaveform
from wedefense.models import aasist, lcnn, resnet
from wedefense.models.detector import SpoofDetector
from wedefense.models.projections import build_projection
from wedefense.utils.checkpoint import model_state
from wedefense.utils.config import load_yaml

BACKBONES = {"ResNet18": resnet.ResNet18, "ResNet34": resnet.ResNet34,
             "LCNN_LSTM": lcnn.LCNN_LSTM, "AASIST": aasist.AASIST, "AASIST_L": aasist.AASIST_L}
FRONTENDS = {"fbank": KaldiFbank, "lfcc": LFCC, "spectrogram": LogSpectrogram,
             "raw": RawWaveform}


def build_model(config):
    """``config`` keys: frontend, frontend_args, model, model_args, projection_args, classes."""
    frontend_name = config.get("frontend", "fbank")
    if frontend_name not in FRONTENDS:
        raise ValueError(f"unknown frontend '{frontend_name}' (known: {', '.join(FRONTENDS)})")
    frontend = FRONTENDS[frontend_name](**config.get("frontend_args", {}))
    name = config["model"]
    if name not in BACKBONES:
        raise ValueError(f"unknown model '{name}' (known: {', '.join(sorted(BACKBONES))})")
    model_args = dict(config.get("model_args", {}))
    model_args.setdefault("feat_dim", frontend.feature_dim)
    backbone = BACKBONES[name](**model_args)
    classes = list(config["classes"])
    projection_args = dict(config.get("projection_args", {}))
    if projection_args.get("project_type") == "oc_softmax" and "bonafide" in classes:
        projection_args.setdefault("bonafide_index", classes.index("bonafide"))
    projection = build_projection(backbone.embed_dim, len(classes), **projection_args)
    return SpoofDetector(frontend, backbone, projection,
                         mean_norm=config.get("mean_norm", frontend_name != "raw"))


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


def load_trained_model(config_path, checkpoint_path, device="cpu"):
    """Rebuild the model from an exp dir's config.yaml and load a checkpoint's weights, in
    eval mode."""
    config = load_yaml(config_path)
    model = build_model(config)
    model.load_state_dict(model_state(checkpoint_path))
    return config, model.to(device).eval()
