"""Export a trained model as a self-describing bundle directory (recipe stage 8).

    python -m wedefense.bin.export --exp_dir exp/x --model models/avg_model.pt \\
        [--calibration exp/x/calibration.json] --out exp/x/bundle

The bundle holds bundle.json (format version, sample rate, classes and training counts),
config.yaml, model.safetensors (the weights), the optional calibration.json, and model.ts
(TorchScript) and model.onnx (ONNX, dynamic batch and length), which both map a waveform
batch (B, N) and its lengths (B,) to one (calibrated) LLR per row. Use it with
`wedefense detect --model bundle/ ...` or `wedefense.Detector.load("bundle/")`.

--quantize int8 --quantize_data data/dev/wav.scp adds model.int8.onnx (static int8
convolutions, about 2x faster on a CPU; `wedefense detect --backend onnx_int8`), calibrated on
that audio and refused when its LLRs there differ from the exact model's by more than
--int8_tolerance.
"""

import argparse
import importlib.util
import logging
import os

from wedefense.inference.bundle import (
    DEFAULT_HOP_SECONDS,
    DEFAULT_WINDOW_SECONDS,
    export_bundle,
)
from wedefense.utils.cli import entry_point, setup_logging

logger = logging.getLogger("wedefense.export")


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, help="training exp dir (has config.yaml)")
    parser.add_argument("--model", default="models/avg_model.pt",
                        help="checkpoint, relative to --exp_dir unless absolute "
                             "(default: %(default)s)")
    parser.add_argument("--config", default=None,
                        help="training config (default: EXP_DIR/config.yaml)")
    parser.add_argument("--calibration", default=None,
                        help="one-system calibration model from 'calibrate.py train' to fold "
                             "into the bundle, so it outputs calibrated LLRs")
    parser.add_argument("--bonafide_classes",
                        help="comma-separated class names counted as bona fide (default: the "
                             "config's 'bonafide_classes', else 'bonafide')")
    parser.add_argument("--out", required=True, help="bundle directory to write (replaced)")
    parser.add_argument("--no_torchscript", action="store_true", help="skip model.ts")
    parser.add_argument("--no_onnx", action="store_true",
                        help="skip model.onnx (skipped with a warning anyway when the onnx and "
                             "onnxscript packages are missing: pip install -e '.[export]')")
    parser.add_argument("--quantize", choices=("int8",), default=None,
                        help="also write an int8 model (not exact; see above)")
    parser.add_argument("--quantize_data", nargs="+", default=(),
                        help="audio files, folders or wav.scp lists to calibrate the int8 "
                             "model on (the first 64 usable files)")
    parser.add_argument("--int8_tolerance", type=float, default=None,
                        help="largest |LLR difference| from the exact model accepted on the "
                             "calibration audio, as a fraction of the exact LLRs' standard "
                             "deviation there (default: 0.25)")
    parser.add_argument("--window_seconds", type=float, default=DEFAULT_WINDOW_SECONDS,
                        help="longer audio is scored in windows of this length "
                             "(default: %(default)s)")
    parser.add_argument("--hop_seconds", type=float, default=DEFAULT_HOP_SECONDS,
                        help="hop between windows (default: %(default)s)")
    return parser


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logging()
    model = args.model if os.path.isabs(args.model) else os.path.join(args.exp_dir, args.model)
    config = args.config or os.path.join(args.exp_dir, "config.yaml")
    bonafide = (tuple(c for c in args.bonafide_classes.split(",") if c)
                if args.bonafide_classes else None)
    onnx = not args.no_onnx
    if onnx and not all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript")):
        logger.warning("model.onnx skipped: it needs the onnx and onnxscript packages "
                       "(pip install -e '.[export]' in the repository)")
        onnx = False
    manifest = export_bundle(config, model, args.out, calibration_path=args.calibration,
                             bonafide_classes=bonafide, torchscript=not args.no_torchscript,
                             onnx=onnx, window_seconds=args.window_seconds,
                             hop_seconds=args.hop_seconds, quantize=args.quantize,
                             quantize_inputs=args.quantize_data,
                             int8_tolerance=args.int8_tolerance)
    if "quantization" in manifest:
        logger.info("int8 model: largest |LLR difference| %.4f on %d calibration file(s)",
                    manifest["quantization"]["max_abs_llr_diff"],
                    manifest["quantization"]["calibration_files"])
    logger.info("wrote bundle %s (%s; files: %s)", args.out, manifest["output"],
                ", ".join(manifest["files"].values()))


if __name__ == "__main__":
    main()
