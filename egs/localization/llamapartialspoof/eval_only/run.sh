#!/usr/bin/env bash
# LlamaPartialSpoof (evaluation only): scores a model trained by a PartialSpoof localization
# recipe, out of domain, with that recipe's calibration.
#   bash run.sh --stage -1 --stop_stage -1 --corpus_dir /data/LlamaPartialSpoof   (download)
#   bash run.sh --corpus_dir /data/LlamaPartialSpoof --stage 1 --stop_stage 7 \
#     [--model_dir ../../partialspoof/v15_ssl/exp/SSL_MultiReso]
# The stages are ../../TEMPLATE/localize.sh with --skip_train true.
set -euo pipefail
cd "$(dirname "$0")"
exec ./localize.sh --corpus_name LlamaPartialSpoof \
  --corpus_hint "the folder holding label_R01TTS.0.a.txt and R01TTS.0.a/" \
  --skip_train true --eval_sets eval \
  --model_dir ../../partialspoof/v01_frame_cnn/exp/FrameCNN --exp_dir exp/PartialSpoof_FrameCNN \
  "$@"
