# shellcheck shell=bash disable=SC2154,SC2034  # variables of the sourcing script, and set for it
# Sourced by the shared stage scripts (egs/*/TEMPLATE/*.sh) after tools/parse_options.sh:
# helpers and the stages every task's template shares, so that a fix to one of them is a fix
# everywhere. Uses the templates' option variables (stage, stop_stage, corpus_dir, data, ...).
# Not a script on its own.

# die MESSAGE...: one line on stderr, exit 1. Messages name run.sh, the script users call.
die() {
  echo "run.sh: $*" >&2
  exit 1
}

# stage_in N: true when stage N is inside --stage .. --stop_stage.
stage_in() {
  [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]
}

# stages_touch FIRST LAST: true when any stage of FIRST..LAST is inside --stage .. --stop_stage.
stages_touch() {
  [ "$stage" -le "$2" ] && [ "$stop_stage" -ge "$1" ]
}

# need_corpus_dir: dies unless --corpus_dir is set, saying how to get the corpus.
need_corpus_dir() {
  local hint=""
  [ -f local/download_database.sh ] &&
    hint=" (no copy yet? 'bash run.sh --stage -1 --stop_stage -1 --corpus_dir DIR' downloads it)"
  [ -n "$corpus_dir" ] || die "--corpus_dir is required: ${corpus_hint:-the $corpus_name folder}$hint"
}

# select_model RECIPE EXAMPLE: the model stages 4-8 score, and the sets stage 2 lists. Sets
# model_dir, model_name, model_path, calibration and list_sets, and with --skip_train true an
# empty exp_dir to exp/<training corpus>_<name of its exp dir>. RECIPE and EXAMPLE describe
# what --model_dir must be, in the message about a wrong one.
select_model() {
  local abs_model_dir
  if [ "$skip_train" = true ]; then
    if stages_touch 4 8; then
      [ -n "$model_dir" ] && [ -f "$model_dir/config.yaml" ] ||
        die "--model_dir must be the exp dir of a trained $1 (with config.yaml and models/)," \
          "e.g. $2; got '$model_dir'"
      if [ -z "$model_name" ]; then
        model_name=best_model.pt
        [ -f "$model_dir/models/avg_model.pt" ] && model_name=avg_model.pt
      fi
      if [ -z "$exp_dir" ]; then
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
}

# torchrun_launch_args EXP_DIR: sets the array launch_args to torchrun's node options, from
# nnodes, node_rank and rdzv_endpoint. Training workers watch WEDEFENSE_LAUNCHER_PID and exit
# when this script dies, even by SIGKILL (torchrun alone would leave them running).
torchrun_launch_args() {
  export WEDEFENSE_LAUNCHER_PID=$$
  if [ "$nnodes" -gt 1 ]; then
    [ -n "$rdzv_endpoint" ] || die "--rdzv_endpoint is required with --nnodes > 1"
    launch_args=(--nnodes "$nnodes" --node_rank "$node_rank" --rdzv_backend c10d
                 --rdzv_endpoint "$rdzv_endpoint" --rdzv_id "$(basename "$1")")
  else
    launch_args=(--standalone --nnodes 1)  # rendezvous on a port the OS picks: no clashes
  fi
}

# All-or-nothing stages. A stage that writes several sets writes them all to a staging folder
# that mirrors its output folder, and moves them into place only once every set succeeded, so
# a failure (or a kill) half way leaves the old outputs as they were and no new ones:
#     staging_begin ROOT          sets $staging (ROOT/.staging, emptied)
#     ... write $staging/<path> for each output ROOT/<path> ...
#     staging_commit [REL_DIR...] moves every staged file to ROOT/<path>; each REL_DIR (say
#                                 train/shards) replaces its old folder whole instead
# Staged .scp, .list and .json files that name staged files (an scp its ark, calibration.json
# its training scores) are re-pointed at the final paths.
# A stage that exits before staging_commit removes its staging folder (EXIT trap); one killed
# outright leaves it to the next staging_begin, which empties it.
staging_begin() {
  _staging_root=${1%/}
  staging=$_staging_root/.staging
  rm -rf "$staging"
  mkdir -p "$staging"
  trap staging_abort EXIT
}

staging_abort() {
  [ -n "${staging:-}" ] && rm -rf "$staging"
  return 0
}

staging_commit() {
  local rel file abs_staging abs_root
  abs_staging=$(cd "$staging" && pwd)
  abs_root=$(cd "$_staging_root" && pwd)
  while IFS= read -r -d '' file; do  # re-point paths in lists before moving anything
    _staging_repoint "$file" "$staging/" "$_staging_root/"
    _staging_repoint "$file" "$abs_staging/" "$abs_root/"
  done < <(find "$staging" -type f \( -name '*.scp' -o -name '*.list' -o -name '*.json' \) -print0)
  for rel in "$@"; do
    if [ -d "$staging/$rel" ]; then
      rm -rf "${_staging_root:?}/$rel"
      mkdir -p "$(dirname "$_staging_root/$rel")"
      mv "$staging/$rel" "$_staging_root/$rel"
    fi
  done
  while IFS= read -r -d '' file; do
    rel=${file#"$staging"/}
    mkdir -p "$(dirname "$_staging_root/$rel")"
    mv -f "$file" "$_staging_root/$rel"
  done < <(find "$staging" -type f -print0)
  rm -rf "$staging"
  staging=""
}

# _staging_repoint FILE OLD NEW: replace the literal prefix OLD by NEW in FILE, in place.
_staging_repoint() {
  local tmp=$1.repoint
  OLD=$2 NEW=$3 awk '{
      i = index($0, ENVIRON["OLD"])
      if (i) $0 = substr($0, 1, i - 1) ENVIRON["NEW"] substr($0, i + length(ENVIRON["OLD"]))
      print
    }' "$1" > "$tmp"
  touch -r "$1" "$tmp"  # keep the mtime: stage 6 compares it with the model's
  mv "$tmp" "$1"
}

# The stages both tasks share. Each prints its "stage N: ..." line (WORDS: the task's own) and
# writes its outputs all-or-nothing (above). One whose name ends in _staged does the shared
# part of its stage: the template adds its task's part, then calls staging_commit.

# stage -1: local/download_database.sh, in recipes that have one
download_corpus() {
  need_corpus_dir
  [ -f local/download_database.sh ] || die "$corpus_name has no download script here" \
    "(local/download_database.sh): get it by hand into --corpus_dir"
  echo "stage -1: downloading $corpus_name into $corpus_dir"
  local/download_database.sh "$corpus_dir"
}

# stage 0: local/make_corpus.sh, in recipes that synthesize their corpus
synthesize_corpus() {
  [ -f local/make_corpus.sh ] || return 0
  need_corpus_dir
  echo "stage 0: synthesizing the $corpus_name corpus in $corpus_dir"
  # shellcheck disable=SC2086  # corpus_args is a list of options
  local/make_corpus.sh "$corpus_dir" $corpus_args
}

# prepare_data_staged WORDS...: stage 1 ("stage 1: WORDS") up to staging_commit: the data dirs
# local/prepare_data.sh writes, in $staging/<set>.
prepare_data_staged() {
  need_corpus_dir
  [ -d "$corpus_dir" ] || die "corpus directory '$corpus_dir' does not exist" \
    "$([ -f local/download_database.sh ] && echo "(download it with --stage -1)")"
  echo "stage 1: $*"
  mkdir -p "$data"
  staging_begin "$data"
  local/prepare_data.sh "$corpus_dir" "$staging"
}

# stage 2: the loader lists (raw.list, or shard.list and its tars) of every set in list_sets
make_lists() {
  local dset replaced=() shuffle
  echo "stage 2: $data_type lists for $list_sets"
  staging_begin "$data"
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
}

# stage 3: training in exp_dir (resumed when it holds checkpoints), under torchrun; a worker's
# failure ends it with the worker's message and exit code (wedefense.bin.torchrun)
train_model() {
  local resume=()
  if [ "$skip_train" = true ]; then
    echo "stage 3: nothing to train (--skip_train true): stages 4-7 score $model_path"
    return 0
  fi
  echo "stage 3: training in $exp_dir"
  torchrun_launch_args "$exp_dir"
  ls "$exp_dir"/models/model_*.pt >/dev/null 2>&1 && resume=(--resume)
  # shellcheck disable=SC2086  # train_overrides is a list of options
  python -m wedefense.bin.torchrun "${launch_args[@]}" --nproc_per_node "$num_procs" \
    -m wedefense.bin.train \
    --config "$config" --exp_dir "$exp_dir" --data_type "$data_type" \
    --train_data "$data/train/${data_type}.list" --train_label "$data/train/utt2lab" \
    --val_data "$data/dev/${data_type}.list" --val_label "$data/dev/utt2lab" \
    "${resume[@]}" $train_overrides
}

# average_and_extract WORDS...: stage 4 ("stage 4: WORDS"): the average of the last --num_avg
# checkpoints (a training recipe), and the embeddings of every eval set from model_path
average_and_extract() {
  local extract_model=$model_path dset
  echo "stage 4: $*"
  mkdir -p "$exp_dir"
  staging_begin "$exp_dir"
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
}

# embeddings_to_logits WORDS...: stage 5 ("stage 5: WORDS"): the logits of every eval set
embeddings_to_logits() {
  local dset
  echo "stage 5: $*"
  staging_begin "$exp_dir"
  for dset in $eval_sets; do
    python -m wedefense.bin.embeddings_to_logits --config "$model_dir/config.yaml" \
      --model_path "$model_path" --embedding_scp "$exp_dir/embeddings/$dset/embedding.scp" \
      --out_dir "$staging/posteriors/$dset"
  done
  staging_commit
}

# logits_to_llr_staged DEV_LOGITS WHAT WORDS...: stage 6 ("stage 6: WORDS") up to calibration:
# $staging/posteriors/<set>/llr.txt (and what else logits_to_llr writes) of every eval set, and
# of dev in a training recipe. DEV_LOGITS, stage 5's file in posteriors/dev, must then be newer
# than the model; WHAT names it in the message.
logits_to_llr_staged() {
  local llr_sets=$eval_sets dset
  echo "stage 6: ${*:3}"
  if [ "$skip_train" = false ]; then
    # Calibration is trained on dev, so dev is always converted, and its scores must be this
    # model's: stale ones would silently calibrate another system.
    [ "$exp_dir/posteriors/dev/$1" -nt "$model_path" ] ||
      die "stage 6 needs $2 of $model_path: run stages 4-5 with dev in" \
        "--eval_sets (now '$eval_sets')"
    [[ " $eval_sets " == *" dev "* ]] || llr_sets="dev $eval_sets"
  fi
  staging_begin "$exp_dir"
  for dset in $llr_sets; do
    python -m wedefense.bin.logits_to_llr --config "$model_dir/config.yaml" \
      --logits_scp "$exp_dir/posteriors/$dset/logits.scp" \
      --output "$staging/posteriors/$dset/llr.txt"
  done
}

# export_bundle [EXPORT_OPTION...]: stage 8 up to checking the bundle: exp_dir/bundle, the
# model trained here with its calibration, --export_opts and EXPORT_OPTIONs
export_bundle() {
  local export_args
  [ "$skip_train" = false ] || die "stage 8 exports the model trained here: run it in" \
    "the recipe that trained $model_dir"
  echo "stage 8: exporting a self-contained model bundle to $exp_dir/bundle"
  read -r -a export_args <<< "$export_opts"
  [ -f "$calibration" ] && export_args+=(--calibration "$calibration")
  python -m wedefense.bin.export --exp_dir "$exp_dir" --model "models/$(basename "$model_path")" \
    --out "$exp_dir/bundle" "${export_args[@]}" "$@"
}
