#!/usr/bin/env bash
# Stage 1 for PartialSpoof: parse the CM protocols into data/{train,dev,eval}.
#   local/prepare_data.sh <corpus_dir> <data_dir>
# <corpus_dir> is the folder holding database/ (or database/ itself):
#   database/{train,dev,eval}/con_wav/*.wav
#   database/protocols/PartialSpoof_LA_cm_protocols/PartialSpoof.LA.cm.{train,dev,eval}.trl.txt
# Writes wav.scp, utt2lab, lab2utt, utt2dur (from file headers), utt2spk and utt2attack per set.
# Idempotent: each file is rewritten whole (atomically) on every run.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <corpus_dir> <data_dir>" >&2
  exit 1
fi
python -m wedefense.bin.prepare_partialspoof "$1" "$2"
