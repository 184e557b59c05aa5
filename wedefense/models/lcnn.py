"""LCNN-LSTM: the light CNN with Max-Feature-Map units plus a Bi-LSTM, as in the ASVspoof 2021
"LFCC-LCNN" baseline (Wang and Yamagishi, 2021; LCNN of Lavrentyeva et al., 2019).

Input ``(B, T, F)`` features (60-d LFCC in the baseline). The CNN sees a (time x frequency) map:

    conv5x5(64)-MFM, maxpool2x2,
    conv1x1(64)-MFM, BN, conv3x3(96)-MFM, maxpool2x2, BN,
    conv1x1(96)-MFM, BN, conv3x3(128)-MFM, maxpool2x2,
    conv1x1(128)-MFM, BN, conv3x3(64)-MFM, BN, conv1x1(64)-MFM, BN, conv3x3(64)-MFM, maxpool2x2,
    dropout(0.7)

then frames ``(B, T/16, 32 * F/16)`` go through two bidirectional LSTM layers (hidden size half
the width, so the width is kept), the LSTM output is added to its input, and a mask-aware pooling
(temporal average by default, as in the baseline) gives the embedding; ``embed_dim`` adds a linear
layer. The baseline's output layer is the projection head here.

Padding: activations at frames past each utterance's length are zeroed after every layer, the
LSTM runs on packed sequences and the pooling is masked, so in eval mode a padded batch gives each
utterance its lone embedding (up to float rounding).
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from wedefense.models.pooling import build_pooling, time_mask

# (kind, in_channels, conv_out_channels, kernel); MFM halves conv_out_channels
_LAYERS = (
    ("conv", 1, 64, 5), ("pool",),
    ("conv", 32, 64, 1), ("bn", 32), ("conv", 32, 96, 3), ("pool",), ("bn", 48),
    ("conv", 48, 96, 1), ("bn", 48), ("conv", 48, 128, 3), ("pool",),
    ("conv", 64, 128, 1), ("bn", 64), ("conv", 64, 64, 3), ("bn", 32),
    ("conv", 32, 64, 1), ("bn", 32), ("conv", 32, 64, 3), ("pool",),
)


class MaxFeatureMap(nn.Module):
    """A conv whose output channels are split in two halves and reduced by an element-wise max."""

    def __init__(self, in_channels, out_channels, kernel):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)

    def forward(self, x):
        a, b = self.conv(x).chunk(2, dim=1)
        return torch.maximum(a, b)


class LCNN_LSTM(nn.Module):
    def __init__(self, feat_dim=60, embed_dim=None, pooling="TAP", pooling_args=None,
                 dropout=0.7, lstm_layers=2):
        super().__init__()
        if feat_dim < 16:
            raise ValueError(f"LCNN_LSTM halves the feature axis 4 times; feat_dim {feat_dim} "
                             "is below 16")
        layers = []
        for spec in _LAYERS:
            if spec[0] == "conv":
                layers.append(MaxFeatureMap(spec[1], spec[2], spec[3]))
            elif spec[0] == "bn":
                layers.append(nn.BatchNorm2d(spec[1]))
            else:
                layers.append(nn.MaxPool2d(2, 2))
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        width = 32 * (feat_dim // 16)
        self.lstm = nn.LSTM(width, width // 2, num_layers=lstm_layers, batch_first=True,
                            bidirectional=True)
        self.pool = build_pooling(pooling, width, **(pooling_args or {}))
        if embed_dim is None or embed_dim == self.pool.out_dim:
            self.embedding = nn.Identity()
            embed_dim = self.pool.out_dim
        else:
            self.embedding = nn.Linear(self.pool.out_dim, embed_dim)
        self.feat_dim = feat_dim
        self.embed_dim = embed_dim

    def forward(self, feats, frame_lengths):
        x = feats.unsqueeze(1)  # (B, 1, T, F)
        if x.shape[2] < 16:
            # four 2x2 max-pools need 16 frames; zero frames past every length change nothing
            x = F.pad(x, (0, 0, 0, 16 - x.shape[2]))
        lengths = frame_lengths.to(feats.device)
        mask = time_mask(lengths, x.shape[2], x.dtype)[:, None, :, None]
        x = x * mask
        for layer in self.layers:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                # an utterance shorter than 16 frames keeps one pooled frame: floored to zero,
                # its every frame would be masked and all such inputs would score the same
                lengths = torch.div(lengths, 2, rounding_mode="floor").clamp(min=1)
                mask = time_mask(lengths, x.shape[2], x.dtype)[:, None, :, None]
            x = x * mask
        x = self.dropout(x)
        b, c, t, f = x.shape
        x = x.permute(0, 2, 1, 3).reshape(b, t, c * f)  # (B, T/16, 32 * F/16)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
        x = (out + x) * mask[:, 0]  # (B, T', width) * (B, T', 1)
        return self.embedding(self.pool(x.transpose(1, 2), lengths))
