#!/usr/bin/env bash
# ASVspoof 5 Track 1, ResNet18 on fbank, bona fide vs spoof.
#   bash run.sh --corpus_dir /path/to/ASVspoof5 --stage 1 --stop_stage 7
# Stages: -1 download + unpack the corpus into --corpus_dir (only when asked: --stage -1),
#         1 data dirs, 2 loader lists, 3 train (torchrun), 4 average + embeddings,
#         5 logits/posteriors, 6 LLR + calibration, 7 scores (results_<set>.{txt,json}),
#         8 (on request: --stop_stage 8) export a model bundle to <exp_dir>/bundle.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

stage=1
stop_stage=7
corpus_dir=""          # holds flac_T/ flac_D/ flac_E_eval/ + protocols (stages -1 and 1)
data=data
data_type=raw
config=conf/resnet.yaml
exp_dir=exp/ResNet18
num_avg=5              # >0: average the last N epochs; <=0: use best_model.pt
num_procs=1            # training processes on this node (one per GPU, or CPU processes)
nnodes=1
node_rank=0
rdzv_endpoint=""       # host:port of node 0, needed when nnodes > 1
train_overrides=""     # extra config overrides, e.g. "--num_epochs 3 --optimizer_args.lr 0.01"
eval_sets="dev eval"
export_opts=""         # extra export.py options for stage 8, e.g. "--no_torchscript"
help_message="usage: bash run.sh --corpus_dir DIR [--stage N --stop_stage N] [--config FILE]
  (--stage -1 first downloads the corpus into DIR)
  [--exp_dir DIR] [--num_procs N] [--nnodes N --node_rank R --rdzv_endpoint HOST:PORT]
  [--num_avg N] [--train_overrides '--key value ...']"
. tools/parse_options.sh

need_corpus_dir() {
  if [ -z "$corpus_dir" ]; then
    echo "run.sh: --corpus_dir is required: the ASVspoof 5 folder that holds flac_T/, flac_D/, flac_E_eval/ and the protocols" >&2
    echo "run.sh: (no copy yet? 'bash run.sh --stage -1 --stop_stage -1 --corpus_dir DIR'" \
      "downloads it)" >&2
    exit 1
  fi
}

if [ "$stage" -le -1 ] && [ "$stop_stage" -ge -1 ]; then
  need_corpus_dir
  echo "stage -1: downloading ASVspoof 5 into $corpus_dir"
  local/download_database.sh "$corpus_dir"
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  need_corpus_dir
  if [ ! -d "$corpus_dir" ]; then
    echo "run.sh: corpus directory '$corpus_dir' does not exist (download it with --stage -1)" >&2
    exit 1
  fi
  echo "stage 1: data dirs from the ASVspoof 5 Track 1 protocols"
  local/prepare_data.sh "$corpus_dir" "$data"
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  echo "stage 2: $data_type lists"
  for dset in train dev eval; do
    if [ "$data_type" = shard ]; then
      python tools/make_shard_list.py "$data/$dset/wav.scp" "$data/$dset/utt2lab" \
        "$data/$dset/shards" "$data/$dset/shard.list" --num_utts_per_shard 1000 \
        $([ "$dset" = train ] && echo --shuffle)  # mixed labels in every training tar
    else
      python tools/make_raw_list.py "$data/$dset/wav.scp" "$data/$dset/utt2lab" \
        "$data/$dset/raw.list"
    fi
  done
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  echo "stage 3: training in $exp_dir"
  if [ "$nnodes" -gt 1 ]; then
    [ -n "$rdzv_endpoint" ] || { echo "run.sh: --rdzv_endpoint is required with --nnodes > 1" >&2; exit 1; }
    launch=(--nnodes "$nnodes" --node_rank "$node_rank" --rdzv_backend c10d
            --rdzv_endpoint "$rdzv_endpoint" --rdzv_id "$(basename "$exp_dir")")
  else
    launch=(--standalone --nnodes 1)  # rendezvous on a port the OS picks: no clashes
  fi
  resume=()
  ls "$exp_dir"/models/model_*.pt >/dev/null 2>&1 && resume=(--resume)
  # shellcheck disable=SC2086
  torchrun "${launch[@]}" --nproc_per_node "$num_procs" wedefense/bin/train.py \
    --config "$config" --exp_dir "$exp_dir" --data_type "$data_type" \
    --train_data "$data/train/${data_type}.list" --train_label "$data/train/utt2lab" \
    --val_data "$data/dev/${data_type}.list" --val_label "$data/dev/utt2lab" \
    "${resume[@]}" $train_overrides
fi

model_path=$exp_dir/models/best_model.pt
[ "$num_avg" -gt 0 ] && model_path=$exp_dir/models/avg_model.pt

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  echo "stage 4: model averaging and embeddings"
  if [ "$num_avg" -gt 0 ]; then
    python wedefense/bin/average_model.py --src_path "$exp_dir/models" --num "$num_avg" \
      --dst_model "$model_path"
  fi
  for dset in $eval_sets; do
    python wedefense/bin/extract.py --config "$exp_dir/config.yaml" --model_path "$model_path" \
      --data_list "$data/$dset/${data_type}.list" \
      --embed_ark "$exp_dir/embeddings/$dset/embedding.ark"
  done
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  echo "stage 5: logits and posteriors"
  for dset in $eval_sets; do
    python wedefense/bin/infer.py --config "$exp_dir/config.yaml" --model_path "$model_path" \
      --embedding_scp "$exp_dir/embeddings/$dset/embedding.scp" \
      --out_dir "$exp_dir/posteriors/$dset"
  done
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  echo "stage 6: logits to LLR"
  # Calibration is trained on dev, so dev is always converted, and its scores must be this
  # model's: stale ones would silently calibrate another system.
  if [ ! "$exp_dir/posteriors/dev/logits.scp" -nt "$model_path" ]; then
    echo "run.sh: stage 6 needs dev scores of $model_path: run stages 4-5 with dev in" \
      "--eval_sets (now '$eval_sets')" >&2
    exit 1
  fi
  llr_sets=$eval_sets
  [[ " $eval_sets " == *" dev "* ]] || llr_sets="dev $eval_sets"
  for dset in $llr_sets; do
    python wedefense/bin/logits_to_llr.py --config "$exp_dir/config.yaml" \
      --logits_scp "$exp_dir/posteriors/$dset/logits.scp" \
      --output "$exp_dir/posteriors/$dset/llr.txt"
  done
  # calibration (prior-weighted logistic regression): trained on dev, applied to every set
  python wedefense/bin/calibrate.py train --scores "$exp_dir/posteriors/dev/llr.txt" \
    --keys "$data/dev/utt2lab" --p_spoof 0.05 --c_miss 1 --c_fa 10 \
    --out "$exp_dir/calibration.json"
  for dset in $eval_sets; do
    python wedefense/bin/calibrate.py apply --model "$exp_dir/calibration.json" \
      --scores "$exp_dir/posteriors/$dset/llr.txt" \
      --out "$exp_dir/posteriors/$dset/llr_calibrated.txt"
  done
fi

if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
  echo "stage 7: scoring"
  for dset in $eval_sets; do
    for suffix in "" _calibrated; do  # before and after calibration
      python wedefense/bin/evaluate.py --scores "$exp_dir/posteriors/$dset/llr$suffix.txt" \
        --keys "$data/$dset/utt2lab" --metadata "$data/$dset/protocol.tsv" \
        --output_txt "$exp_dir/results_$dset$suffix.txt" \
        --output_json "$exp_dir/results_$dset$suffix.json"
    done
  done
fi

if [ "$stage" -le 8 ] && [ "$stop_stage" -ge 8 ]; then
  echo "stage 8: exporting a self-contained model bundle to $exp_dir/bundle"
  read -r -a export_args <<< "$export_opts"
  [ -f "$exp_dir/calibration.json" ] && export_args+=(--calibration "$exp_dir/calibration.json")
  python wedefense/bin/export.py --exp_dir "$exp_dir" --model "models/$(basename "$model_path")" \
    --out "$exp_dir/bundle" "${export_args[@]}"
  # the bundle alone must score audio: check it on the eval list
  python -m wedefense.cli.main detect --model "$exp_dir/bundle" "$data/eval/wav.scp" \
    --out "$exp_dir/bundle_eval_scores.tsv"
fi
