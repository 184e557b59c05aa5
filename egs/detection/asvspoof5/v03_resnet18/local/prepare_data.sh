#!/usr/bin/env bash
# Stage 1 for ASVspoof 5 Track 1: parse the protocols into data/{train,dev,eval}.
#   local/prepare_data.sh <corpus_dir> <data_dir>
# <corpus_dir> is the folder holding the unpacked archives:
#   flac_T/T_*.flac  flac_D/D_*.flac  flac_E_eval/E_*.flac
#   ASVspoof5.train.tsv ASVspoof5.dev.track_1.tsv ASVspoof5.eval.track_1.tsv
#     (in <corpus_dir> itself or in <corpus_dir>/ASVspoof5_protocols/)
# Writes wav.scp, utt2lab, lab2utt, utt2dur (from file headers), utt2spk, utt2attack (A01-A32,
# '-' for bona fide) and, for per-condition scoring, utt2codec (C01-C11, '-' uncoded),
# utt2codec_q and protocol.tsv (the set's protocol, verbatim). Idempotent (atomic rewrites).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <corpus_dir> <data_dir>" >&2
  exit 1
fi
python -m wedefense.bin.prepare_asvspoof5 "$1" "$2"
