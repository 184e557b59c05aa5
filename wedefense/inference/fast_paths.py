"""Faster CPU forms of a trained model: BatchNorm folding, onnxruntime sessions, int8.

BatchNorm in eval mode is an affine map per channel, so it folds into the convolution before it:
``bn(conv(x)) = conv'(x)`` with the kernel scaled by ``gamma / sqrt(var + eps)`` and a bias added.
That removes one full pass over every activation map (a third of the memory traffic of a
ResNet block) and is exact up to float rounding (benchmarks/results/inference_paths.md).
"""

import copy
import os
import tempfile

import numpy as np
import torch
from torch import nn

from wedefense.inference.bundle_reader import onnx_session
from wedefense.models.resnet import BasicBlock, ResNet
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_path


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A convolution computing ``bn(conv(x))`` of an eval-mode ``bn``."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                       conv.padding, conv.dilation, conv.groups, bias=True,
                       padding_mode=conv.padding_mode)
    with torch.no_grad():
        # float64 for the products, so the folded weights round once
        w = conv.weight.detach().double() * scale.double().view(-1, 1, 1, 1)
        b = (conv.bias.detach().double() if conv.bias is not None
             else torch.zeros_like(scale, dtype=torch.float64))
        b = (b - bn.running_mean.double()) * scale.double() + bn.bias.detach().double()
        folded.weight.copy_(w.to(conv.weight.dtype))
        folded.bias.copy_(b.to(conv.weight.dtype))
    return folded.to(conv.weight.device)


def _fold_pair(owner, conv_name, bn_name):
    conv, bn = getattr(owner, conv_name), getattr(owner, bn_name)
    setattr(owner, conv_name, fold_conv_bn(conv, bn))
    setattr(owner, bn_name, nn.Identity())


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval mode) with the BatchNorms of its ResNet backbone folded into
    the convolutions; other modules are left as they are. The input is not changed."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if isinstance(module, ResNet):
            _fold_pair(module, "conv1", "bn1")
        elif isinstance(module, BasicBlock):
            _fold_pair(module, "conv1", "bn1")
            _fold_pair(module, "conv2", "bn2")
            if len(module.shortcut) == 2:
                module.shortcut = nn.Sequential(fold_conv_bn(module.shortcut[0],
                                                             module.shortcut[1]))
    return model


def has_foldable_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, ResNet) for m in model.modules())


def run_onnx(session, wav, length):
    """LLR of one waveform (1-D float32) with a bundle ONNX session."""
    out = session.run(None, {"wav": wav[None].astype(np.float32, copy=False),
                             "lengths": np.array([len(wav)], dtype=np.int64)})[0]
    return float(out[0])


# Largest |int8 LLR - fp32 LLR| that `wedefense export --quantize int8` accepts on the
# calibration audio, as a fraction of the spread (standard deviation) of the exact LLRs there:
# relative, because raw LLR scales differ from model to model. On the demo the int8 model
# differs by 0.14 of the spread (1.9 nats, LLR std 13.3), which left EER and minDCF
# unchanged and raised Cllr by 0.05 bits (benchmarks/results/inference_paths.md).
DEFAULT_INT8_TOLERANCE = 0.25


def quantize_int8(fp32_path, out_path, calibration_wavs):
    """Static int8 quantization of the convolutions of a bundle ONNX model (onnxruntime QDQ,
    per-channel weights, activation ranges from ``calibration_wavs``: 1-D float32 arrays).

    Static, not dynamic: onnxruntime's dynamic path (ConvInteger) measured 6x slower than fp32
    here, the static one 2x faster. Only Conv is quantized: the fbank front-end (FFT, log) and
    the pooling statistics need float range.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calibration_wavs)

        def get_next(self):
            wav = next(self.items, None)
            if wav is None:
                return None
            return {"wav": wav[None].astype(np.float32, copy=False),
                    "lengths": np.array([len(wav)], dtype=np.int64)}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = os.path.join(tmp, "prepared.onnx")
        quant_pre_process(fp32_path, prepared, skip_symbolic_shape=True)
        with atomic_path(out_path) as target:
            quantize_static(prepared, target, Reader(), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=["Conv"], per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def int8_parity(fp32_path, int8_path, wavs):
    """``(largest |LLR difference|, standard deviation of the exact LLRs)`` over ``wavs``."""
    exact, quantized = onnx_session(fp32_path), onnx_session(int8_path)
    ref = np.array([run_onnx(exact, w, len(w)) for w in wavs])
    got = np.array([run_onnx(quantized, w, len(w)) for w in wavs])
    return float(np.abs(got - ref).max()), float(ref.std())


# quantization sees this many files at most: activation ranges settle after a few dozen
MAX_QUANTIZE_FILES = 64


def quantization_audio(inputs, sample_rate, min_samples, max_seconds):
    """Waveforms for int8 calibration and its parity check from audio files, folders and
    ``wav.scp`` lists (the first :data:`MAX_QUANTIZE_FILES` usable ones, each cut to
    ``max_seconds``); InputError if none is usable."""
    from wedefense.dataset.audio import load_audio
    from wedefense.inference.audio_checks import has_signal
    from wedefense.inference.inputs import expand_inputs

    wavs, rejected = [], []
    for _, path, error in expand_inputs(list(inputs)):
        if len(wavs) == MAX_QUANTIZE_FILES:
            break
        if error is None:
            try:
                wav = load_audio(path, sample_rate)[:int(max_seconds * sample_rate)]
            except InputError as e:
                error = str(e)
        if error is None and len(wav) >= min_samples and has_signal(wav):
            wavs.append(wav)
        else:
            rejected.append(path)
    if not wavs:
        raise InputError("no usable audio to calibrate the int8 model"
                         + (f" (e.g. {rejected[0]})" if rejected else ""))
    return wavs
