#!/usr/bin/env bash
# SpoofCeleb, ResNet18 on fbank, bona fide vs spoof
#   bash run.sh --corpus_dir /path/to/corpus --stage 1 --stop_stage 7
# The stages are ../../TEMPLATE/detect.sh (linked here as detect.sh; `bash run.sh --help` lists
# every option). This file sets the recipe's defaults; options given to run.sh come after
# them and win. Stage 7 breaks results down by attack (a01-a23).
set -euo pipefail
cd "$(dirname "$0")"
exec ./detect.sh --corpus_name "SpoofCeleb" \
  --corpus_hint "the folder holding spoofceleb/flac/ and spoofceleb/metadata/" \
  --score_extras "--attacks utt2attack" --config conf/resnet.yaml --exp_dir exp/ResNet18 "$@"
