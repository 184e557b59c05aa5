#!/usr/bin/env bash
# In-the-Wild: evaluation only. Scores a model trained by another recipe on this corpus
# (cross-corpus test); nothing is trained here.
#   bash run.sh --corpus_dir /path/to/InTheWild \
#     --model_dir ../../asvspoof2019_la/v03_resnet18/exp/ResNet18 --stage 1 --stop_stage 7
# Stages: -1 download + unpack the corpus into --corpus_dir (only when asked: --stage -1),
#         1 data dir (data/eval), 2 raw.list, (3: no training), 4 embeddings,
#         5 logits/posteriors, 6 LLR, 7 scores (results_eval.{txt,json} in --exp_dir).
# The stage commands are those of the training recipes, with the trained model's config.yaml:
# its class list and training class counts set the prior that stage 6 removes.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

stage=1
stop_stage=7
corpus_dir=""          # holds release_in_the_wild/ (required for stages -1 and 1)
model_dir=""           # exp dir of a trained recipe: config.yaml + models/ (stages 4-6)
model_name=""          # file in <model_dir>/models; default avg_model.pt, else best_model.pt
exp_dir=""             # outputs; default exp/<training corpus>_<name of model_dir>
data=data
help_message="usage: bash run.sh --corpus_dir DIR --model_dir TRAINED_EXP_DIR [--stage N --stop_stage N]
  [--model_name avg_model.pt|best_model.pt|model_<epoch>.pt] [--exp_dir DIR]
  (--stage -1 first downloads the corpus into DIR)"
. tools/parse_options.sh

need_corpus_dir() {
  if [ -z "$corpus_dir" ]; then
    echo "run.sh: --corpus_dir is required: the In-the-Wild folder that holds" \
      "release_in_the_wild/" >&2
    echo "run.sh: (no copy yet? 'bash run.sh --stage -1 --stop_stage -1 --corpus_dir DIR'" \
      "downloads it)" >&2
    exit 1
  fi
}
if [ "$stage" -le 1 ] && [ "$stop_stage" -ge -1 ]; then
  need_corpus_dir
fi

if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 4 ]; then
  if [ -z "$model_dir" ] || [ ! -f "$model_dir/config.yaml" ]; then
    echo "run.sh: --model_dir must be the exp dir of a trained recipe (with config.yaml and" \
      "models/), e.g. ../../asvspoof2019_la/v03_resnet18/exp/ResNet18; got '$model_dir'" >&2
    exit 1
  fi
  if [ -z "$model_name" ]; then
    model_name=best_model.pt
    [ -f "$model_dir/models/avg_model.pt" ] && model_name=avg_model.pt
  fi
  model_path=$model_dir/models/$model_name
  if [ "$stage" -le 4 ] && [ ! -f "$model_path" ]; then
    echo "run.sh: model '$model_path' not found (run the training recipe's stages 3-4)" >&2
    exit 1
  fi
  if [ -z "$exp_dir" ]; then
    abs_model_dir=$(cd "$model_dir" && pwd)
    corpus=$(basename "$(dirname "$(dirname "$(dirname "$abs_model_dir")")")")
    exp_dir=exp/${corpus}_$(basename "$abs_model_dir")
  fi
fi

if [ "$stage" -le -1 ] && [ "$stop_stage" -ge -1 ]; then
  need_corpus_dir
  echo "stage -1: downloading In-the-Wild into $corpus_dir"
  local/download_database.sh "$corpus_dir"
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  need_corpus_dir
  if [ ! -d "$corpus_dir" ]; then
    echo "run.sh: corpus directory '$corpus_dir' does not exist (download it with --stage -1)" >&2
    exit 1
  fi
  echo "stage 1: data dir from the In-the-Wild meta.csv"
  local/prepare_data.sh "$corpus_dir" "$data"
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  echo "stage 2: raw list"
  python tools/make_raw_list.py "$data/eval/wav.scp" "$data/eval/utt2lab" "$data/eval/raw.list"
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  echo "stage 4: embeddings with $model_path"
  python wedefense/bin/extract.py --config "$model_dir/config.yaml" --model_path "$model_path" \
    --data_list "$data/eval/raw.list" --embed_ark "$exp_dir/embeddings/eval/embedding.ark"
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  echo "stage 5: logits and posteriors"
  python wedefense/bin/infer.py --config "$model_dir/config.yaml" --model_path "$model_path" \
    --embedding_scp "$exp_dir/embeddings/eval/embedding.scp" \
    --out_dir "$exp_dir/posteriors/eval"
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  echo "stage 6: logits to LLR"
  python wedefense/bin/logits_to_llr.py --config "$model_dir/config.yaml" \
    --logits_scp "$exp_dir/posteriors/eval/logits.scp" \
    --output "$exp_dir/posteriors/eval/llr.txt"
fi

if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
  echo "stage 7: scoring"
  # No --attacks: the corpus names no attack systems (utt2attack says 'unknown' for every
  # spoof), so a per-attack table would repeat the pooled row.
  python wedefense/bin/evaluate.py --scores "$exp_dir/posteriors/eval/llr.txt" \
    --keys "$data/eval/utt2lab" \
    --output_txt "$exp_dir/results_eval.txt" --output_json "$exp_dir/results_eval.json"
fi
