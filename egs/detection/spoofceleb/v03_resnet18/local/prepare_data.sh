#!/usr/bin/env bash
# Stage 1 for SpoofCeleb: parse the metadata CSVs into data/{train,dev,eval}.
#   local/prepare_data.sh <corpus_dir> <data_dir>
# <corpus_dir> is the folder holding spoofceleb/ (or that folder itself):
#   spoofceleb/flac/{train,development,evaluation}/<attack>/<speaker>/*.flac
#   spoofceleb/metadata/{train,development,evaluation}.csv  (header 'file,speaker,attack')
# Writes wav.scp, utt2lab (attack a00 = bonafide), lab2utt, utt2dur, utt2spk and utt2attack for
# each set. Idempotent: each file is rewritten whole (atomically).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <corpus_dir> <data_dir>" >&2
  exit 1
fi
python -m wedefense.bin.prepare_spoofceleb "$1" "$2"
