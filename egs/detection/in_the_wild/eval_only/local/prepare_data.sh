#!/usr/bin/env bash
# Stage 1 for In-the-Wild (evaluation only): parse meta.csv into data/eval.
#   local/prepare_data.sh <corpus_dir> <data_dir>
# <corpus_dir> is the folder holding release_in_the_wild/ (or that folder itself):
#   release_in_the_wild/<n>.wav, release_in_the_wild/meta.csv ('file,speaker,label' header,
#   label bona-fide or spoof)
# Writes data/eval/{wav.scp,utt2lab,lab2utt,utt2dur,utt2spk,utt2attack}; the corpus has no
# train or dev sets. Idempotent: each file is rewritten whole (atomically).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <corpus_dir> <data_dir>" >&2
  exit 1
fi
python -m wedefense.bin.prepare_in_the_wild "$1" "$2"
