"""The spoof detector: waveform -> front-end features -> backbone embedding -> head logits.

The front-end is a submodule so features are computed batched on the model's device and an
exported model goes straight from waveform to logits (README.md, "Use a trained model").
"""

import torch
from torch import nn

from wedefense.frontend.normalize import masked_mean_norm


class SpoofModel(nn.Module):
    def __init__(self, frontend, backbone, projection, mean_norm=True):
        super().__init__()
        self.frontend = frontend
        self.backbone = backbone
        self.projection = projection
        self.mean_norm = mean_norm

    def embed(self, wav, lengths=None):
        """``wav (B, N)`` float in [-1, 1], ``lengths (B,)`` samples -> ``(B, D)`` embeddings."""
        if lengths is None:
            lengths = torch.full((wav.shape[0],), wav.shape[1], dtype=torch.long,
                                 device=wav.device)
        feats, frame_lengths = self.frontend(wav, lengths)
        if self.mean_norm:
            feats = masked_mean_norm(feats, frame_lengths)
        return self.backbone(feats, frame_lengths)

    def forward(self, wav, lengths=None, labels=None):
        return self.projection(self.embed(wav, lengths), labels)


def min_samples(model):
    """The shortest input, in samples, that ``model`` (a :class:`SpoofModel`, or anything
    with its ``frontend`` and ``backbone``) scores meaningfully.

    A framed front-end (fbank, LFCC, spectrogram, SSL) must give at least two frames: from a
    single frame, mean normalisation leaves all zeros (every such input would get the same
    score) and deltas are zero. A backbone that pools time may need more frames; it states
    them as ``min_frames`` (SSL_AASIST) or, for the raw waveform (one "frame" per sample),
    as ``min_samples()`` (AASIST).
    """
    frontend, backbone = model.frontend, model.backbone
    frames = max(2, int(getattr(backbone, "min_frames", 1)))
    if hasattr(frontend, "frame_length"):
        # frame_length + (k - 1) * shift samples give k frames whether or not edges are snipped
        needed = int(frontend.frame_length) + (frames - 1) * int(frontend.frame_shift)
    else:
        needed = frames
    if callable(getattr(backbone, "min_samples", None)):
        needed = max(needed, int(backbone.min_samples()))
    return needed
