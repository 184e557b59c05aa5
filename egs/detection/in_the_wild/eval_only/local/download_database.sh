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

if [ $# -ne 1 ]; then
  echo "usage: $0 <corpus_dir>" >&2
  exit 1
fi
dir=$1
tools=$(cd "$(dirname "$0")/.." && pwd)/tools
url=${ITW_URL:-https://owncloud.fraunhofer.de/index.php/s/JZgXh0JEAF0elxa/download}
archive=release_in_the_wild.zip
marker=$dir/downloads/.$archive.unpacked

mkdir -p "$dir/downloads"
if [ -f "$marker" ]; then
  echo "$0: $archive is already unpacked in $dir"
else
  bash "$tools/download.sh" "$url" "$dir/downloads/$archive"
  echo "$0: unpacking $archive into $dir"
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$dir/downloads/$archive" -d "$dir"
  else
    python -m zipfile -e "$dir/downloads/$archive" "$dir"
  fi
  touch "$marker"
fi

if [ ! -f "$dir/release_in_the_wild/meta.csv" ]; then
  echo "$0: unpacked, but $dir/release_in_the_wild/meta.csv is missing" >&2
  exit 1
fi
echo "$0: In-the-Wild is ready in $dir"
