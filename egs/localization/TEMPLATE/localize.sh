#!/usr/bin/env bash
# The stages of every localization recipe, written once (the twin of
# egs/detection/TEMPLATE/detect.sh). A recipe's run.sh sets its defaults and hands over:
#     exec ./localize.sh --corpus_name X --config conf/x.yaml ... "$@"
# (each recipe directory links localize.sh -> ../../TEMPLATE/localize.sh).
# Stages: -1 download the corpus into --corpus_dir (local/download_database.sh; only when asked),
#          0 synthesize the corpus (local/make_corpus.sh; recipes that have one),
#          1 data dirs with timestamp tables (local/prepare_data.sh), 2 loader lists,
#          3 train (torchrun; the config says task: localization),
#          4 average + frame embeddings, 5 frame and utterance logits, 6 frame_llr.txt and
#          llr.txt, their calibration (trained on dev) and the spoofed ranges (spoofed_timestamps
#          and spoofed.rttm), 7 scores: results_<set>{,_calibrated}.{txt,json} (segment EER per
#          resolution, range EER, utterance EER, precision/recall/F1 of spoofed time) and
#          results_<set>_utterance{,_calibrated}.{txt,json} (the detection metrics of the
#          utterance LLRs), 8 export a bundle (on request).
# With --skip_train true (evaluation-only corpora), stage 3 trains nothing and stages 4-7 score
# the model of --model_dir, a trained recipe's exp dir, with that recipe's calibration.
# Run in the recipe directory: conf/, local/, data/ and exp/ are the recipe's.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/../../..
# shellcheck source=/dev/null  # the recipe's path.sh (-> tools/path.sh)
. ./path.sh

stage=1
stop_stage=7
corpus_name=corpus     # the corpus, in messages
corpus_dir=""          # the corpus folder (stages -1, 0 and 1)
corpus_hint=""         # what --corpus_dir holds, in messages
corpus_args=""         # extra options for local/make_corpus.sh (stage 0)
data=data
data_type=raw          # raw or shard (stage 2)
config=conf/frame_cnn.yaml
exp_dir=exp/FrameCNN
num_avg=5              # >0: average the last N epochs; <=0: use best_model.pt
num_procs=1            # training processes on this node (one per GPU, or CPU processes)
nnodes=1
node_rank=0
rdzv_endpoint=""       # host:port of node 0, needed when nnodes > 1
train_overrides=""     # extra config overrides, e.g. "--num_epochs 3 --optimizer_args.lr 0.01"
eval_sets="dev eval"
resolutions="0.02 0.04 0.08 0.16 0.32 0.64"  # stage 7: segment EER resolutions (seconds)
export_opts=""         # extra export.py options for stage 8, e.g. "--no_torchscript"
skip_train=false       # true: train nothing, score the model of --model_dir
model_dir=""           # with --skip_train true: the exp dir of a trained recipe
model_name=""          # with --skip_train true: file in <model_dir>/models; default
                       # avg_model.pt if present, else best_model.pt
help_message="usage: bash run.sh --corpus_dir DIR [--stage N --stop_stage N] [--option value ...]
  stages: -1 download (only when asked), 0 synthesize (a corpus that makes itself),
  1 data dirs + timestamps, 2 lists, 3 train, 4 average + frame embeddings, 5 frame logits,
  6 frame LLRs + calibration + spoofed ranges, 7 scores, 8 export a bundle (only when asked:
  --stop_stage 8)"
. tools/parse_options.sh
. tools/stage_lib.sh

stages_touch -1 1 && need_corpus_dir
select_model "localization recipe" ../../partialspoof/v01_frame_cnn/exp/FrameCNN

# the functions of the stages every task shares are in tools/stage_lib.sh
if stage_in -1; then
  download_corpus
fi

if stage_in 0; then
  synthesize_corpus
fi

if stage_in 1; then
  prepare_data_staged "data dirs and timestamp tables from the $corpus_name labels" \
    "(local/prepare_data.sh)"
  for dset in $list_sets; do
    [ -f "$staging/$dset/timestamps" ] ||
      die "local/prepare_data.sh wrote no $data/$dset/timestamps: localization needs one per set"
  done
  staging_commit
fi

if stage_in 2; then
  # the same lists as detection; training and scoring find data/<set>/timestamps beside them
  make_lists
fi

if stage_in 3; then
  train_model
fi

if stage_in 4; then
  # a localization model's embeddings: one (frames, dim) matrix per utterance
  average_and_extract "model averaging and frame embeddings"
fi

if stage_in 5; then
  embeddings_to_logits "frame and utterance logits"
fi

if stage_in 6; then
  # llr.txt and, beside it, frame_llr.txt
  logits_to_llr_staged frame_logits.scp "dev frame logits" \
    "frame and utterance LLRs, calibration, spoofed ranges"
  utt_calibration=$calibration
  frame_calibration=$model_dir/frame_calibration.json
  if [ "$skip_train" = false ]; then
    # prior-weighted logistic regression on dev: utterances, and frames as trials
    utt_calibration=$staging/calibration.json
    frame_calibration=$staging/frame_calibration.json
    python -m wedefense.bin.calibrate train --scores "$staging/posteriors/dev/llr.txt" \
      --keys "$data/dev/utt2lab" --p_spoof 0.05 --c_miss 1 --c_fa 10 --out "$utt_calibration"
    python -m wedefense.bin.calibrate_frames train \
      --scores "$staging/posteriors/dev/frame_llr.txt" --labels "$data/dev/timestamps" \
      --p_spoof 0.05 --c_miss 1 --c_fa 10 --out "$frame_calibration"
  elif [ ! "$calibration" -nt "$model_path" ] || [ ! "$frame_calibration" -nt "$model_path" ]; then
    # the training recipe's calibration is applied only when it was made for this model
    echo "stage 6: no calibration newer than $model_path in $model_dir: raw LLRs only" >&2
    utt_calibration=""
  fi
  for dset in $eval_sets; do
    posteriors=$staging/posteriors/$dset
    ranges_from=$posteriors/frame_llr.txt
    if [ -n "$utt_calibration" ]; then
      python -m wedefense.bin.calibrate apply --model "$utt_calibration" \
        --scores "$posteriors/llr.txt" --out "$posteriors/llr_calibrated.txt"
      python -m wedefense.bin.calibrate_frames apply --model "$frame_calibration" \
        --scores "$posteriors/frame_llr.txt" --out "$posteriors/frame_llr_calibrated.txt"
      ranges_from=$posteriors/frame_llr_calibrated.txt
    fi
    # frames below the Bayes threshold, merged: what a user of the model would be shown
    python -m wedefense.bin.frame_llr_to_ranges --scores "$ranges_from" \
      --timestamps "$posteriors/spoofed_timestamps" --rttm "$posteriors/spoofed.rttm"
  done
  staging_commit
  if [ -z "$utt_calibration" ]; then  # never the calibrated scores of an earlier model
    for dset in $eval_sets; do
      rm -f "$exp_dir/posteriors/$dset/"{llr,frame_llr}_calibrated.txt
    done
  fi
fi

if stage_in 7; then
  echo "stage 7: scoring"
  staging_begin "$exp_dir"
  read -r -a resolution_args <<< "$resolutions"
  for dset in $eval_sets; do
    posteriors=$exp_dir/posteriors/$dset
    attacks=()  # per-attack rows where the corpus names its attacks
    [ -f "$data/$dset/utt2attack" ] && attacks=(--attacks "$data/$dset/utt2attack")
    for suffix in "" _calibrated; do  # before and after calibration
      [ -n "$suffix" ] && [ ! -f "$posteriors/frame_llr$suffix.txt" ] && continue
      python -m wedefense.bin.evaluate_localization --scores "$posteriors/frame_llr$suffix.txt" \
        --labels "$data/$dset/timestamps" --resolutions "${resolution_args[@]}" \
        "${attacks[@]}" --output_txt "$staging/results_$dset$suffix.txt" \
        --output_json "$staging/results_$dset$suffix.json"
      python -m wedefense.bin.evaluate --scores "$posteriors/llr$suffix.txt" \
        --keys "$data/$dset/utt2lab" "${attacks[@]}" \
        --output_txt "$staging/results_${dset}_utterance$suffix.txt" \
        --output_json "$staging/results_${dset}_utterance$suffix.json"
    done
  done
  staging_commit
fi

if stage_in 8; then
  frame_args=()
  [ -f "$model_dir/frame_calibration.json" ] &&
    frame_args=(--frame_calibration "$model_dir/frame_calibration.json")
  export_bundle "${frame_args[@]}"
  # the bundle alone must localize audio: spoofed ranges for the eval list
  python -m wedefense.cli.main detect --model "$exp_dir/bundle" "$data/eval/wav.scp" \
    --out "$exp_dir/bundle_eval_scores.tsv" --segments "$exp_dir/bundle_eval_spoofed.tsv" \
    --rttm "$exp_dir/bundle_eval_spoofed.rttm"
fi
