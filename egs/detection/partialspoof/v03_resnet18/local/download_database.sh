#!/usr/bin/env bash
# Stage -1 for PartialSpoof: download the corpus from Zenodo and unpack it into <corpus_dir>.
#   local/download_database.sh <corpus_dir>
# Afterwards <corpus_dir>/database/ holds {train,dev,eval}/con_wav/ and protocols/, the layout
# local/prepare_data.sh reads. Archives (Zenodo record 5766198, PartialSpoof v1.2):
#   database_train.tar.gz database_dev.tar.gz database_eval.tar.gz database_protocols.tar.gz
# They are kept in <corpus_dir>/downloads/ (delete them once unpacked if disk is tight; the
# .unpacked markers keep reruns from fetching them again).
# Idempotent and resumable: rerun after an interruption. Zenodo lists an MD5 per file on the
# record page; they are not copied here because we could not confirm them (UNCONFIRMED), so
# only completeness is checked. PARTIALSPOOF_URL overrides the base URL (a mirror).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 <corpus_dir>" >&2; exit 1; }
dir=$1
fetch=$(cd "$(dirname "$0")/.." && pwd)/tools/download_and_unpack.sh
base=${PARTIALSPOOF_URL:-https://zenodo.org/records/5766198/files}

for part in train dev eval protocols; do
  bash "$fetch" "$base/database_$part.tar.gz?download=1" "$dir" "database_$part.tar.gz"
done
if [ ! -d "$dir/database/protocols" ]; then
  echo "$0: unpacked, but $dir/database/protocols is missing; check the archives' layout" >&2
  exit 1
fi
echo "$0: PartialSpoof is ready in $dir"
