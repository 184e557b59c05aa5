#!/usr/bin/env bash
# The stages of every detection recipe, written once. A recipe's run.sh sets its defaults and
# hands over:  exec ./detect.sh --corpus_name X --config conf/x.yaml ... "$@"
# (each recipe directory links detect.sh -> ../../TEMPLATE/detect.sh; a recipe that needs a
# changed stage replaces the link with a copy, see egs/detection/README.md).
# Stages: -1 download the corpus into --corpus_dir (local/download_database.sh; only when asked),
#          0 synthesize the corpus (local/make_corpus.sh; recipes that have one),
#          1 data dirs (local/prepare_data.sh), 2 loader lists, 3 train (torchrun),
#          4 average + embeddings, 5 logits/posteriors, 6 LLR + calibration,
#          7 scores (results_<set>{,_calibrated}.{txt,json}; embedding_map_<set>.png with
#            --plot_embeddings true), 8 export a bundle (on request).
# With --skip_train true (evaluation-only corpora), stage 3 trains nothing and stages 4-7 score
# the model of --model_dir, a trained recipe's exp dir, with that recipe's calibration.
# Run in the recipe directory: conf/, local/, data/ and exp/ are the recipe's.
set -euo pipefail
# shellcheck source=tools/path.sh
. ./path.sh

stage=1
stop_stage=7
corpus_name=corpus     # the corpus, in messages
corpus_dir=""          # the corpus folder (stages -1, 0 and 1)
corpus_hint=""         # what --corpus_dir holds, in messages
corpus_args=""         # extra options for local/make_corpus.sh (stage 0)
data=data
data_type=raw          # raw or shard (stage 2)
config=conf/resnet.yaml
exp_dir=exp/ResNet18
num_avg=5              # >0: average the last N epochs; <=0: use best_model.pt
num_procs=1            # training processes on this node (one per GPU, or CPU processes)
nnodes=1
node_rank=0
rdzv_endpoint=""       # host:port of node 0, needed when nnodes > 1
train_overrides=""     # extra config overrides, e.g. "--num_epochs 3 --optimizer_args.lr 0.01"
eval_sets="dev eval"
score_extras=""        # stage 7: evaluate.py options and their data/<set> tables, e.g.
                       # "--attacks utt2attack" or "--metadata protocol.tsv"
plot_embeddings=false  # stage 7: also draw each set's embeddings in 2-D (t-SNE, needs the
                       # plot extra) as embedding_map_<set>.png
export_opts=""         # extra export.py options for stage 8, e.g. "--no_torchscript"
skip_train=false       # true: train nothing, score the model of --model_dir
model_dir=""           # with --skip_train true: the exp dir of a trained recipe
model_name=""          # with --skip_train true: file in <model_dir>/models; default
                       # avg_model.pt if present, else best_model.pt
help_message="usage: bash run.sh --corpus_dir DIR [--stage N --stop_stage N] [--option value ...]
  stages: -1 download (only when asked), 0 synthesize (a corpus that makes itself), 1 data dirs,
  2 lists, 3 train, 4 average + embeddings, 5 logits, 6 LLR + calibration, 7 scores,
  8 export a bundle (only when asked: --stop_stage 8)"
# shellcheck source=tools/parse_options.sh
. tools/parse_options.sh
# shellcheck source=tools/stage_lib.sh
. tools/stage_lib.sh

need_corpus_dir() {
  local hint=""
  [ -f local/download_database.sh ] &&
    hint=" (no copy yet? 'bash run.sh --stage -1 --stop_stage -1 --corpus_dir DIR' downloads it)"
  [ -n "$corpus_dir" ] || die "--corpus_dir is required: ${corpus_hint:-the $corpus_name folder}$hint"
}

stages_touch -1 1 && need_corpus_dir

# the model stages 4-7 score, and where its config and calibration are
if [ "$skip_train" = true ]; then
  if stages_touch 4 8; then
    [ -n "$model_dir" ] && [ -f "$model_dir/config.yaml" ] ||
      die "--model_dir must be the exp dir of a trained recipe (with config.yaml and models/)," \
        "e.g. ../../asvspoof2019_la/v03_resnet18/exp/ResNet18; got '$model_dir'"
    if [ -z "$model_name" ]; then
      model_name=best_model.pt
      [ -f "$model_dir/models/avg_model.pt" ] && model_name=avg_model.pt
    fi
    if [ -z "$exp_dir" ]; then  # exp/<training corpus>_<name of its exp dir>
      abs_model_dir=$(cd "$model_dir" && pwd)
      exp_dir=exp/$(basename "$(dirname "$(dirname "$(dirname "$abs_model_dir")")")")
      exp_dir=${exp_dir}_$(basename "$abs_model_dir")
    fi
  fi
  model_path=$model_dir/models/$model_name
  list_sets=$eval_sets
else
  [ "$skip_train" = false ] || die "--skip_train takes true or false, got '$skip_train'"
  model_dir=$exp_dir
  model_path=$exp_dir/models/best_model.pt
  [ "$num_avg" -gt 0 ] && model_path=$exp_dir/models/avg_model.pt
  # shellcheck disable=SC2086  # eval_sets is a list
  list_sets=$(printf '%s\n' train dev $eval_sets | awk '!seen[$0]++' | tr '\n' ' ')
fi
calibration=$model_dir/calibration.json

if stage_in -1; then
  need_corpus_dir
  [ -f local/download_database.sh ] || die "$corpus_name has no download script here" \
    "(local/download_database.sh): get it by hand into --corpus_dir"
  echo "stage -1: downloading $corpus_name into $corpus_dir"
  local/download_database.sh "$corpus_dir"
fi

if stage_in 0 && [ -f local/make_corpus.sh ]; then
  need_corpus_dir
  echo "stage 0: synthesizing the $corpus_name corpus in $corpus_dir"
  # shellcheck disable=SC2086
  local/make_corpus.sh "$corpus_dir" $corpus_args
fi

if stage_in 1; then
  need_corpus_dir
  [ -d "$corpus_dir" ] || die "corpus directory '$corpus_dir' does not exist" \
    "$([ -f local/download_database.sh ] && echo "(download it with --stage -1)")"
  echo "stage 1: data dirs from the $corpus_name protocols (local/prepare_data.sh)"
  mkdir -p "$data"
  staging_begin "$data"
  local/prepare_data.sh "$corpus_dir" "$staging"
  staging_commit
fi

if stage_in 2; then
  echo "stage 2: $data_type lists for $list_sets"
  staging_begin "$data"
  replaced=()
  for dset in $list_sets; do
    mkdir -p "$staging/$dset"
    if [ "$data_type" = shard ]; then
      shuffle=()
      [ "$dset" = train ] && shuffle=(--shuffle)  # mixed labels in every training tar
      python tools/make_shard_list.py "$data/$dset/wav.scp" "$data/$dset/utt2lab" \
        "$staging/$dset/shards" "$staging/$dset/shard.list" --num_utts_per_shard 1000 \
        "${shuffle[@]}"
      replaced+=("$dset/shards")
    else
      python tools/make_raw_list.py "$data/$dset/wav.scp" "$data/$dset/utt2lab" \
        "$staging/$dset/raw.list"
    fi
  done
  staging_commit "${replaced[@]}"
fi

if stage_in 3; then
  if [ "$skip_train" = true ]; then
    echo "stage 3: nothing to train (--skip_train true): stages 4-7 score $model_path"
  else
    echo "stage 3: training in $exp_dir"
    torchrun_launch_args "$exp_dir"
    resume=()
    ls "$exp_dir"/models/model_*.pt >/dev/null 2>&1 && resume=(--resume)
    # shellcheck disable=SC2086
    python -m wedefense.bin.torchrun "${launch_args[@]}" --nproc_per_node "$num_procs" \
      -m wedefense.bin.train \
      --config "$config" --exp_dir "$exp_dir" --data_type "$data_type" \
      --train_data "$data/train/${data_type}.list" --train_label "$data/train/utt2lab" \
      --val_data "$data/dev/${data_type}.list" --val_label "$data/dev/utt2lab" \
      "${resume[@]}" $train_overrides
  fi
fi

if stage_in 4; then
  echo "stage 4: model averaging and embeddings"
  mkdir -p "$exp_dir"
  staging_begin "$exp_dir"
  extract_model=$model_path
  if [ "$skip_train" = true ]; then
    [ -f "$model_path" ] || die "model '$model_path' not found (run the training recipe's stages 3-4)"
  elif [ "$num_avg" -gt 0 ]; then
    extract_model=$staging/models/$(basename "$model_path")
    python -m wedefense.bin.average_model --src_path "$exp_dir/models" --num "$num_avg" \
      --dst_model "$extract_model"
  fi
  for dset in $eval_sets; do
    python -m wedefense.bin.extract --config "$model_dir/config.yaml" \
      --model_path "$extract_model" --data_list "$data/$dset/${data_type}.list" \
      --embed_ark "$staging/embeddings/$dset/embedding.ark"
  done
  staging_commit
fi

if stage_in 5; then
  echo "stage 5: logits and posteriors"
  staging_begin "$exp_dir"
  for dset in $eval_sets; do
    python -m wedefense.bin.embeddings_to_logits --config "$model_dir/config.yaml" \
      --model_path "$model_path" --embedding_scp "$exp_dir/embeddings/$dset/embedding.scp" \
      --out_dir "$staging/posteriors/$dset"
  done
  staging_commit
fi

if stage_in 6; then
  echo "stage 6: logits to LLR"
  llr_sets=$eval_sets
  if [ "$skip_train" = false ]; then
    # Calibration is trained on dev, so dev is always converted, and its scores must be this
    # model's: stale ones would silently calibrate another system.
    [ "$exp_dir/posteriors/dev/logits.scp" -nt "$model_path" ] ||
      die "stage 6 needs dev scores of $model_path: run stages 4-5 with dev in" \
        "--eval_sets (now '$eval_sets')"
    [[ " $eval_sets " == *" dev "* ]] || llr_sets="dev $eval_sets"
  fi
  staging_begin "$exp_dir"
  for dset in $llr_sets; do
    python -m wedefense.bin.logits_to_llr --config "$model_dir/config.yaml" \
      --logits_scp "$exp_dir/posteriors/$dset/logits.scp" \
      --output "$staging/posteriors/$dset/llr.txt"
  done
  apply_calibration=$calibration
  if [ "$skip_train" = false ]; then
    # prior-weighted logistic regression, trained on dev, applied to every set
    apply_calibration=$staging/calibration.json
    python -m wedefense.bin.calibrate train --scores "$staging/posteriors/dev/llr.txt" \
      --keys "$data/dev/utt2lab" --p_spoof 0.05 --c_miss 1 --c_fa 10 \
      --out "$apply_calibration"
  elif [ ! "$calibration" -nt "$model_path" ]; then
    # the training recipe's calibration is applied only when it was made for this model
    echo "stage 6: no calibration newer than $model_path in $model_dir: raw LLRs only" >&2
    apply_calibration=""
  fi
  for dset in $eval_sets; do
    [ -n "$apply_calibration" ] || continue
    python -m wedefense.bin.calibrate apply --model "$apply_calibration" \
      --scores "$staging/posteriors/$dset/llr.txt" \
      --out "$staging/posteriors/$dset/llr_calibrated.txt"
  done
  staging_commit
  if [ -z "$apply_calibration" ]; then  # never the calibrated scores of an earlier model
    for dset in $eval_sets; do rm -f "$exp_dir/posteriors/$dset/llr_calibrated.txt"; done
  fi
fi

if stage_in 7; then
  echo "stage 7: scoring"
  staging_begin "$exp_dir"
  stale=()
  for dset in $eval_sets; do
    extras=()
    read -r -a score_pairs <<< "$score_extras"
    for ((i = 0; i + 1 < ${#score_pairs[@]}; i += 2)); do
      extras+=("${score_pairs[i]}" "$data/$dset/${score_pairs[i + 1]}")
    done
    for suffix in "" _calibrated; do  # before and after calibration
      llr=$exp_dir/posteriors/$dset/llr$suffix.txt
      if [ -n "$suffix" ] && [ ! -f "$llr" ]; then  # no calibration (--skip_train)
        stale+=("$exp_dir/results_$dset$suffix".{txt,json})
        continue
      fi
      python -m wedefense.bin.evaluate --scores "$llr" --keys "$data/$dset/utt2lab" \
        "${extras[@]}" --output_txt "$staging/results_$dset$suffix.txt" \
        --output_json "$staging/results_$dset$suffix.json"
    done
    if [ "$plot_embeddings" = true ]; then
      attack_args=()
      [ -f "$data/$dset/utt2attack" ] && attack_args=(--utt2attack "$data/$dset/utt2attack")
      # the projection cache outlives the staging folder, so a redraw is instant
      python -m wedefense.bin.plot_embeddings --scp "$exp_dir/embeddings/$dset/embedding.scp" \
        --utt2lab "$data/$dset/utt2lab" "${attack_args[@]}" \
        --cache_dir "$exp_dir/.embedding_map_cache" --out "$staging/embedding_map_$dset.png"
    fi
  done
  staging_commit
  rm -f "${stale[@]}"  # never the results of an earlier model's calibration
fi

if stage_in 8; then
  [ "$skip_train" = false ] || die "stage 8 exports the model trained here: run it in" \
    "the recipe that trained $model_dir"
  echo "stage 8: exporting a self-contained model bundle to $exp_dir/bundle"
  read -r -a export_args <<< "$export_opts"
  [ -f "$calibration" ] && export_args+=(--calibration "$calibration")
  python -m wedefense.bin.export --exp_dir "$exp_dir" --model "models/$(basename "$model_path")" \
    --out "$exp_dir/bundle" "${export_args[@]}"
  # the bundle alone must score audio: check it on the eval list
  python -m wedefense.cli.main detect --model "$exp_dir/bundle" "$data/eval/wav.scp" \
    --out "$exp_dir/bundle_eval_scores.tsv"
fi
