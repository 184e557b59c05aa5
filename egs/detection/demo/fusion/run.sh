#!/usr/bin/env bash
# Demo: score-level fusion of two systems trained by ../v03_resnet18 (README.md)
#   bash run.sh --systems "../v03_resnet18/exp/ResNet18_demo ../v03_resnet18/exp/rawnet2_demo"
# The stages are ../../TEMPLATE/fuse.sh (linked here as fuse.sh; `bash run.sh --help` lists
# every option). This file sets the demo's defaults; options given to run.sh win.
set -euo pipefail
cd "$(dirname "$0")"
exec ./fuse.sh --systems "../v03_resnet18/exp/ResNet18_demo ../v03_resnet18/exp/rawnet2_demo" \
  --data ../v03_resnet18/data --eval_sets eval "$@"
