"""Accuracy cost of the int8 bundle path on the demo (issue 17): EER, minDCF and Cllr of the
exact ONNX model and its int8 copy on the same eval set, and their largest LLR difference.

    python benchmarks/int8_accuracy.py \\
        --exp_dir egs/detection/demo/v03_resnet18/exp/ResNet18_demo \\
        --data egs/detection/demo/v03_resnet18/data [--out /tmp/int8_bundle]

Exports a bundle with ``--quantize int8`` calibrated on ``DATA/dev/wav.scp`` (the exp dir's
calibration.json folded in when present), scores ``DATA/eval/wav.scp`` with both backends and
prints one JSON line; nothing is written into the exp dir.
"""

import argparse
import json
import os
import time

import numpy as np

from wedefense.inference.bundle import export_bundle
from wedefense.inference.detector import Detector
from wedefense.metrics.detection import compute_metrics


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True)
    parser.add_argument("--data", required=True, help="recipe data dir with dev/ and eval/")
    parser.add_argument("--model", default="models/avg_model.pt")
    parser.add_argument("--out", default="/tmp/wedefense_int8_bundle")
    parser.add_argument("--tolerance", type=float, default=None)
    args = parser.parse_args()
    calibration = os.path.join(args.exp_dir, "calibration.json")
    manifest = export_bundle(os.path.join(args.exp_dir, "config.yaml"),
                             os.path.join(args.exp_dir, args.model), args.out,
                             calibration_path=calibration if os.path.exists(calibration)
                             else None, torchscript=False, quantize="int8",
                             quantize_inputs=[os.path.join(args.data, "dev", "wav.scp")],
                             int8_tolerance=args.tolerance)
    labels = dict(line.split() for line in open(os.path.join(args.data, "eval", "utt2lab")))
    result = {"bundle": args.out, "quantization": manifest["quantization"],
              "load_average": os.getloadavg()}
    llrs = {}
    for backend in ("onnx", "onnx_int8"):
        detector = Detector.load(args.out, backend=backend, num_threads=1)
        start = time.perf_counter()
        scores = detector.score_files([os.path.join(args.data, "eval", "wav.scp")])
        seconds = time.perf_counter() - start
        llrs[backend] = np.array([s.llr for s in scores])
        keys = [labels[s.utt] for s in scores]
        bona = [s.llr for s, k in zip(scores, keys) if k == "bonafide"]
        spoof = [s.llr for s, k in zip(scores, keys) if k != "bonafide"]
        metrics = compute_metrics(np.array(bona), np.array(spoof))
        result[backend] = {"eer_percent": round(100 * metrics["eer"], 3),
                           "min_dcf": round(metrics["min_dcf"], 4),
                           "cllr": round(metrics["cllr"], 4),
                           "utts_per_s_1_thread": round(len(scores) / seconds, 1)}
    result["eval_max_abs_llr_diff"] = round(float(np.abs(llrs["onnx"] - llrs["onnx_int8"])
                                                  .max()), 4)
    result["delta"] = {k: round(result["onnx_int8"][k] - result["onnx"][k], 4)
                       for k in ("eer_percent", "min_dcf", "cllr")}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
