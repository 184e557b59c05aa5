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

stages_touch -1 1 && need_corpus_dir
select_model recipe ../../asvspoof2019_la/v03_resnet18/exp/ResNet18

# the functions of the stages every task shares are in tools/stage_lib.sh
if stage_in -1; then
  download_corpus
fi

if stage_in 0; then
  synthesize_corpus
fi

if stage_in 1; then
  prepare_data_staged "data dirs from the $corpus_name protocols (local/prepare_data.sh)"
  staging_commit
fi

if stage_in 2; then
  make_lists
fi

if stage_in 3; then
  train_model
fi

if stage_in 4; then
  average_and_extract "model averaging and embeddings"
fi

if stage_in 5; then
  embeddings_to_logits "logits and posteriors"
fi

if stage_in 6; then
  logits_to_llr_staged logits.scp "dev scores" "logits to LLR"
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
  # shellcheck disable=SC2119  # no export options of this task's own
  export_bundle
  # the bundle alone must score audio: check it on the eval list
  python -m wedefense.cli.main detect --model "$exp_dir/bundle" "$data/eval/wav.scp" \
    --out "$exp_dir/bundle_eval_scores.tsv"
fi
