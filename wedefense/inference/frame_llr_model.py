"""The exportable form of a localization model: waveforms -> frame LLRs and utterance LLRs.

``FrameLLRModel(wav (B, N), lengths (B,))`` returns ``(frame_llr (B, T), llr (B,))``: frame ``k``
of row ``b`` scores samples ``[k h, (k + 1) h)`` (``h = hop_samples``, ``T = ceil(N / h)``; the
first ``ceil(lengths[b] / h)`` frames are valid). Both are stage 6's numbers: the training frame
prior removed from frame logits (``frame_class_counts``), the utterance prior from the utterance
logits (``class_counts`` for an utterance branch, the frame prior for the minimum-LLR frame;
``wedefense.inference.localization_outputs``), then the calibrations ``w * llr + b`` of stage 6
(``frame_calibration.json`` for frames, ``calibration.json`` for the utterance) folded in.
The priors and calibrations are constants, so TorchScript and ONNX hold the whole path.
"""

import math

from torch import Tensor, nn

from wedefense.calibration.llr import bonafide_classes_of
from wedefense.inference.localization_outputs import frame_counts, utterance_prior_counts
from wedefense.utils.errors import InputError


def _affine(calibration):
    if calibration is None:
        return 1.0, 0.0
    return float(calibration["weights"][0]), float(calibration["offset"])


class FrameLLRModel(nn.Module):
    def __init__(self, model, bonafide_index, frame_counts, utterance_counts,
                 frame_calibration=None, calibration=None):
        super().__init__()
        self.model = model
        # what the exporters and Detector read from a detector's LLRModel
        self.frontend, self.backbone = model.frontend, model.backbone
        self.hop_samples = int(model.hop_samples)
        self.bona = int(bonafide_index)
        self.spoof = 1 - self.bona
        self.frame_log_prior_ratio = math.log(frame_counts[self.bona] / frame_counts[self.spoof])
        self.utt_log_prior_ratio = math.log(utterance_counts[self.bona]
                                            / utterance_counts[self.spoof])
        self.frame_scale, self.frame_offset = _affine(frame_calibration)
        self.utt_scale, self.utt_offset = _affine(calibration)

    def forward(self, wav: Tensor, lengths: Tensor):
        frame, _, utt = self.model(wav, lengths)
        frame, utt = frame.float(), utt.float()
        frame_llr = frame[:, :, self.bona] - frame[:, :, self.spoof] - self.frame_log_prior_ratio
        llr = utt[:, self.bona] - utt[:, self.spoof] - self.utt_log_prior_ratio
        return (frame_llr * self.frame_scale + self.frame_offset,
                llr * self.utt_scale + self.utt_offset)


def build_frame_llr_model(config, model, calibration=None, frame_calibration=None,
                          config_path=None):
    """Wrap a built and loaded ``FrameSpoofModel`` of a ``task: localization`` config."""
    classes = config.get("classes") or []
    bonafide = bonafide_classes_of(config, config_path)
    if len(classes) != 2 or len(bonafide) != 1 or bonafide[0] not in classes:
        raise InputError(f"a localization model has two classes, one bona fide; got "
                         f"{classes} with bona fide {list(bonafide)}", config_path)
    frames = frame_counts(config, config_path)
    utterances = utterance_prior_counts(config, config_path)
    if min(frames) <= 0 or min(utterances) <= 0:
        raise InputError("class counts must be positive to remove the training prior",
                         config_path)
    return FrameLLRModel(model, classes.index(bonafide[0]), frames, utterances,
                         frame_calibration, calibration).eval()
