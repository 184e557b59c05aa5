#!/usr/bin/env bash
# EnvSDD, ResNet18 on fbank, real vs fake environmental sound (ESDD 2026)
#   bash run.sh --corpus_dir /path/to/corpus --stage 1 --stop_stage 7
# The stages are ../../TEMPLATE/detect.sh (linked here as detect.sh; `bash run.sh --help` lists
# every option). This file sets the recipe's defaults; options given to run.sh come after
# them and win. Stage 7 breaks results down by generator where the CSVs name it. TRACK=2
# before the command prepares Track 2; SETS=train,dev,eval,test with --eval_sets "dev eval test"
# adds the test set (README.md).
set -euo pipefail
cd "$(dirname "$0")"
exec ./detect.sh --corpus_name "EnvSDD" \
  --corpus_hint "the EnvSDD folder holding development/, dev_track2/, eval_track1/, ... and metadata/*.csv" \
  --score_extras "--attacks utt2attack" --eval_sets "dev eval" \
  --config conf/resnet.yaml --exp_dir exp/ResNet18 "$@"
