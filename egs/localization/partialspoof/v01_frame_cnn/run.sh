#!/usr/bin/env bash
# PartialSpoof spoof localization: a frame CNN on fbank, one LLR every 20 ms (CPU-trainable).
#   bash run.sh --stage -1 --stop_stage -1 --corpus_dir /data/PartialSpoof   (download)
#   bash run.sh --corpus_dir /data/PartialSpoof --stage 1 --stop_stage 7
# The stages are ../../TEMPLATE/localize.sh (linked here as localize.sh; `bash run.sh --help`
# lists every option). This file sets the recipe's defaults; options given to run.sh win.
set -euo pipefail
cd "$(dirname "$0")"
exec ./localize.sh --corpus_name PartialSpoof \
  --corpus_hint "the folder holding database/ (train, dev, eval, protocols, segment_labels)" \
  --config conf/frame_cnn.yaml --exp_dir exp/FrameCNN "$@"
