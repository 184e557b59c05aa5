#!/usr/bin/env bash
# Stage -1 for PartialSpoof localization: download the corpus and its segment labels from Zenodo
# and unpack them into <corpus_dir>.
#   local/download_database.sh <corpus_dir>
# Archives (Zenodo record 5766198, PartialSpoof v1.2): database_{train,dev,eval,protocols}.tar.gz
# and database_segment_labels_v1.2.tar.gz, kept in <corpus_dir>/downloads/ (.unpacked markers
# keep reruns from fetching them again). Afterwards <corpus_dir>/database/ holds
# {train,dev,eval}/con_wav/, protocols/ and segment_labels/, the layout local/prepare_data.sh reads.
# Idempotent and resumable. MD5s are on the Zenodo record page; they are not copied here because
# we could not confirm them, so only completeness is checked. PARTIALSPOOF_URL sets a mirror.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 <corpus_dir>" >&2; exit 1; }
dir=$1
fetch=$(cd "$(dirname "$0")/.." && pwd)/tools/download_and_unpack.sh
base=${PARTIALSPOOF_URL:-https://zenodo.org/records/5766198/files}

for part in train dev eval protocols segment_labels_v1.2; do
  bash "$fetch" "$base/database_$part.tar.gz?download=1" "$dir" "database_$part.tar.gz"
done
for sub in protocols segment_labels; do
  if [ ! -d "$dir/database/$sub" ]; then
    echo "$0: unpacked, but $dir/database/$sub is missing; check the archives' layout" >&2
    exit 1
  fi
done
echo "$0: PartialSpoof is ready in $dir"
