#!/usr/bin/env bash
# Stage 1 for ASVspoof 2021 DF (evaluation only): the full keys into data/eval.
#   local/prepare_data.sh <corpus_dir> <data_dir>
# <corpus_dir> holds ASVspoof2021_DF_eval/flac/ (or the ASVspoof2021_DF_eval_part0N/ folders)
# and the unpacked DF-keys-full.tar.gz: keys/DF/CM/trial_metadata.txt (also found under
# DF-keys-full/keys/). Writes data/eval/{wav.scp,utt2lab,lab2utt,utt2dur,utt2spk,utt2attack} and
# data/eval/metadata (meta-labels for stage 7). SUBSETS (default eval) picks the subsets of the
# keys: eval, progress, hidden, a comma-separated list of them, or all.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <corpus_dir> <data_dir>" >&2
  exit 1
fi
python -m wedefense.bin.prepare_asvspoof2021 "$1" "$2" --track DF --subsets "${SUBSETS:-eval}"
