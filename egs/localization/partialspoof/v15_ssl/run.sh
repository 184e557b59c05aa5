#!/usr/bin/env bash
# PartialSpoof spoof localization with an SSL front-end (GPU): wav2vec 2.0 Large fine-tuned with
# a multi-resolution head (20-640 ms branches and an utterance branch). Needs transformers and a
# local SSL checkpoint (see README.md); conf/ also holds SLS and frame-MHFA variants.
#   bash run.sh --corpus_dir /data/PartialSpoof --stage 1 --stop_stage 7
# The stages are ../../TEMPLATE/localize.sh; local/ is v01_frame_cnn's (the same corpus).
set -euo pipefail
cd "$(dirname "$0")"
exec ./localize.sh --corpus_name PartialSpoof \
  --corpus_hint "the folder holding database/ (train, dev, eval, protocols, segment_labels)" \
  --config conf/ssl_multireso.yaml --exp_dir exp/SSL_MultiReso \
  --export_opts --no_torchscript "$@"  # transformers models cannot be scripted; ONNX works
