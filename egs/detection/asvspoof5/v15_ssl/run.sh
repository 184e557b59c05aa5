#!/usr/bin/env bash
# ASVspoof 5 Track 1, SSL front-end (WavLM Base + MHFA, or XLS-R 300M + AASIST), bona fide vs spoof.
# Needs a pretrained SSL checkpoint under pretrained_models/ (see README.md) and transformers.
#   bash run.sh --corpus_dir /path/to/ASVspoof5 --stage 1 --stop_stage 7
# The stages are ../../TEMPLATE/detect.sh (linked here as detect.sh; `bash run.sh --help` lists
# every option); local/ is ../v03_resnet18/local. Options given to run.sh win over these.
set -euo pipefail
cd "$(dirname "$0")"
exec ./detect.sh --corpus_name "ASVspoof 5" \
  --corpus_hint "the ASVspoof 5 folder that holds flac_T/, flac_D/, flac_E_eval/ and the protocols" \
  --score_extras "--metadata protocol.tsv" \
  --config conf/wavlm_base_mhfa.yaml --exp_dir exp/WavLM_base_MHFA \
  --export_opts --no_torchscript "$@"  # transformers models cannot be scripted; ONNX works
