#!/usr/bin/env bash
# Stage -1 for ASVspoof 5: download the archives from Zenodo, check their MD5s, unpack them.
#   local/download_database.sh <corpus_dir>
# Source: https://zenodo.org/records/14498691 (ASVspoof 5 database, ODC-By). The MD5s below are
# the ones published in the database's README.txt. Unpacking creates flac_T/, flac_D/,
# flac_E_eval/ and the protocols in <corpus_dir>. About 100 GB in all; the archives stay in
# <corpus_dir>/downloads/ (delete them once unpacked if disk is tight; the .unpacked markers
# keep reruns from fetching them again). Idempotent and resumable: rerun after an interruption.
# ASVSPOOF5_URL overrides the base URL (a mirror holding the same files).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 <corpus_dir>" >&2; exit 1; }
dir=$1
fetch=$(cd "$(dirname "$0")/.." && pwd)/tools/download_and_unpack.sh
base=${ASVSPOOF5_URL:-https://zenodo.org/records/14498691/files}

# archive md5 (from the ASVspoof 5 README.txt)
archives="
ASVspoof5_protocols.tar.gz 865d0e894ea9f686f0f37e5ae3ae3616
flac_T_aa.tar b0cc86b14826a7701b52aad4f53daf9c
flac_T_ab.tar d05be3f4be7a343fdbdd0ed29fdff2e1
flac_T_ac.tar 70d1ba4ad75a20aef3dae541fbd321e3
flac_T_ad.tar c9bb56af2cc410d98338d74babcb95c9
flac_T_ae.tar a3969816982f3e52300d6147ad796df7
flac_D_aa.tar df0be44957623991028cce59792beb17
flac_D_ab.tar 1e8cd685d89b64502692f1bcf1a13db3
flac_D_ac.tar 5e0031f08c30e4bdbf0c59f91b2d662b
flac_E_aa.tar a8c800766f3d4ef87971e2b4f29663e2
flac_E_ab.tar c35064188f54f07c87aba58de22534a0
flac_E_ac.tar ed7cbcd1b2847998b72472ddf6b445e3
flac_E_ad.tar 626a080e994b05df49c577d7b3dede8d
flac_E_ae.tar 05f19a5e64fa556714ae1b38eb2ea70b
flac_E_af.tar 2ca2f52a3bbf827f7ec155ecb47e85d6
flac_E_ag.tar 671200b5de2fc1e74a563b07b057af8f
flac_E_ah.tar eaf885b1299a61eb07f71e82e96dba37
flac_E_ai.tar b2625683bf440abae2af901a45542ad9
flac_E_aj.tar c50281c8233af6f3b0899604d21ade44
"

while read -r archive md5; do
  [ -z "$archive" ] || bash "$fetch" "$base/$archive?download=1" "$dir" "$archive" "$md5"
done <<< "$archives"

for sub in flac_T flac_D flac_E_eval; do
  if [ ! -d "$dir/$sub" ]; then
    echo "$0: unpacked, but $dir/$sub is missing" >&2
    exit 1
  fi
done
if [ ! -f "$dir/ASVspoof5.train.tsv" ] && [ ! -f "$dir/ASVspoof5_protocols/ASVspoof5.train.tsv" ]; then
  echo "$0: unpacked, but ASVspoof5.train.tsv is in neither $dir nor $dir/ASVspoof5_protocols" >&2
  exit 1
fi
echo "$0: ASVspoof 5 is ready in $dir"
