"""SpecAugment (Park et al., 2019) time and frequency masks on features, batched on the
model's device, in training only.

The model computes its features inside (DESIGN.md §5), so the masks go in through a forward
hook on ``model.frontend``: the training script attaches it, ``model.eval()`` turns it off and
an exported or extracted model never sees it. Masked values are each bin's mean over time, which
the detector's mean normalisation maps to zero.
"""

import torch


class SpecAugment:
    def __init__(self, prob=0.6, num_time_masks=1, max_time_mask=40, num_freq_masks=1,
                 max_freq_mask=10):
        self.prob = prob
        self.num_time_masks, self.max_time_mask = num_time_masks, max_time_mask
        self.num_freq_masks, self.max_freq_mask = num_freq_masks, max_freq_mask

    def __call__(self, feats, frame_lengths=None):
        """``feats (B, T, F)`` -> masked copy; each utterance masked with probability ``prob``."""
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
        fill = feats.mean(dim=1, keepdim=True).expand_as(feats)
        return torch.where(mask, fill, feats)


def attach_spec_augment(model, config):
    """Register SpecAugment on ``model.frontend`` (active only while ``model.training``);
    ``config`` is the ``spec_augment`` section (None or prob 0: nothing attached)."""
    if not config or config.get("prob", 0) <= 0:
        return None
    augment = SpecAugment(**config)

    def hook(module, inputs, output):
        if not model.training:
            return output
        feats, frame_lengths = output
        return augment(feats, frame_lengths), frame_lengths

    return model.frontend.register_forward_hook(hook)
