#!/usr/bin/env bash
# Stage 1 for ASVspoof 2019 LA: parse the CM protocols into data/{train,dev,eval}.
#   local/prepare_data.sh <corpus_dir> <data_dir>
# <corpus_dir> is the folder holding LA/ (or LA/ itself):
#   LA/ASVspoof2019_LA_{train,dev,eval}/flac/LA_{T,D,E}_*.flac
#   LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
# Writes wav.scp, utt2lab, lab2utt, utt2dur (from file headers), utt2spk and utt2attack
# (A01-A19, '-' for bona fide) per set. Idempotent: each file is rewritten whole (atomically).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <corpus_dir> <data_dir>" >&2
  exit 1
fi
python -m wedefense.bin.prepare_asvspoof2019 "$1" "$2"
