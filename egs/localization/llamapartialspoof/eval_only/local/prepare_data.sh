#!/usr/bin/env bash
# Stage 1 for LlamaPartialSpoof (evaluation only): label files -> data/eval.
#   local/prepare_data.sh <corpus_dir> <data_dir>
# <corpus_dir> holds label_R01TTS.0.{a,b}.txt and the unpacked R01TTS.0.{a,b}/<utt>.wav.
# Writes wav.scp, utt2lab, lab2utt, utt2dur, utt2spk, utt2attack and timestamps.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <corpus_dir> <data_dir>" >&2
  exit 1
fi
python -m wedefense.bin.prepare_llamapartialspoof "$1" "$2"
