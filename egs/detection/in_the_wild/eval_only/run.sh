#!/usr/bin/env bash
# In-the-Wild: evaluation only. Scores a model trained by another recipe on this corpus
# (cross-corpus test); nothing is trained here.
#   bash run.sh --corpus_dir /path/to/InTheWild \
#     --model_dir ../../asvspoof2019_la/v03_resnet18/exp/ResNet18 --stage 1 --stop_stage 7
# The stages are ../../TEMPLATE/detect.sh with --skip_train true: stage 1 writes data/eval, 4-7
# score the model of --model_dir with its config.yaml and its calibration.json (README.md).
# Outputs go to exp/<training corpus>_<name of model_dir> unless --exp_dir says otherwise.
set -euo pipefail
cd "$(dirname "$0")"
exec ./detect.sh \
  --corpus_name In-the-Wild --corpus_hint "the In-the-Wild folder that holds release_in_the_wild/" \
  --skip_train true --eval_sets eval --exp_dir "" "$@"
