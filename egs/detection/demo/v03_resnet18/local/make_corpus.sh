#!/usr/bin/env bash
# Stage 0 of the demo: synthesize its corpus, in PartialSpoof's layout.
#   local/make_corpus.sh <corpus_dir> [make_demo_corpus options, e.g. --num_train 200 --seed 1]
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 <corpus_dir> [options]" >&2
  exit 1
fi
python -m wedefense.bin.make_demo_corpus --out_dir "$@"
