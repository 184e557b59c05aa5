"""ResNet backbones over 2-D features (frequency x time), as used for spoof detection.

The input is ``(B, T, F)`` features with per-utterance frame counts; activations beyond each
utterance's length are zeroed after every block so that padding in a batch cannot leak into the
valid frames through the convolutions (batched scores equal unbatched ones).
"""

from typing import Optional

import torch
from torch import Tensor, nn

from wedefense.models.pooling import build_pooling, time_mask


def _downsampled(lengths: torch.Tensor, stride: int) -> torch.Tensor:
    # a 3x3 conv with padding 1 and this stride keeps ceil(L / stride) frames
    return (lengths + stride - 1) // stride


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes))

    def forward(self, x, mask: Optional[Tensor]):
        # in place where autograd allows it (batch norm's backward does not need its output):
        # fewer large allocations, same values
        out = torch.relu_(self.bn1(self.conv1(x)))
        if mask is not None:
            out = out * mask
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = torch.relu_(out)
        if mask is not None:
            out = out * mask
        return out


class ResNet(nn.Module):
    """ResNet over (F, T) maps with statistics pooling and a linear embedding layer."""

    def __init__(self, num_blocks, feat_dim=80, m_channels=32, embed_dim=256, pooling="TSTP",
                 pooling_args=None):
        super().__init__()
        self.feat_dim = feat_dim
        self.embed_dim = embed_dim
        self.conv1 = nn.Conv2d(1, m_channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m_channels)
        stages = []
        strides = (1, 2, 2, 2)
        in_planes = m_channels
        for i, (n, stride) in enumerate(zip(num_blocks, strides)):
            planes = m_channels * 2 ** i
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(BasicBlock(in_planes, planes, s))
                in_planes = planes
            stages.append(nn.ModuleList(blocks))
        self.stages = nn.ModuleList(stages)
        self.strides = list(strides)
        freq_out = feat_dim
        for s in strides:
            freq_out = (freq_out + s - 1) // s
        self.pool = build_pooling(pooling, in_planes * freq_out, **(pooling_args or {}))
        self.embedding = nn.Linear(self.pool.out_dim, embed_dim)
        # set by a caller that only ever feeds one unpadded utterance per batch (stage 4's ONNX
        # graph): every frame is valid, so the masks are ones, and skipping them lets ONNX
        # Runtime keep its blocked layout between convolutions (1.1x faster)
        self.unpadded_input = False

    def _needs_mask(self, frame_lengths: Tensor, num_frames: int) -> bool:
        if self.unpadded_input:
            return False
        # Training chunks fill the whole batch: masking by ones would cost a pass over every
        # activation forward and backward (5% of a CPU step). Decided once per forward, and only
        # in training eagerly: the check reads the lengths' values, which export cannot.
        if self.training and not torch.compiler.is_compiling():
            return not bool((frame_lengths >= num_frames).all())
        return True

    def forward(self, feats, frame_lengths):
        x = feats.transpose(1, 2).unsqueeze(1)  # (B, 1, F, T)
        lengths = frame_lengths
        # with every frame valid, every downsampled length is valid too: ceil(T / s) frames
        masked = self._needs_mask(frame_lengths, x.shape[-1])
        mask: Optional[Tensor] = None
        if masked:
            mask = time_mask(lengths, x.shape[-1], x.dtype)[:, None, None, :]
        x = torch.relu_(self.bn1(self.conv1(x)))
        if mask is not None:
            x = x * mask
        # indexed rather than zipped with the strides, so that TorchScript can compile it
        for i, stage in enumerate(self.stages):
            stride = self.strides[i]
            for j, block in enumerate(stage):
                if j == 0 and stride != 1:
                    lengths = _downsampled(lengths, stride)
                    if masked:
                        t_out = (x.shape[-1] + stride - 1) // stride
                        mask = time_mask(lengths, t_out, x.dtype)[:, None, None, :]
                x = block(x, mask)
        b, c, f, t = x.shape
        stats = self.pool(x.reshape(b, c * f, t), lengths)
        return self.embedding(stats)


def ResNet18(**kwargs):
    return ResNet([2, 2, 2, 2], **kwargs)


def ResNet34(**kwargs):
    return ResNet([3, 4, 6, 3], **kwargs)
