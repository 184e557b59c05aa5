#!/usr/bin/env bash
# PartialSpoof, ResNet18 on fbank, utterance-level bona fide vs spoof.
#   bash run.sh --corpus_dir /path/to/PartialSpoof --stage 1 --stop_stage 7
# The stages are ../../TEMPLATE/detect.sh (linked here as detect.sh; `bash run.sh --help` lists
# every option). This file sets the recipe's defaults; options given to run.sh come after
# them and win.
set -euo pipefail
cd "$(dirname "$0")"
exec ./detect.sh \
  --corpus_name PartialSpoof --corpus_hint "the PartialSpoof folder that holds database/" \
  --score_extras "--attacks utt2attack" \
  --config conf/resnet.yaml --exp_dir exp/ResNet18 "$@"
