#!/usr/bin/env bash
# Stage -1 for ASVspoof 2019 LA: download LA.zip from Edinburgh DataShare and unpack it.
#   local/download_database.sh <corpus_dir>
# Source: https://datashare.ed.ac.uk/handle/10283/3336 (ASVspoof 2019 database; the LA part is
# the single archive LA.zip, about 7 GB). Afterwards <corpus_dir>/LA/ holds the layout
# local/prepare_data.sh reads. The archive stays in <corpus_dir>/downloads/ (delete it once
# unpacked if disk is tight; the .unpacked marker keeps reruns from fetching it again).
# Idempotent and resumable: rerun after an interruption. No MD5 is checked: we found no
# published checksum for LA.zip (UNCONFIRMED), so only completeness is checked.
# ASVSPOOF2019_URL overrides the base URL (a mirror).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 <corpus_dir>" >&2; exit 1; }
dir=$1
fetch=$(cd "$(dirname "$0")/.." && pwd)/tools/download_and_unpack.sh
base=${ASVSPOOF2019_URL:-https://datashare.ed.ac.uk/bitstream/handle/10283/3336}

bash "$fetch" "$base/LA.zip" "$dir" LA.zip
if [ ! -d "$dir/LA/ASVspoof2019_LA_cm_protocols" ]; then
  echo "$0: unpacked, but $dir/LA/ASVspoof2019_LA_cm_protocols is missing" >&2
  exit 1
fi
echo "$0: ASVspoof 2019 LA is ready in $dir"
