# shellcheck shell=bash disable=SC2154,SC2034  # variables of the sourcing script, and set for it
# Sourced by the shared stage scripts (egs/*/TEMPLATE/*.sh) after tools/parse_options.sh:
# helpers every task's template uses, so that a fix to one of them is a fix everywhere.
# Needs the variables stage and stop_stage. Not a script on its own.

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
