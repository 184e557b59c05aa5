"""SpecAugment (Park et al., 2019) time and frequency masks on features, batched on the
model's device, in training only.

The model computes its features inside (see :mod:`wedefense.models.spoof_model`), so the masks go
in through a forward hook on ``model.frontend``: the training script attaches it,
``model.eval()`` turns it off and an exported or extracted model never sees it. Masked values
are each bin's mean over the utterance's valid frames, which the detector's mean normalisation
maps to zero.

Only a time-frequency map ``(B, T, F)`` can be masked this way: a raw front-end's ``(B, N, 1)``
waveform would lose whole utterances to one "frequency" mask, and an SSL front-end's stacked
layers ``(B, L + 1, T, D)`` are not a spectrum. :func:`attach_spec_augment` refuses those.
"""

import itertools

import torch

from wedefense.utils.errors import InputError


class SpecAugment:
    def __init__(self, prob=0.6, num_time_masks=1, max_time_mask=40, num_freq_masks=1,
                 max_freq_mask=10):
        self.prob = prob
        self.num_time_masks, self.max_time_mask = num_time_masks, max_time_mask
        self.num_freq_masks, self.max_freq_mask = num_freq_masks, max_freq_mask

    def __call__(self, feats, frame_lengths=None):
        """``feats (B, T, F)`` -> masked copy; each utterance masked with probability ``prob``."""
        if feats.dim() != 3 or feats.shape[-1] < 2:
            raise ValueError(f"SpecAugment masks (batch, frames, bins) features, not shape "
                             f"{tuple(feats.shape)}")
        b, t, f = feats.shape
        device = feats.device
        if frame_lengths is None:
            frame_lengths = torch.full((b,), t, device=device)
        chosen = torch.rand(b, device=device) < self.prob
        if not chosen.any():
            return feats
        frames = torch.arange(t, device=device)
        bins = torch.arange(f, device=device)
        mask = torch.zeros(b, t, f, dtype=torch.bool, device=device)
        for _ in range(self.num_time_masks):
            width = torch.randint(0, self.max_time_mask + 1, (b,), device=device)
            width = torch.minimum(width, frame_lengths)
            start = (torch.rand(b, device=device) * (frame_lengths - width + 1)).long()
            mask |= ((frames >= start[:, None]) & (frames < (start + width)[:, None]))[:, :, None]
        for _ in range(self.num_freq_masks):
            width = torch.randint(0, min(self.max_freq_mask, f) + 1, (b,), device=device)
            start = (torch.rand(b, device=device) * (f - width + 1)).long()
            mask |= ((bins >= start[:, None]) & (bins < (start + width)[:, None]))[:, None, :]
        mask &= chosen[:, None, None]
        # each bin's mean over the valid frames only: padding would pull it towards zero
        valid = (frames < frame_lengths[:, None]).to(feats.dtype).unsqueeze(-1)
        count = valid.sum(dim=1, keepdim=True).clamp(min=1.0)
        fill = ((feats * valid).sum(dim=1, keepdim=True) / count).expand_as(feats)
        return torch.where(mask, fill, feats)


def attach_spec_augment(model, config):
    """Register SpecAugment on ``model.frontend`` (active only while ``model.training``);
    ``config`` is the ``spec_augment`` section (None or prob 0: nothing attached)."""
    if not config or config.get("prob", 0) <= 0:
        return None
    check_time_frequency(model.frontend)
    augment = SpecAugment(**config)

    def hook(module, inputs, output):
        if not model.training:
            return output
        feats, frame_lengths = output
        return augment(feats, frame_lengths), frame_lengths

    return model.frontend.register_forward_hook(hook)


def check_time_frequency(frontend):
    """Raise :class:`InputError` unless ``frontend`` gives a ``(B, T, F)`` time-frequency map
    with several bins, found by running it on a short silent batch (so a new front-end needs no
    registration): a ``(B, N, 1)`` waveform or ``(B, L + 1, T, D)`` stacked layers are refused
    here, at setup, rather than masked wrongly or failing in the first training step."""
    tensors = itertools.chain(frontend.parameters(), frontend.buffers())
    device = next((t.device for t in tensors), torch.device("cpu"))
    num_samples = int(getattr(frontend, "sample_rate", 16000)) // 2
    training = frontend.training
    try:
        frontend.eval()
        with torch.no_grad():
            output = frontend(torch.zeros(2, num_samples, device=device),
                              torch.full((2,), num_samples, device=device))
    finally:
        frontend.train(training)
    feats = output[0] if isinstance(output, (tuple, list)) else output
    shape = tuple(feats.shape)
    if len(shape) != 3 or shape[-1] < 2:
        raise InputError(f"spec_augment needs a front-end that gives (batch, frames, bins) "
                         f"features; {type(frontend).__name__} gives shape {shape} (a raw "
                         "waveform or stacked SSL layers): remove the spec_augment section or "
                         "set its prob to 0")
