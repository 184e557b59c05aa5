#!/usr/bin/env bash
# Stage 1 for EnvSDD / ESDD 2026: parse the challenge CSVs into data/{train,dev,eval[,test]}.
#   local/prepare_data.sh <corpus_dir> <data_dir>
# <corpus_dir> holds development/{real_audio,fake_audio}/, dev_track2/, eval_track{1,2}/,
# test_track{1,2}/ and metadata/*.csv (the metadata/ folder of github.com/apple-yinhan/EnvSDD).
# TRACK (1 or 2, default 1) picks the challenge track; SETS (default train,dev,eval) the sets,
# add test when its CSV and audio are there. Writes wav.scp, utt2lab (real -> bonafide, fake ->
# spoof), lab2utt, utt2dur, utt2spk and utt2attack for each set. Idempotent (atomic rewrites).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <corpus_dir> <data_dir>" >&2
  exit 1
fi
python -m wedefense.bin.prepare_envsdd "$1" "$2" --track "${TRACK:-1}" \
  --sets "${SETS:-train,dev,eval}"
