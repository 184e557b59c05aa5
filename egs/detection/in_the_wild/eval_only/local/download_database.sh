#!/usr/bin/env bash
# Stage -1 for In-the-Wild: download release_in_the_wild.zip and unpack it into <corpus_dir>.
#   local/download_database.sh <corpus_dir>
# Source: the dataset's site https://deepfake-total.com/in_the_wild links the Fraunhofer
# ownCloud share below; a Hugging Face copy is
# https://huggingface.co/datasets/mueller91/In-The-Wild/resolve/main/release_in_the_wild.zip
# (pass it as ITW_URL if the share is slow). About 8 GB. No MD5 is checked: we found no
# published checksum (UNCONFIRMED), so only completeness is checked. The archive stays in
# <corpus_dir>/downloads/; the .unpacked marker keeps reruns from fetching it again.
# Idempotent and resumable: rerun after an interruption.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 <corpus_dir>" >&2; exit 1; }
dir=$1
fetch=$(cd "$(dirname "$0")/.." && pwd)/tools/download_and_unpack.sh
url=${ITW_URL:-https://owncloud.fraunhofer.de/index.php/s/JZgXh0JEAF0elxa/download}

bash "$fetch" "$url" "$dir" release_in_the_wild.zip
if [ ! -f "$dir/release_in_the_wild/meta.csv" ]; then
  echo "$0: unpacked, but $dir/release_in_the_wild/meta.csv is missing" >&2
  exit 1
fi
echo "$0: In-the-Wild is ready in $dir"
