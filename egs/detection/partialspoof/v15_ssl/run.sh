#!/usr/bin/env bash
# PartialSpoof, SSL front-end (XLSR-53 or WavLM Base+) + MHFA, utterance-level bona fide vs spoof.
# Needs a pretrained SSL checkpoint under pretrained_models/ (see README.md) and transformers.
#   bash run.sh --corpus_dir /path/to/PartialSpoof --stage 1 --stop_stage 7
# The stages are ../../TEMPLATE/detect.sh (linked here as detect.sh; `bash run.sh --help` lists
# every option); local/ is ../v03_resnet18/local. Options given to run.sh win over these.
set -euo pipefail
cd "$(dirname "$0")"
exec ./detect.sh \
  --corpus_name PartialSpoof --corpus_hint "the PartialSpoof folder that holds database/" \
  --score_extras "--attacks utt2attack" \
  --config conf/xlsr53_mhfa.yaml --exp_dir exp/XLSR53_MHFA \
  --export_opts --no_torchscript "$@"  # transformers models cannot be scripted; ONNX works
