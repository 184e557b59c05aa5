#!/usr/bin/env bash
# The built-in localization demo: partially spoofed synthetic speech in PartialSpoof's layout
# (with its segment labels), a small frame CNN on fbank scoring every 20 ms. On a 2-core CPU:
#   bash run.sh --stage 0 --stop_stage 7        (or `make demo-localization` from the top)
# The stages are ../../TEMPLATE/localize.sh (linked here as localize.sh; `bash run.sh --help`
# lists every option); stage 0 is local/make_corpus.sh, stage 1 the PartialSpoof recipe's.
set -euo pipefail
cd "$(dirname "$0")"
exec ./localize.sh --stage 0 --corpus_name demo --corpus_dir corpus \
  --config conf/frame_cnn.yaml --exp_dir exp/FrameCNN_demo --num_avg 2 "$@"
