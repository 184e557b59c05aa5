#!/usr/bin/env bash
# ASVspoof 5 Track 1: score-level fusion of ../v03_resnet18 and ../v15_ssl, trained on dev, applied to eval
#   bash run.sh            (after both recipes' stages 1-7; README.md)
# The stages are ../../TEMPLATE/fuse.sh (linked here as fuse.sh; `bash run.sh --help` lists
# every option). This file sets the defaults; options given to run.sh win.
set -euo pipefail
cd "$(dirname "$0")"
exec ./fuse.sh --systems "../v03_resnet18/exp/ResNet18 ../v15_ssl/exp/WavLM_base_MHFA" \
  --data ../v03_resnet18/data --dev_set dev --eval_sets eval "$@"
