#!/usr/bin/env bash
# ASVspoof 5 Track 1, WavLM-base + MHFA, bona fide vs spoof.
# Needs a pretrained SSL checkpoint under pretrained_models/ (see README.md) and transformers.
#   bash run.sh --corpus_dir /path/to/corpus --stage 1 --stop_stage 7
# The stages are those of ../v03_resnet18/run.sh, sourced so that this directory (its conf/,
# path.sh, data/ and exp/) is the working directory; only the defaults below differ. Options
# given on the command line come after them and win.
set -euo pipefail
# shellcheck source=../v03_resnet18/run.sh
. "$(dirname "$0")/../v03_resnet18/run.sh" --config conf/wavlm_base_mhfa.yaml --exp_dir exp/WavLM_base_MHFA \
  --export_opts --no_torchscript "$@"  # transformers models cannot be scripted; ONNX works
