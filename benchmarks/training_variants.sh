#!/usr/bin/env bash
# The demo's training variants against the plain config, one training after another:
#   bash benchmarks/training_variants.sh [--prepare_only | variant ...]   (default: all below)
# Each is scored on dev, eval (with the unseen attack A04) and eval_shifted, a corpus the demo
# synthesizer draws with other voices and another channel (make_demo_corpus --shifted).
# class_balance is measured on an imbalanced demo corpus (10% bona fide, as ASVspoof 2019 LA's
# 1:9), against the plain config on that corpus; both are scored on the same eval sets.
# Logs (with the machine load) go to exp/variants/<variant>.log; the table is printed by
#   python benchmarks/training_variants_table.py egs/detection/demo/v03_resnet18/exp/variants
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo/egs/detection/demo/v03_resnet18"
# shellcheck source=tools/path.sh
. ./path.sh

prepare_only=false
[ "${1:-}" = --prepare_only ] && { prepare_only=true; shift; }
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(plain rawboost noise_reverb imbalanced_plain
                                       imbalanced_class_balance whole_utt codec)

python -m wedefense.bin.make_demo_corpus --out_dir corpus
python -m wedefense.bin.make_demo_corpus --out_dir corpus_shifted --shifted --seed 1 \
  --num_train 2 --num_dev 2 --num_eval 400
python -m wedefense.bin.make_demo_corpus --out_dir corpus_imbalanced --bonafide_fraction 0.1
python -m wedefense.bin.make_demo_corpus --out_dir augment_data --noise_and_rirs
bash run.sh --stage 1 --stop_stage 2
bash run.sh --corpus_dir corpus_imbalanced --data data_imbalanced --stage 1 --stop_stage 2
bash run.sh --corpus_dir corpus_shifted --data data_shifted --stage 1 --stop_stage 2
for data in data data_imbalanced; do  # both score the default eval set and the shifted one
  rm -rf "${data:?}/eval_shifted"
  cp -r data_shifted/eval "$data/eval_shifted"
  if [ "$data" != data ]; then rm -rf "${data:?}/eval"; cp -r data/eval "$data/eval"; fi
  for dset in eval eval_shifted; do
    python tools/make_raw_list.py "$data/$dset/wav.scp" "$data/$dset/utt2lab" "$data/$dset/raw.list"
  done
done

"$prepare_only" && exit 0
mkdir -p exp/variants
for v in "${variants[@]}"; do
  data=data
  case $v in
    plain) config=conf/resnet_demo.yaml ;;
    imbalanced_plain) config=conf/resnet_demo.yaml; data=data_imbalanced ;;
    imbalanced_class_balance) config=conf/resnet_demo_class_balance.yaml; data=data_imbalanced ;;
    *) config=conf/resnet_demo_$v.yaml ;;
  esac
  exp=exp/variants/$v
  [ -f "$exp/results_eval_shifted.json" ] && { echo "$v: done already"; continue; }
  start=3
  [ -f "$exp/models/model_6.pt" ] && start=4  # trained already: score it
  {
    echo "variant $v: $config on $data; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    begin=$(date +%s)
    bash run.sh --stage "$start" --stop_stage 7 --config "$config" --data "$data" \
      --exp_dir "$exp" --eval_sets "dev eval eval_shifted"
    echo "variant $v: $(( $(date +%s) - begin )) s; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
  } > "$exp.log" 2>&1
  tail -1 "$exp.log"
done
