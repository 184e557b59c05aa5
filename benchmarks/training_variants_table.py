"""The Markdown table of benchmarks/training_variants.sh: per variant, EER / minDCF / Cllr on
dev, eval (pooled), its unseen attack A04 and the shifted corpus (uncalibrated scores).

    python benchmarks/training_variants_table.py egs/detection/demo/v03_resnet18/exp/variants
"""

import json
import os
import sys

COLUMNS = (("dev", "dev", "pooled"), ("eval", "eval", "pooled"), ("A04", "eval", "A04"),
           ("shifted", "eval_shifted", "pooled"))
ORDER = ("plain", "rawboost", "codec", "noise_reverb", "whole_utt", "imbalanced_plain",
         "imbalanced_class_balance")


def cell(exp, dset, attack):
    path = os.path.join(exp, f"results_{dset}.json")
    if not os.path.isfile(path):
        return "–"
    with open(path, encoding="utf-8") as f:
        result = json.load(f)
    m = result if attack == "pooled" else result["per_attack"][attack]
    return f"{100 * m['eer']:.2f} / {m['min_dcf']:.3f} / {m['cllr']:.3f}"


def main(root):
    names = sorted((d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))),
                   key=lambda d: (ORDER.index(d) if d in ORDER else len(ORDER), d))
    print("| variant | " + " | ".join(c for c, *_ in COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for name in names:
        exp = os.path.join(root, name)
        print(f"| {name} | " + " | ".join(cell(exp, d, a) for _, d, a in COLUMNS) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
