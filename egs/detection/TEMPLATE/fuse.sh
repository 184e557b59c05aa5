#!/usr/bin/env bash
# Score-level fusion of two or more trained systems of one corpus, written once. A fusion
# directory's run.sh names its systems and hands over:
#   exec ./fuse.sh --systems "../v03_resnet18/exp/ResNet18 ../v15_ssl/exp/X" --data ... "$@"
# (each fusion directory links fuse.sh -> ../../TEMPLATE/fuse.sh; options given to run.sh win).
# A system is an exp dir after stage 6 of its recipe: <exp>/posteriors/<set>/llr.txt for the dev
# set and every eval set, scored on the same data dirs (--data).
# Stages: 1 prior-weighted logistic regression (python -m wedefense.bin.calibrate) trained on the
#           dev scores, applied to each eval set;
#         2 one table per eval set with every system and the fusion side by side
#           (python -m wedefense.bin.compare_scores: results_<set>.{md,json}, bootstrap intervals).
set -euo pipefail
# shellcheck source=tools/path.sh
. ./path.sh

stage=1
stop_stage=2
systems=""                 # two or more exp dirs, in the order of the table
data=""                    # data dirs the systems were scored on (keys: <data>/<set>/utt2lab)
dev_set=dev                # the fusion is trained here
eval_sets="eval"
out_dir=exp/fusion
p_spoof=0.05
c_miss=1
c_fa=10
bootstrap=1000             # resamples for the confidence intervals (0: none)
help_message="usage: bash run.sh [--systems 'EXP_DIR EXP_DIR [...]'] [--data DIR] [--dev_set SET]
  [--eval_sets 'SET ...'] [--out_dir DIR] [--bootstrap N] [--stage N --stop_stage N]
  stages: 1 fusion trained on --dev_set, applied to --eval_sets; 2 tables"
# shellcheck source=tools/parse_options.sh
. tools/parse_options.sh
# shellcheck source=tools/stage_lib.sh
. tools/stage_lib.sh

[ -n "$data" ] || die "--data is required: the data dirs the systems were scored on"
read -r -a exps <<< "$systems"
[ "${#exps[@]}" -ge 2 ] || die "--systems needs two or more exp dirs, got '$systems'"
for exp in "${exps[@]}"; do
  [ -d "$exp" ] || die "system exp dir '$exp' not found: train it with its recipe" \
    "(stages 1-6), or name another with --systems"
done
for dset in $dev_set $eval_sets; do
  [ -f "$data/$dset/utt2lab" ] || die "'$data/$dset/utt2lab' not found: --data must be the" \
    "data dirs the systems were scored on"
  for exp in "${exps[@]}"; do
    [ -f "$exp/posteriors/$dset/llr.txt" ] || die "$exp/posteriors/$dset/llr.txt not found:" \
      "run that recipe's stages 4-6 with $dset in its --eval_sets"
  done
done
scores_of() {  # the systems' score files of one set, in --systems order
  local exp
  for exp in "${exps[@]}"; do
    echo "$exp/posteriors/$1/llr.txt"
  done
}

if stage_in 1; then
  echo "stage 1: fusion of ${#exps[@]} systems trained on $dev_set"
  mkdir -p "$out_dir"
  mapfile -t dev_scores < <(scores_of "$dev_set")
  python -m wedefense.bin.calibrate train --scores "${dev_scores[@]}" \
    --keys "$data/$dev_set/utt2lab" --p_spoof "$p_spoof" --c_miss "$c_miss" --c_fa "$c_fa" \
    --out "$out_dir/fusion.json"
  for dset in $eval_sets; do
    mapfile -t set_scores < <(scores_of "$dset")
    mkdir -p "$out_dir/posteriors/$dset"
    python -m wedefense.bin.calibrate apply --model "$out_dir/fusion.json" \
      --scores "${set_scores[@]}" --out "$out_dir/posteriors/$dset/llr.txt"
  done
fi

if stage_in 2; then
  echo "stage 2: each system and the fusion side by side"
  for dset in $eval_sets; do
    named=()
    for exp in "${exps[@]}"; do
      named+=("$(basename "$exp")=$exp/posteriors/$dset/llr.txt")
    done
    python -m wedefense.bin.compare_scores --keys "$data/$dset/utt2lab" \
      --scores "${named[@]}" "fusion=$out_dir/posteriors/$dset/llr.txt" \
      --p_spoof "$p_spoof" --c_miss "$c_miss" --c_fa "$c_fa" --bootstrap "$bootstrap" \
      --out "$out_dir/results_$dset.md" --output_json "$out_dir/results_$dset.json"
    cat "$out_dir/results_$dset.md"
  done
fi
