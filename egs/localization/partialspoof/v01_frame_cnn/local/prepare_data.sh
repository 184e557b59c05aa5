#!/usr/bin/env bash
# Stage 1 for PartialSpoof localization: protocols and official segment labels -> data dirs.
#   local/prepare_data.sh <corpus_dir> <data_dir>
# <corpus_dir> is the folder holding database/ (or database/ itself):
#   database/{train,dev,eval}/con_wav/*.wav
#   database/protocols/PartialSpoof_LA_cm_protocols/PartialSpoof.LA.cm.{train,dev,eval}.trl.txt
#   database/segment_labels/{train,dev,eval}_seglab_<r>.npy   (the finest r is used)
# Writes wav.scp, utt2lab, lab2utt, utt2dur, utt2spk, utt2attack and timestamps per set.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <corpus_dir> <data_dir>" >&2
  exit 1
fi
python -m wedefense.bin.prepare_partialspoof "$1" "$2"
python -m wedefense.bin.prepare_partialspoof_timestamps "$1" "$2"
