"""Self-supervised speech front-ends (wav2vec 2.0, HuBERT, WavLM, XLS-R) via Hugging Face
``transformers`` (the optional extra ``ssl``: ``pip install -e '.[ssl]'`` from the repository
root).

``SSLFrontend`` follows the front-end contract with one difference: its "features" are *all*
hidden layers, ``(B, L + 1, T, D)`` (the output of the convolutional feature encoder after the
feature projection and positional convolution, then every transformer layer; the last one is the
model's final output, so a trailing layer norm is included), with ``(B,)`` frame counts. The SSL
back-ends (``SSL_MHFA``, ``SSL_AASIST``, ``SSL_Pool``) weight the layers themselves.

The model comes from exactly one of

- ``pretrained``: a local directory (``config.json`` + weights, as ``save_pretrained`` writes
  it, e.g. a ``git clone`` of ``facebook/wav2vec2-xls-r-300m``) or a hub name, loaded with
  ``from_pretrained`` (a hub name is downloaded into the Hugging Face cache on first use);
- ``config``: a ``transformers`` config object or a dict with ``model_type`` (``wav2vec2``,
  ``hubert``, ``wavlm``; XLS-R is ``wav2vec2``), randomly initialised. Rebuilding a trained model
  needs only the architecture, so ``architecture_config()`` gives a dict that can replace
  ``pretrained`` in a saved config (the checkpoint then supplies the weights).

``config_overrides`` change the architecture config before the model is built (e.g.
``num_hidden_layers: 12`` keeps only the first 12 layers of a pretrained model). By default
LayerDrop and the model's built-in time/feature masking are switched off (``layerdrop``,
``mask_time_prob``, ``mask_feature_prob`` = 0): they skip layers or parameters at random, which
distributed training cannot handle without ``find_unused_parameters``; set them in
``config_overrides`` to get them back.

Training modes: ``freeze: true`` keeps every SSL weight fixed (``requires_grad`` False, the
module held in eval mode, run without autograd); otherwise the model is fine-tuned, with the
convolutional feature encoder frozen unless ``freeze_feature_encoder: false``. The learning-rate
ratio and a frozen warm-up period are training options (``frontend_lr_ratio``,
``frozen_frontend_steps``, see ``wedefense.models.param_groups``). ``gradient_checkpointing``
trades compute for memory on large models while fine-tuning.

Padding: samples past each length are zeroed and the padding mask goes to the model as
``attention_mask``, so padded frames are excluded from self-attention and zeroed before the
transformer. For models whose feature encoder uses layer norm (``feat_extract_norm: layer``:
XLS-R, wav2vec 2.0 large, WavLM, HuBERT large) a padded batch then gives each utterance its lone
hidden states up to float rounding. Models with group norm in the first convolution
(``feat_extract_norm: group``: wav2vec 2.0 base, HuBERT base, WavLM base/base+) normalise over
the whole padded time axis, so their outputs change slightly with the amount of padding; score
them one utterance at a time (or with equal lengths) when exact batch invariance matters.

Some checkpoints expect zero-mean, unit-variance waveforms (``do_normalize`` in their
``preprocessor_config.json``, e.g. XLS-R); ``normalize_waveform`` does that per utterance over the
valid samples. ``None`` reads it from a local checkpoint directory (``False`` otherwise).
"""

import copy
import json
import os
from typing import List, Tuple

import torch
from torch import Tensor, nn

from wedefense.utils.errors import InputError

DEFAULT_OVERRIDES = {"layerdrop": 0.0, "mask_time_prob": 0.0, "mask_feature_prob": 0.0}


def _transformers():
    try:
        import transformers
    except ImportError:
        raise ImportError("the 'ssl' front-end needs Hugging Face transformers: "
                          "pip install -e '.[ssl]' (from the repository root)") from None
    return transformers


def conv_output_lengths(lengths: Tensor, kernels: List[int], strides: List[int]) -> Tensor:
    """Frames left by a stack of unpadded 1-D convolutions: ``floor((n - k) / s) + 1`` per layer,
    0 when the input is shorter than the receptive field."""
    for k, s in zip(kernels, strides):
        lengths = torch.div(lengths - k, s, rounding_mode="floor") + 1
        lengths = lengths.clamp(min=0)
    return lengths


def receptive_field(kernels: List[int], strides: List[int]) -> int:
    """Samples seen by one output frame of the convolution stack (the shortest usable input)."""
    field, jump = 1, 1
    for k, s in zip(kernels, strides):
        field += (k - 1) * jump
        jump *= s
    return field


def masked_standardize(wav: Tensor, valid: Tensor, eps: float = 1e-7) -> Tensor:
    """Zero mean, unit variance over each row's valid samples; padding stays zero."""
    mask = valid.to(wav.dtype)
    count = mask.sum(1, keepdim=True).clamp(min=1.0)
    mean = (wav * mask).sum(1, keepdim=True) / count
    var = (((wav - mean) * mask) ** 2).sum(1, keepdim=True) / count
    return (wav - mean) / torch.sqrt(var + eps) * mask


def _config_object(config):
    transformers = _transformers()
    if isinstance(config, transformers.PretrainedConfig):
        return copy.deepcopy(config)
    if isinstance(config, dict):
        options = dict(config)
        model_type = options.pop("model_type", None)
        if model_type is None:
            raise ValueError("an SSL front-end config dict needs 'model_type' "
                             "(wav2vec2, hubert or wavlm)")
        for key in ("architectures", "transformers_version"):
            options.pop(key, None)
        return transformers.AutoConfig.for_model(model_type, **options)
    raise TypeError(f"config must be a transformers config or a dict, got {type(config).__name__}")


# pickled weight files transformers may read from a checkpoint directory
_PICKLED_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt")


def _check_pickled_weights(directory):
    """Refuse (InputError naming the file) a checkpoint directory whose pickled weight files
    hold anything but tensors and plain values. transformers loads ``.bin`` weights with
    torch's weights-only unpickler from version 4.37 on; this check does not rely on it."""
    from wedefense.utils.checkpoint import safe_torch_load

    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.endswith(_PICKLED_WEIGHTS) and os.path.isfile(path):
            safe_torch_load(path, map_location="meta", what="SSL checkpoint file")


def _reads_normalize(pretrained):
    path = os.path.join(str(pretrained), "preprocessor_config.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return bool(json.load(f).get("do_normalize", False))
    return False


class SSLFrontend(nn.Module):
    """All hidden layers of a pretrained SSL speech model for a padded waveform batch.

    Args:
        pretrained: local checkpoint directory or hub name (``from_pretrained``).
        config: a transformers config object or dict (with ``model_type``), randomly initialised.
        config_overrides: architecture config changes (on top of ``DEFAULT_OVERRIDES``).
        freeze: keep every SSL weight fixed.
        freeze_feature_encoder: keep the convolutional feature encoder fixed while fine-tuning.
        gradient_checkpointing: recompute transformer activations in the backward pass.
        normalize_waveform: per-utterance zero mean / unit variance (None: from the checkpoint).
        attn_implementation: passed to transformers (``eager``, ``sdpa``, ...); None: its default.
    """

    def __init__(self, pretrained=None, config=None, config_overrides=None, freeze=False,
                 freeze_feature_encoder=True, gradient_checkpointing=False,
                 normalize_waveform=None, attn_implementation=None):
        super().__init__()
        if (pretrained is None) == (config is None):
            raise ValueError("the 'ssl' front-end needs exactly one of 'pretrained' (a local "
                             "checkpoint directory or hub name) and 'config' (an architecture)")
        transformers = _transformers()
        overrides = {**DEFAULT_OVERRIDES, **(config_overrides or {})}
        kwargs = {}
        if attn_implementation is not None:
            kwargs["attn_implementation"] = attn_implementation
        if pretrained is not None:
            pretrained = str(pretrained)
            local = os.path.isdir(pretrained)
            if not local and pretrained.startswith((".", "/", "~")):
                raise InputError(
                    f"SSL checkpoint directory '{pretrained}' not found; download the checkpoint "
                    "the config names first (the recipe's README.md, section 'Pretrained "
                    "checkpoint', says which one and where to put it) or set "
                    "frontend_args.pretrained to that checkpoint's Hugging Face hub name")
            if local:
                _check_pickled_weights(pretrained)
            try:
                # trust_remote_code=False: a checkpoint's own Python code never runs
                hf_config = transformers.AutoConfig.from_pretrained(
                    pretrained, trust_remote_code=False, **overrides)
                self.model = transformers.AutoModel.from_pretrained(
                    pretrained, config=hf_config, trust_remote_code=False, **kwargs)
            except OSError as e:
                where = "local directory" if local else "hub name (no such local directory)"
                raise OSError(f"cannot load the SSL checkpoint '{pretrained}' as a {where}: "
                              f"{e}") from None
            self.model.float()  # recent transformers keep a checkpoint's own dtype
            if normalize_waveform is None:
                normalize_waveform = _reads_normalize(pretrained)
        else:
            hf_config = _config_object(config)
            for key, value in overrides.items():
                setattr(hf_config, key, value)
            self.model = transformers.AutoModel.from_config(hf_config, **kwargs)
        config = self.model.config
        if not hasattr(config, "conv_kernel") or not hasattr(config, "num_hidden_layers"):
            raise ValueError(f"model type '{config.model_type}' is not a wav2vec 2.0-style model "
                             "(convolutional feature encoder + transformer)")
        self.conv_kernels = [int(k) for k in config.conv_kernel]
        self.conv_strides = [int(s) for s in config.conv_stride]
        self.frame_length = receptive_field(self.conv_kernels, self.conv_strides)
        self.frame_shift = 1
        for s in self.conv_strides:
            self.frame_shift *= s
        self.normalize_waveform = bool(normalize_waveform)
        self.freeze = bool(freeze)
        self.grad_blocked = False  # set by the frozen warm-up of wedefense.models.param_groups
        if self.freeze:
            for p in self.model.parameters():
                p.requires_grad_(False)
            self.model.eval()
        elif freeze_feature_encoder:
            encoder = self.model.feature_extractor
            for p in encoder.parameters():
                p.requires_grad_(False)
            if hasattr(encoder, "_requires_grad"):
                encoder._requires_grad = False  # transformers' own flag: no autograd through it
        if gradient_checkpointing and not self.freeze:
            options = {"use_reentrant": False}
            if hasattr(self.model, "activation_checkpointing_enable"):
                self.model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
            else:
                self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)

    @property
    def feature_dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def num_layers(self) -> int:
        """Hidden states returned: the transformer input plus one per transformer layer."""
        return int(self.model.config.num_hidden_layers) + 1

    def architecture_config(self) -> dict:
        """The model's architecture as a plain dict, usable as ``config`` to rebuild it."""
        options = self.model.config.to_dict()
        for key in ("architectures", "transformers_version", "_name_or_path", "dtype",
                    "torch_dtype"):
            options.pop(key, None)
        return options

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:
            self.model.eval()  # no dropout in a frozen model
        return self

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        return conv_output_lengths(lengths, self.conv_kernels, self.conv_strides)

    def forward(self, wav: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """``wav (B, N)``, ``lengths (B,)`` samples -> ``(B, L + 1, T, D)``, ``(B,)`` frames."""
        lengths = lengths.to(wav.device)
        valid = torch.arange(wav.size(1), device=wav.device).unsqueeze(0) < lengths.unsqueeze(1)
        wav = wav * valid.to(wav.dtype)
        if self.normalize_waveform:
            wav = masked_standardize(wav, valid)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            out = self.model(wav, attention_mask=valid.long(), output_hidden_states=True)
        # the last entry is the model output (after a final layer norm where the model has one)
        hidden = torch.stack(list(out.hidden_states[:-1]) + [out.last_hidden_state], dim=1)
        if self.grad_blocked and hidden.requires_grad:
            # frozen warm-up: the SSL weights get zero gradients (not none, which distributed
            # training needs) and so do not move the gradient norm either
            hidden = hidden.detach() + 0.0 * hidden
        return hidden, self.frame_lengths(lengths)
