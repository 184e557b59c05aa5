#!/usr/bin/env bash
# Stage 1 for MLAAD (spoof) with M-AILABS (bona fide): data/{train,dev,eval}.
#   local/prepare_data.sh <corpus_dir> <data_dir>
# <corpus_dir> holds MLAAD/fake/<language>/<tts model>/*.wav and
# M-AILABS/<locale>/by_book/<gender>/<speaker>/<book>/wavs/*.wav (symlinks are fine). Neither
# corpus has a protocol: TTS models and speakers are split 70/10/20 by a stable hash of their
# names (wedefense/dataset/mlaad.py). Writes wav.scp, utt2lab, lab2utt, utt2dur, utt2spk,
# utt2attack (TTS model) and utt2lang for each set. Idempotent (atomic rewrites).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <corpus_dir> <data_dir>" >&2
  exit 1
fi
python -m wedefense.bin.prepare_mlaad "$1/MLAAD" "$1/M-AILABS" "$2"
