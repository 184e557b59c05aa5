#!/usr/bin/env bash
# ASVspoof 2021 DF: evaluation only. Scores a model trained on ASVspoof 2019 LA (2021 has no
# training set of its own) on the 2021 DF eval set, with the public keys; nothing is trained.
#   bash run.sh --corpus_dir /path/to/ASVspoof2021 \
#     --model_dir ../../asvspoof2019_la/v03_resnet18/exp/ResNet18 --stage 1 --stop_stage 7
# The stages are ../../TEMPLATE/detect.sh with --skip_train true. Stage 7 breaks the results
# down by every column of data/eval/metadata (README.md). SUBSETS=all (or eval,progress)
# before the command scores other subsets of the keys than eval.
set -euo pipefail
cd "$(dirname "$0")"
exec ./detect.sh --corpus_name "ASVspoof 2021 DF" \
  --corpus_hint "the folder holding ASVspoof2021_DF_eval/flac/ (or the ASVspoof2021_DF_eval_part0N/ folders) and keys/DF/CM/trial_metadata.txt from DF-keys-full.tar.gz" \
  --skip_train true --eval_sets eval --exp_dir "" --score_extras "--metadata metadata" "$@"
