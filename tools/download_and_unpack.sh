#!/usr/bin/env bash
# Fetch one archive of a corpus into <corpus_dir>/downloads/ and unpack it into <corpus_dir>.
#     tools/download_and_unpack.sh <url> <corpus_dir> <archive name> [md5]
# The download is tools/download.sh's (resumable, checked against md5 when one is given). Once
# unpacked, a marker <corpus_dir>/downloads/.<archive>.unpacked keeps reruns from fetching it
# again (delete the archive itself if disk is tight). .zip, .tar.gz/.tgz and .tar are known.
set -euo pipefail

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
  echo "usage: $0 <url> <corpus_dir> <archive> [md5]" >&2
  exit 1
fi
url=$1
dir=$2
archive=$3
md5=${4:-}
me=$(basename "$0")
marker=$dir/downloads/.$archive.unpacked

if [ -f "$marker" ]; then
  echo "$me: $archive is already unpacked in $dir"
  exit 0
fi
mkdir -p "$dir/downloads"
bash "$(dirname "$0")/download.sh" "$url" "$dir/downloads/$archive" ${md5:+"$md5"}
echo "$me: unpacking $archive into $dir"
case $archive in
  *.zip)
    if command -v unzip >/dev/null 2>&1; then
      unzip -q -o "$dir/downloads/$archive" -d "$dir"
    else
      python -m zipfile -e "$dir/downloads/$archive" "$dir"
    fi
    ;;
  *.tar.gz|*.tgz) tar -xzf "$dir/downloads/$archive" -C "$dir" ;;
  *.tar) tar -xf "$dir/downloads/$archive" -C "$dir" ;;
  *) echo "$me: do not know how to unpack $archive" >&2; exit 1 ;;
esac
touch "$marker"
