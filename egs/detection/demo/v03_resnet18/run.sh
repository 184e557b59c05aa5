#!/usr/bin/env bash
# The built-in demo: a synthetic corpus in PartialSpoof's layout, a narrow ResNet18 on fbank.
# Runs end to end on a 2-core CPU in a few minutes:
#   bash run.sh --stage 0 --stop_stage 7
# The stages are ../../TEMPLATE/detect.sh (linked here as detect.sh; `bash run.sh --help` lists
# every option); stage 0 is local/make_corpus.sh, stage 1 the PartialSpoof recipe's preparation.
set -euo pipefail
cd "$(dirname "$0")"
exec ./detect.sh --stage 0 \
  --corpus_name demo --corpus_dir corpus --score_extras "--attacks utt2attack" \
  --config conf/resnet_demo.yaml --exp_dir exp/ResNet18_demo --num_avg 2 "$@"
