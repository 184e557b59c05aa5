"""Build a model from the resolved config: ``model: ResNet18`` plus ``*_args`` sections."""

from wedefense.frontend.fbank import KaldiFbank
from wedefense.models import resnet
from wedefense.models.detector import SpoofDetector
from wedefense.models.projections import build_projection
from wedefense.utils.checkpoint import model_state
from wedefense.utils.config import load_yaml

BACKBONES = {"ResNet18": resnet.ResNet18, "ResNet34": resnet.ResNet34}
FRONTENDS = {"fbank": KaldiFbank}


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
    projection = build_projection(backbone.embed_dim, len(config["classes"]),
                                  **config.get("projection_args", {}))
    return SpoofDetector(frontend, backbone, projection,
                         mean_norm=config.get("mean_norm", True))


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


def load_trained_model(config_path, checkpoint_path, device="cpu"):
    """Rebuild the model from an exp dir's config.yaml and load a checkpoint's weights, in
    eval mode."""
    config = load_yaml(config_path)
    model = build_model(config)
    model.load_state_dict(model_state(checkpoint_path))
    return config, model.to(device).eval()
