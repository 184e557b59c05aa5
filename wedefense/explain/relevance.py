"""Relevance maps: which part of the input pushed the model towards a class.

``gradcam`` (Grad-CAM, Selvaraju et al. 2017) weighs the activations of one layer by the mean
gradient of the target score over them and keeps the positive part:

- a CNN on a time-frequency front-end (fbank, LFCC, spectrogram): the last 4-D activation of the
  backbone, upsampled to the front-end's grid, a ``(frames, bins)`` map;
- an SSL front-end: its hidden states ``(layers, frames, dim)``, a ``(frames,)`` map.

``occlusion`` needs no gradient and works for any model: each window of ``window`` seconds
(``hop`` apart) of the waveform is replaced by silence, and every frame gets the mean drop of the
target score over the windows that cover it, a signed ``(frames,)`` map (positive: that stretch
supported the target class).

The target score is the LLR for ``bonafide`` and minus the LLR for ``spoof``. Frame ``k`` of a
map is the front-end's frame ``k``, starting at ``k s`` seconds (``s``: ``frame_shift``).
"""

import dataclasses
import os
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from wedefense.utils.errors import InputError

TARGETS = ("bonafide", "spoof")
METHODS = ("gradcam", "occlusion")


@dataclasses.dataclass
class RelevanceMap:
    values: np.ndarray  # (frames, bins) or (frames,), float32
    frame_shift: float  # seconds per frame
    llr: float  # the model's LLR of the whole utterance
    method: str
    target: str
    features: Optional[np.ndarray] = None  # the (frames, bins) grid a 2-D map lies on


def load_llr_model(path, checkpoint=None):
    """The :class:`~wedefense.inference.bundle.LLRModel` of a bundle directory or an exp dir
    (``config.yaml`` plus ``checkpoint``, by default ``models/avg_model.pt`` or else
    ``models/best_model.pt``), in eval mode on the CPU."""
    from wedefense.inference import bundle as bundle_io

    path = os.fspath(path)
    if os.path.isfile(os.path.join(path, bundle_io.MANIFEST)):
        return bundle_io.load_llr_model(path)
    config_path = os.path.join(path, "config.yaml")
    if not os.path.isfile(config_path):
        raise InputError("neither a model bundle (bundle.json) nor an exp dir (config.yaml)",
                         path)
    if checkpoint is None:
        for name in ("avg_model.pt", "best_model.pt"):
            if os.path.isfile(os.path.join(path, "models", name)):
                checkpoint = os.path.join(path, "models", name)
                break
        else:
            raise InputError("no models/avg_model.pt or models/best_model.pt; name the "
                             "checkpoint with --checkpoint", path)
    from wedefense.calibration.llr import bonafide_classes_of
    from wedefense.utils.checkpoint import model_state
    from wedefense.utils.config import load_yaml

    config = load_yaml(config_path)
    return bundle_io.build_llr_model(config, model_state(checkpoint),
                                     bonafide_classes_of(config, config_path),
                                     config_path=config_path)


def is_ssl(model):
    return hasattr(model.frontend, "num_layers")


def frame_shift_seconds(model, sample_rate):
    shift = getattr(model.frontend, "frame_shift", None)
    if shift is None:
        raise InputError(f"the front-end {type(model.frontend).__name__} has no frame shift; "
                         "relevance maps need a framed front-end")
    return int(shift) / sample_rate


class _Capture:
    """Forward hooks that keep the front-end output (made a leaf that needs its gradient, so
    that a frozen front-end still gives one) and the backbone's last 4-D activation."""

    def __init__(self, model, want_conv):
        self.feats = None
        self.conv = None
        self.handles = [model.frontend.register_forward_hook(self._frontend)]
        if want_conv:
            for module in model.backbone.modules():
                if module is not model.backbone:
                    self.handles.append(module.register_forward_hook(self._module))

    def _frontend(self, module, inputs, output):
        feats, lengths = output
        self.feats = feats.detach().requires_grad_(True)
        return self.feats, lengths

    def _module(self, module, inputs, output):
        if isinstance(output, torch.Tensor) and output.dim() == 4 and output.requires_grad:
            self.conv = output
            output.retain_grad()

    def close(self):
        for h in self.handles:
            h.remove()


def _target(llr, target):
    if target not in TARGETS:
        raise InputError(f"unknown target class '{target}' (use bonafide or spoof)")
    return llr if target == "bonafide" else -llr


def conv_time_axis(model, sample_rate):
    """Which axis (2 or 3) of the backbone's last 4-D activation is time: found by running two
    inputs of different lengths and seeing which axis grows (backbones lay out (C, F, T) or
    (C, T, F) as they please)."""
    sizes = []
    for seconds in (1.0, 1.5):
        n = int(seconds * sample_rate)
        capture = _Capture(model, want_conv=True)
        try:
            with torch.enable_grad():
                model(torch.zeros(1, n), torch.tensor([n]))
        finally:
            capture.close()
        if capture.conv is None:
            raise InputError(f"the backbone {type(model.backbone).__name__} has no 4-D "
                             "activation for Grad-CAM; use --method occlusion")
        sizes.append(capture.conv.shape)
    grew = [axis for axis in (2, 3) if sizes[1][axis] > sizes[0][axis]]
    if len(grew) != 1:
        raise InputError("cannot tell the time axis of the backbone's last activation; "
                         "use --method occlusion")
    return grew[0]


def gradcam(model, wav, sample_rate, target="spoof", time_axis=None):
    """Grad-CAM of one waveform ``wav`` (1-D float32 array) -> :class:`RelevanceMap`.
    ``time_axis``: :func:`conv_time_axis` of a CNN model, computed if not given."""
    ssl = is_ssl(model)
    if not ssl and time_axis is None:
        time_axis = conv_time_axis(model, sample_rate)
    x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))[None]
    lengths = torch.tensor([x.shape[1]])
    capture = _Capture(model, want_conv=not ssl)
    try:
        with torch.enable_grad():
            llr = model(x, lengths)[0]
            model.zero_grad(set_to_none=True)
            score = _target(llr, target)
            score.backward()
    finally:
        capture.close()
    feats = capture.feats
    if ssl:  # (1, L, T, D): weights per layer and dimension, summed over both
        act, grad = feats[0].detach(), feats.grad[0]
        weights = grad.mean(dim=1, keepdim=True)
        cam = torch.relu((weights * act).sum(dim=(0, 2)))
    else:
        act, grad = capture.conv[0].detach(), capture.conv.grad[0]
        weights = grad.mean(dim=(1, 2), keepdim=True)
        cam = torch.relu((weights * act).sum(dim=0))  # (H, W)
        if time_axis == 3:
            cam = cam.t()
        frames, bins = feats.shape[1], feats.shape[2]
        cam = F.interpolate(cam[None, None], size=(frames, bins), mode="bilinear",
                            align_corners=False)[0, 0]
    grid = None if ssl else feats[0].detach().numpy()
    return RelevanceMap(cam.numpy().astype(np.float32), frame_shift_seconds(model, sample_rate),
                        float(llr.detach()), "gradcam", target, grid)


def occlusion(model, wav, sample_rate, target="spoof", window=0.2, hop=0.1, batch_size=16):
    """Occlusion over time of one waveform -> a signed ``(frames,)`` :class:`RelevanceMap`."""
    _target(0.0, target)  # an unknown class name fails before any work
    if not (window > 0 and 0 < hop <= window):
        raise InputError(f"occlusion needs window > 0 and 0 < hop <= window, got {window}, {hop}")
    wav = np.ascontiguousarray(wav, dtype=np.float32)
    n = len(wav)
    win, step = max(1, int(round(window * sample_rate))), max(1, int(round(hop * sample_rate)))
    starts = list(range(0, max(1, n - win) + 1, step))
    if starts[-1] + win < n:
        starts.append(n - win)
    with torch.inference_mode():
        x = torch.from_numpy(wav)[None]
        feats, _ = model.frontend(x, torch.tensor([n]))
        frames = feats.shape[-2] if is_ssl(model) else feats.shape[1]
        base = float(model(x, torch.tensor([n]))[0])
        drops = []
        for b in range(0, len(starts), batch_size):
            chunk = starts[b:b + batch_size]
            batch = x.repeat(len(chunk), 1)
            for row, s in enumerate(chunk):
                batch[row, s:s + win] = 0.0
            drops.append(model(batch, torch.full((len(chunk),), n)).double().numpy())
    sign = 1.0 if target == "bonafide" else -1.0
    drops = sign * (base - np.concatenate(drops))
    shift = frame_shift_seconds(model, sample_rate)
    total, count = np.zeros(frames), np.zeros(frames)
    for s, d in zip(starts, drops):
        a = int(s / sample_rate / shift)
        b = max(a + 1, int(np.ceil((s + win) / sample_rate / shift)))
        total[a:b] += d
        count[a:b] += 1
    values = np.divide(total, count, out=np.zeros(frames), where=count > 0)
    return RelevanceMap(values.astype(np.float32), shift, base, "occlusion", target)


def explain(model, wav, sample_rate, method="gradcam", target="spoof", **kwargs):
    if method == "gradcam":
        return gradcam(model, wav, sample_rate, target, **kwargs)
    if method == "occlusion":
        return occlusion(model, wav, sample_rate, target, **kwargs)
    raise InputError(f"unknown method '{method}' (known: {', '.join(METHODS)})")
