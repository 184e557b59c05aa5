#!/usr/bin/env bash
# Resumable download of one file, with an optional MD5 check.
#     tools/download.sh <url> <dest_file> [md5]
# - Idempotent: an existing <dest_file> is only checked (against md5, when one is given) and kept.
# - Resumable: bytes go to <dest_file>.part first (wget -c, or curl -C -); rerunning after an
#   interruption continues from where it stopped. The file is renamed to <dest_file> only once it
#   is complete and its checksum matches, so <dest_file> never holds half a download.
# - Network trouble gives one clear line that says how to fetch the file by hand instead.
# wget is used when installed, else curl; DOWNLOADER=curl (or wget) forces one.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 <url> <dest_file> [md5]" >&2
  exit 1
fi
url=$1
dest=$2
md5=${3:-}
part=$dest.part

md5_of() { md5sum "$1" | cut -d' ' -f1; }

verify() {  # verify <file>: exit non-zero with a message on a checksum mismatch
  [ -n "$md5" ] || return 0
  echo "$(basename "$0"): checking MD5 of $1" >&2
  local got
  got=$(md5_of "$1")
  if [ "$got" != "$md5" ]; then
    echo "$(basename "$0"): MD5 mismatch for $1: expected $md5, got $got" >&2
    return 1
  fi
}

if [ -f "$dest" ]; then
  if verify "$dest"; then
    echo "$(basename "$0"): $dest is already here" >&2
    exit 0
  fi
  echo "$(basename "$0"): remove $dest (or fetch $url again by hand) and rerun" >&2
  exit 1
fi

mkdir -p "$(dirname "$dest")"
downloader=${DOWNLOADER:-}
if [ -z "$downloader" ]; then
  if command -v wget >/dev/null 2>&1; then downloader=wget
  elif command -v curl >/dev/null 2>&1; then downloader=curl
  else
    echo "$(basename "$0"): neither wget nor curl is installed; download $url into $dest by hand" >&2
    exit 1
  fi
fi

echo "$(basename "$0"): fetching $url -> $dest" >&2
rc=0
case $downloader in
  wget) wget --continue --tries=3 --timeout=60 -O "$part" "$url" || rc=$? ;;
  curl) curl --fail --location --retry 3 --connect-timeout 60 -C - -o "$part" "$url" || rc=$? ;;
  *) echo "$(basename "$0"): DOWNLOADER must be wget or curl, got '$downloader'" >&2; exit 1 ;;
esac
if [ "$rc" -ne 0 ]; then
  host=$(printf '%s\n' "$url" | sed -E 's#^[a-z]+://([^/]+).*#\1#')
  # wget: 4 network failure; curl: 5/6 cannot resolve proxy/host, 7 cannot connect, 28 timeout.
  if { [ "$downloader" = wget ] && [ "$rc" -eq 4 ]; } ||
     { [ "$downloader" = curl ] && [[ " 5 6 7 28 35 56 " == *" $rc "* ]]; }; then
    echo "$(basename "$0"): cannot reach $host (no network, a proxy, or a firewall?)." >&2
  else
    echo "$(basename "$0"): $downloader failed with exit code $rc for $url" >&2
  fi
  echo "$(basename "$0"): rerun to resume, or download $url by hand and save it as $dest" >&2
  exit 1
fi
if ! verify "$part"; then
  rm -f "$part"
  echo "$(basename "$0"): removed the corrupt download; rerun to fetch it again" >&2
  exit 1
fi
mv -f "$part" "$dest"
