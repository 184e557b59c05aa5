#!/usr/bin/env bash
# Stage -1 for LlamaPartialSpoof: download the label files and audio archives from Zenodo
# (record 14214149, v1.0) and unpack them into <corpus_dir>.
#   local/download_database.sh <corpus_dir>
# Afterwards <corpus_dir> holds label_R01TTS.0.{a,b}.txt and R01TTS.0.{a,b}/<utt>.wav, the
# layout local/prepare_data.sh reads. Archives stay in <corpus_dir>/downloads/. Idempotent and
# resumable; only completeness is checked (no MD5s copied: we could not confirm them).
# LLAMAPARTIALSPOOF_URL sets a mirror.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 <corpus_dir>" >&2; exit 1; }
dir=$1
tools=$(cd "$(dirname "$0")/.." && pwd)/tools
base=${LLAMAPARTIALSPOOF_URL:-https://zenodo.org/records/14214149/files}

for part in a b; do
  bash "$tools/download.sh" "$base/label_R01TTS.0.$part.txt?download=1" \
    "$dir/label_R01TTS.0.$part.txt"
  bash "$tools/download_and_unpack.sh" "$base/R01TTS.0.$part.tgz?download=1" "$dir" \
    "R01TTS.0.$part.tgz"
  if [ ! -d "$dir/R01TTS.0.$part" ]; then
    echo "$0: unpacked R01TTS.0.$part.tgz, but $dir/R01TTS.0.$part is missing; check its layout" >&2
    exit 1
  fi
done
echo "$0: LlamaPartialSpoof is ready in $dir"
