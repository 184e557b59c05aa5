"""Model bundles: a directory that turns audio into a calibrated LLR with nothing else.

    bundle/
      bundle.json        manifest: format name and version, sample rate, class names and their
                         training counts, bona fide classes, scoring window, file names
      config.yaml        the training config (rebuilds the PyTorch model)
      model.safetensors  the state_dict (safetensors: tensors only, nothing to unpickle)
      calibration.json   optional linear calibration (wedefense/bin/calibrate.py), folded in
      model.ts           TorchScript: (wav (B, N) float32, lengths (B,) int64) -> llr (B,)
      model.onnx         the same graph in ONNX, dynamic batch and length
      model.int8.onnx    optional int8 copy (export --quantize int8), not exact: the manifest's
                         "quantization" records its measured difference from model.onnx

Every form computes the same thing, :class:`LLRModel`: the detector's logits, the training class
prior removed as in stage 6 (README.md, "Stage 6"), then the calibration ``w * llr + b`` if there
is one.
As in stage 6, no prior is removed for the OC-softmax and P2SGrad heads, whose logits are not log
posteriors: without a calibration their output is a score, not yet an LLR.
Waveforms are at the bundle's ``sample_rate``, mono, in [-1, 1], zero-padded at the end.

Loading a bundle runs no code from it: the default reader rebuilds the model from config.yaml
(read with ``yaml.safe_load``) and the safetensors weights. Version 1 bundles hold ``model.pt``
instead, read with torch's weights-only unpickler (:mod:`wedefense.utils.checkpoint`), which
refuses any pickled object. model.ts and model.onnx are operator graphs run only when a reader
asks for that backend; neither holds Python code.

Reading a bundle's manifest and running model.onnx need no torch: that part lives in
:mod:`wedefense.inference.bundle_reader`, and this module re-exports its names.
"""

import json
import logging
import math
import os
import shutil
import warnings

import torch
from torch import Tensor, nn

import wedefense
from wedefense.calibration.llr import _check_classes, bonafide_classes_of, removes_training_prior
from wedefense.frontend.normalize import masked_mean_norm
from wedefense.inference.bundle_reader import (  # noqa: F401  (the bundle's names, in one place)
    CALIBRATION,
    CONFIG,
    DEFAULT_HOP_SECONDS,
    DEFAULT_WINDOW_SECONDS,
    FORMAT,
    FORMAT_VERSION,
    FRAME_CALIBRATION,
    MANIFEST,
    ONNX,
    ONNX_INT8,
    SUPPORTED_VERSIONS,
    TORCHSCRIPT,
    WEIGHTS,
    read_calibration,
    read_manifest,
)
from wedefense.inference.localization_outputs import is_localization
from wedefense.models.spoof_model import min_samples
from wedefense.utils.checkpoint import model_state
from wedefense.utils.config import load_yaml, save_config
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open, atomic_path

# config keys that only training reads; a bundle's config.yaml leaves them out
TRAINING_ONLY_KEYS = ("data",)


class LLRModel(nn.Module):
    """Waveform batch -> (calibrated) bona fide vs spoof LLR, one value per utterance.

    Wraps a :class:`~wedefense.models.spoof_model.SpoofModel`; the class prior and the
    calibration are constants, so the whole path is one scriptable, exportable graph.

    ``remove_prior``: whether to remove the training prior, as stage 6 does; give it
    :func:`~wedefense.calibration.llr.removes_training_prior` of the training config
    (:func:`build_llr_model` does). None reads the same declaration from the detector's head
    (``logits_are_log_posteriors``): false for OC-softmax and P2SGrad.
    """

    def __init__(self, detector, classes, class_counts, bonafide_classes=("bonafide",),
                 calibration=None, remove_prior=None):
        super().__init__()
        is_bona, n_bona, n_spoof = _check_classes(list(classes), list(class_counts),
                                                  tuple(bonafide_classes))
        self.frontend = detector.frontend
        self.backbone = detector.backbone
        self.projection = detector.projection
        self.mean_norm = bool(detector.mean_norm)
        index = torch.arange(len(classes))
        self.register_buffer("bona_index", index[torch.from_numpy(is_bona)], persistent=False)
        self.register_buffer("spoof_index", index[torch.from_numpy(~is_bona)], persistent=False)
        if remove_prior is None:
            remove_prior = bool(getattr(detector.projection, "logits_are_log_posteriors", True))
        self.log_prior_ratio = math.log(n_bona / n_spoof) if remove_prior else 0.0
        scale, offset = 1.0, 0.0
        if calibration is not None:
            scale, offset = float(calibration["weights"][0]), float(calibration["offset"])
        self.calibration_scale = scale
        self.calibration_offset = offset

    def logits(self, wav: Tensor, lengths: Tensor) -> Tensor:
        feats, frame_lengths = self.frontend(wav, lengths)
        if self.mean_norm:
            feats = masked_mean_norm(feats, frame_lengths)
        return self.projection(self.backbone(feats, frame_lengths))

    def forward(self, wav: Tensor, lengths: Tensor) -> Tensor:
        z = self.logits(wav, lengths).float()
        llr = (torch.logsumexp(z.index_select(1, self.bona_index), dim=1)
               - torch.logsumexp(z.index_select(1, self.spoof_index), dim=1)
               - self.log_prior_ratio)
        return llr * self.calibration_scale + self.calibration_offset


def is_frame_model(llr_model):
    """A localization model's wrapper (frame_llr_model.FrameLLRModel): two outputs."""
    return hasattr(llr_model, "hop_samples")


def _class_info(config, path):
    classes, counts = config.get("classes"), config.get("class_counts")
    if not (isinstance(classes, list) and classes):
        raise InputError("config has no 'classes' list", path)
    if not (isinstance(counts, list) and len(counts) == len(classes)):
        raise InputError("config needs 'class_counts' (training-set counts, one per class) to "
                         "remove the training prior", path)
    return classes, counts


def build_llr_model(config, state_dict, bonafide_classes=("bonafide",), calibration=None,
                    config_path=None, frame_calibration=None):
    """Rebuild the detector from a training config and wrap it as an :class:`LLRModel` (a
    localization model as a :class:`~wedefense.inference.frame_llr_model.FrameLLRModel`)."""
    from wedefense.models.registry import build_model

    classes, counts = _class_info(config, config_path)
    if is_localization(config):
        from wedefense.inference.frame_llr_model import build_frame_llr_model

        model = build_model(config)
        try:
            model.load_state_dict(state_dict)
        except RuntimeError as e:
            raise InputError(f"weights do not fit the model in the config: {e}",
                             config_path) from None
        return build_frame_llr_model(config, model, calibration, frame_calibration, config_path)
    try:
        detector = build_model(config)
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"config does not describe a model this version can build "
                         f"({type(e).__name__}: {e})", config_path) from None
    try:
        detector.load_state_dict(state_dict)
    except RuntimeError as e:
        raise InputError(f"weights do not fit the model in the config: {e}", config_path) from None
    remove_prior = removes_training_prior(config, config_path)
    try:
        return LLRModel(detector, classes, counts, bonafide_classes, calibration,
                        remove_prior).eval()
    except InputError as e:
        raise InputError(str(e), config_path) from None


def save_weights(state_dict, path):
    """A state_dict as safetensors (own contiguous copies: safetensors refuses shared memory)."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()},
                  tmp, metadata={"format": FORMAT})


def load_weights(path):
    """A bundle's state_dict: safetensors, or a version 1 ``model.pt`` read weights-only."""
    if not path.endswith(".safetensors"):
        return model_state(path)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise InputError(f"cannot read the bundle weights (safetensors): {first_line}",
                         path) from None


def export_torchscript(llr_model, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated, not gone
        scripted = torch.jit.script(llr_model.cpu().eval())
    with atomic_path(path) as tmp:
        scripted.save(tmp)


def export_onnx(llr_model, path, sample_rate, opset=18, output_names=None):
    """ONNX with dynamic batch and length (needs ``onnx`` and ``onnxscript``, the extra
    ``export``: ``pip install -e '.[export]'``). Lengths shorter than one analysis frame are not
    supported. ``llr_model`` is any module called as ``(wav, lengths)``; ``output_names``
    default to a bundle's (``llr``, with ``frame_llr`` first for a frame model)."""
    try:
        import onnxscript  # noqa: F401  (the exporter imports it lazily; fail early and clearly)
    except ImportError:
        raise InputError("ONNX export needs the packages onnx and onnxscript: "
                         "pip install -e '.[export]' (from the repository root)") from None
    llr_model = llr_model.cpu().eval()
    shortest = max(2, min_samples(llr_model))
    example = torch.zeros(2, sample_rate)
    lengths = torch.tensor([sample_rate, sample_rate // 2])
    batch = torch.export.Dim("batch", min=1, max=4096)
    samples = torch.export.Dim("samples", min=shortest, max=sample_rate * 3600 * 4)
    # the exporter reports each graph pass through logging and warnings; keep the log readable
    for name in ("onnx_ir", "onnxscript", "torch.onnx", "torch.export", "torch._export"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outputs = output_names or (["frame_llr", "llr"] if is_frame_model(llr_model)
                                   else ["llr"])
        if any(isinstance(m, nn.RNNBase) for m in llr_model.modules()):
            # the dynamo exporter unrolls GRU/LSTM layers over the example's length; the
            # TorchScript-based one keeps them as ONNX recurrent ops with a dynamic length
            torch.onnx.export(llr_model, (example, lengths), tmp, dynamo=False,
                              opset_version=opset, input_names=["wav", "lengths"],
                              output_names=outputs,
                              dynamic_axes={"wav": {0: "batch", 1: "samples"},
                                            "lengths": {0: "batch"}})
            return
        torch.onnx.export(llr_model, (example, lengths), tmp, dynamo=True, opset_version=opset,
                          input_names=["wav", "lengths"], output_names=outputs,
                          dynamic_shapes={"wav": {0: batch, 1: samples},
                                          "lengths": {0: batch}},
                          external_data=False, verbose=False)


def _exporting(what, flag, export, *args):
    """Run an exporter; a model it cannot handle becomes one clear line, not a traceback."""
    try:
        export(*args)
    except InputError:
        raise
    except Exception as e:
        first_line = (str(e).strip().splitlines() or [""])[0][:300]
        raise InputError(f"{what} export of this model failed ({type(e).__name__}: "
                         f"{first_line}); {flag} skips it") from e


def export_bundle(config_path, model_path, out_dir, calibration_path=None,
                  bonafide_classes=None, torchscript=True, onnx=True,
                  window_seconds=DEFAULT_WINDOW_SECONDS, hop_seconds=DEFAULT_HOP_SECONDS,
                  quantize=None, quantize_inputs=(), int8_tolerance=None,
                  frame_calibration_path=None):
    """Write a bundle directory from an exp dir's config and a checkpoint; return the manifest.

    ``quantize="int8"`` adds model.int8.onnx, calibrated on ``quantize_inputs`` (audio files,
    folders, wav.scp lists); refused (InputError, no bundle written) when its LLRs differ from
    model.onnx's by more than ``int8_tolerance`` on that audio.

    The directory is assembled under a temporary name and renamed into place, so a reader never
    sees half a bundle and a failed export leaves an existing bundle untouched.
    """
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError("the bundle path exists and is not a directory; give a directory "
                         "to write (an existing bundle there is replaced)", out_dir)
    config = load_yaml(config_path)
    if bonafide_classes is None:  # training records them when it adds bona fide classes
        bonafide_classes = bonafide_classes_of(config, config_path)
    state = model_state(model_path)
    calibration = read_calibration(calibration_path) if calibration_path else None
    frame_calibration = None
    if frame_calibration_path:
        if not is_localization(config):
            raise InputError("a frame calibration is for localization models; this config "
                             "is a detector's", config_path)
        frame_calibration = read_calibration(frame_calibration_path)
    llr_model = build_llr_model(config, state, bonafide_classes, calibration, config_path,
                                frame_calibration)
    classes, counts = _class_info(config, config_path)
    sample_rate = int(config.get("dataset_args", {}).get("sample_rate", 16000))
    if not 0 < hop_seconds <= window_seconds:
        raise InputError(f"need 0 < hop <= window, got hop={hop_seconds}, window={window_seconds}")

    if config.get("frontend") == "ssl":
        # the weights file carries the SSL weights, so the bundle must not point at the pretrained
        # checkpoint's directory on the machine that trained it: store the architecture instead
        frontend = llr_model.frontend
        args = {k: v for k, v in config.get("frontend_args", {}).items()
                if k not in ("pretrained", "config_overrides")}
        args.update(config=frontend.architecture_config(),
                    normalize_waveform=frontend.normalize_waveform)
        config = {**config, "frontend_args": args}
    # the training and validation data paths (``data``, written by train.py) are of no use
    # to a reader of the bundle and would leak the training machine's paths
    config = {k: v for k, v in config.items() if k not in TRAINING_ONLY_KEYS}

    parent = os.path.dirname(out_dir)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the bundle's parent directory: {e.strerror or e}",
                         parent) from None
    tmp_dir = os.path.join(parent, f".{os.path.basename(out_dir)}.tmp{os.getpid()}")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    os.makedirs(tmp_dir)
    try:
        save_config(config, os.path.join(tmp_dir, CONFIG))
        save_weights(state, os.path.join(tmp_dir, WEIGHTS))
        files = {"config": CONFIG, "weights": WEIGHTS}
        if calibration is not None:
            with open(os.path.join(tmp_dir, CALIBRATION), "w", encoding="utf-8") as f:
                json.dump(calibration, f, indent=2)
            files["calibration"] = CALIBRATION
        if frame_calibration is not None:
            with open(os.path.join(tmp_dir, FRAME_CALIBRATION), "w", encoding="utf-8") as f:
                json.dump(frame_calibration, f, indent=2)
            files["frame_calibration"] = FRAME_CALIBRATION
        if torchscript:
            _exporting("TorchScript", "--no_torchscript", export_torchscript, llr_model,
                       os.path.join(tmp_dir, TORCHSCRIPT))
            files["torchscript"] = TORCHSCRIPT
        if onnx:
            _exporting("ONNX", "--no_onnx", export_onnx, llr_model, os.path.join(tmp_dir, ONNX),
                       sample_rate)
            files["onnx"] = ONNX
        quantization = None
        if quantize is not None:
            quantization = _add_int8(tmp_dir, files, quantize, quantize_inputs, int8_tolerance,
                                     sample_rate, min_samples(llr_model), window_seconds)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "wedefense_version": wedefense.__version__,
            "sample_rate": sample_rate,
            "classes": list(classes),
            "class_counts": list(counts),
            "bonafide_classes": list(bonafide_classes),
            "output": "llr" if calibration is None else "calibrated_llr",
            "inputs": {"wav": "float32 (batch, samples), mono, in [-1, 1], zero-padded",
                       "lengths": "int64 (batch,), valid samples of each row"},
            "min_samples": min_samples(llr_model),
            "window_seconds": float(window_seconds),
            "hop_seconds": float(hop_seconds),
            "files": files,
            **({"quantization": quantization} if quantization else {}),
            # names only: a bundle is copied around, site paths would mean nothing elsewhere
            "source": {"model": os.path.basename(model_path),
                       "calibration": (os.path.basename(calibration_path)
                                       if calibration_path else None)},
        }
        if is_frame_model(llr_model):
            # model.ts / model.onnx: (wav, lengths) -> (frame_llr (B, T), llr (B,))
            manifest.update(task="localization",
                            frame_resolution=llr_model.hop_samples / sample_rate,
                            hop_samples=llr_model.hop_samples,
                            frame_output="calibrated_llr" if frame_calibration else "llr")
        with atomic_open(os.path.join(tmp_dir, MANIFEST)) as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        for name in os.listdir(tmp_dir):  # temp files are private; a bundle is for sharing
            os.chmod(os.path.join(tmp_dir, name), 0o644)
        os.chmod(tmp_dir, 0o755)
        if os.path.isdir(out_dir):
            old = out_dir + f".old{os.getpid()}"
            os.replace(out_dir, old)
            os.replace(tmp_dir, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp_dir, out_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return manifest


def _add_int8(tmp_dir, files, quantize, inputs, tolerance, sample_rate, shortest, seconds):
    """Write model.int8.onnx beside model.onnx; the manifest's "quantization" record."""
    from wedefense.inference import fast_paths

    if quantize != "int8":
        raise InputError(f"unknown quantization '{quantize}' (known: int8)")
    if "onnx" not in files:
        raise InputError("--quantize int8 quantizes model.onnx: drop --no_onnx")
    if not inputs:
        raise InputError("--quantize int8 needs audio to calibrate on (--quantize_data: "
                         "files, folders or a wav.scp, e.g. the dev set)")
    tolerance = fast_paths.DEFAULT_INT8_TOLERANCE if tolerance is None else float(tolerance)
    wavs = fast_paths.quantization_audio(inputs, sample_rate, shortest, seconds)
    fp32, int8 = os.path.join(tmp_dir, files["onnx"]), os.path.join(tmp_dir, ONNX_INT8)
    _exporting("int8", "leaving out --quantize", fast_paths.quantize_int8, fp32, int8, wavs)
    diff, spread = fast_paths.int8_parity(fp32, int8, wavs)
    relative = diff / spread if spread > 0 else math.inf
    if not relative <= tolerance:
        raise InputError(f"int8 model refused: its LLRs differ from the fp32 model's by up to "
                         f"{diff:.4f} on {len(wavs)} calibration file(s), {relative:.3f} of "
                         f"the LLR standard deviation there ({spread:.4f}), more than the "
                         f"tolerance {tolerance:g} (--int8_tolerance); export without "
                         "--quantize to keep the exact model only")
    files["onnx_int8"] = ONNX_INT8
    return {"type": "int8", "method": "onnxruntime static QDQ, Conv only, per-channel weights",
            "calibration_files": len(wavs), "max_abs_llr_diff": round(diff, 6),
            "llr_std": round(spread, 6), "relative_diff": round(relative, 6),
            "tolerance": tolerance}


def load_llr_model(bundle_dir, manifest=None):
    """Rebuild the PyTorch :class:`LLRModel` of a bundle (eval mode, CPU)."""
    manifest = manifest or read_manifest(bundle_dir)
    files = manifest["files"]
    config_path = os.path.join(bundle_dir, files["config"])
    config = load_yaml(config_path)
    state = load_weights(os.path.join(bundle_dir, files["weights"]))
    calibration = frame_calibration = None
    if files.get("calibration"):
        calibration = read_calibration(os.path.join(bundle_dir, files["calibration"]))
    if files.get("frame_calibration"):
        frame_calibration = read_calibration(os.path.join(bundle_dir, files["frame_calibration"]))
    return build_llr_model(config, state, manifest.get("bonafide_classes", ["bonafide"]),
                           calibration, config_path, frame_calibration)
