#!/usr/bin/env bash
# MLAAD + M-AILABS, ResNet18 on fbank, bona fide (M-AILABS) vs spoof (MLAAD)
#   bash run.sh --corpus_dir /path/to/corpus --stage 1 --stop_stage 7
# The stages are ../../TEMPLATE/detect.sh (linked here as detect.sh; `bash run.sh --help` lists
# every option). This file sets the recipe's defaults; options given to run.sh come after
# them and win. Stage 7 breaks results down by TTS model and by language.
set -euo pipefail
cd "$(dirname "$0")"
exec ./detect.sh --corpus_name "MLAAD + M-AILABS" \
  --corpus_hint "a folder holding MLAAD/ (with fake/) and M-AILABS/ (with de_DE/, en_US/, ...)" \
  --score_extras "--attacks utt2attack --metadata utt2lang" --config conf/resnet.yaml \
  --exp_dir exp/ResNet18 "$@"
