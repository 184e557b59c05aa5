#!/usr/bin/env bash
# `make demo-localization` from a fresh clone, timed per stage, then the eval metrics at every
# resolution (the numbers recorded in benchmarks/results/demo_localization.md).
#   bash benchmarks/demo_localization.sh [clone_dir]
# VENV=/path/to/venv runs the recipe (stages 0-7, what the make target runs) with that
# environment instead of building .venv in the clone: the set-up time is then left out.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d)/wedefense}
git clone -q "$repo" "$dir"
cd "$dir"
demo() {
  if [ -n "${VENV:-}" ]; then
    (cd egs/localization/demo/v01_frame_cnn && VIRTUAL_ENV=$VENV PATH=$VENV/bin:$PATH \
      bash run.sh --stage 0 --stop_stage 7)
  else
    make demo-localization
  fi
}
start=$(date +%s)
# every output line prefixed with the seconds since the start: stage lines give stage times
demo 2>&1 | while IFS= read -r line; do
  printf '%5d %s\n' "$(($(date +%s) - start))" "$line"
done | tee demo_localization.log | grep -E '^ *[0-9]+ (stage [0-9]|make)'
echo "total: $(($(date +%s) - start)) s (log: $dir/demo_localization.log)"
exp=egs/localization/demo/v01_frame_cnn/exp/FrameCNN_demo
for set in dev eval; do
  for suffix in "" _calibrated; do
    echo "== $set$suffix"
    cat "$exp/results_$set$suffix.txt"
    grep -E '^pooled' "$exp/results_${set}_utterance$suffix.txt"
  done
done
