#!/usr/bin/env bash
# ASVspoof 5 Track 1, ResNet18 on fbank, bona fide vs spoof.
#   bash run.sh --corpus_dir /path/to/ASVspoof5 --stage 1 --stop_stage 7
# The stages are ../../TEMPLATE/detect.sh (linked here as detect.sh; `bash run.sh --help` lists
# every option). This file sets the recipe's defaults; options given to run.sh come after
# them and win. Stage 7 breaks results down by the protocol's attack and codec columns.
set -euo pipefail
cd "$(dirname "$0")"
exec ./detect.sh --corpus_name "ASVspoof 5" \
  --corpus_hint "the ASVspoof 5 folder that holds flac_T/, flac_D/, flac_E_eval/ and the protocols" \
  --score_extras "--metadata protocol.tsv" \
  --config conf/resnet.yaml --exp_dir exp/ResNet18 "$@"
