#!/usr/bin/env bash
# Every GPU check of the project in one command, for a GPU machine lent for a few minutes:
#   - training engine (issue 5): ResNet18 under torchrun on NCCL from shards, fbank on the GPU
#     vs in the loader, fp32 vs bf16, data-wait vs compute split (gpu_train_check.py);
#   - extraction (issue 7): batched vs one at a time on the GPU (extract_speed.py);
#   - SSL front-ends (issue 8): base and large wav2vec 2.0 + MHFA, bf16, batch 32 x 4 s, frozen
#     and fine-tuned, throughput and peak memory (ssl_gpu_throughput.py);
#   - CPU inference paths (issue 17): every exact and int8 path of a bundle side by side on two
#     idle cores of the GPU machine (taskset), the idle-machine figures the shared build
#     machine cannot give (inference_paths.py);
#   - localization model (issue 17 item 5): a hook, localization_check, that runs
#     benchmarks/localization_gpu.py once the frame-level models (FrameCNN) have landed.
#
#   bash benchmarks/gpu_checks.sh OUT_DIR           # on the GPU machine, from the repo root
#   SMOKE=1 bash benchmarks/gpu_checks.sh /tmp/x    # tiny sizes, to check the script on a CPU
#
# Each check has its own time limit and a failure does not stop the others; OUT_DIR gets one
# log and one result file per check, plus env.txt. A machine without soundfile, webdataset or
# kaldiio (a bare GPU image with torch and transformers, no network) takes them as wheels from
# .whl/, which `make gpu-wheels` fills on a machine with network access.
set -euo pipefail

out=${1:?usage: bash benchmarks/gpu_checks.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}

if ! $python -c 'import soundfile, webdataset, kaldiio' 2>/dev/null; then
  $python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/wedefense_site .whl/*.whl
  export PYTHONPATH=/tmp/wedefense_site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  $python -c 'import torch, transformers; print("torch", torch.__version__, "cuda",
    torch.cuda.is_available(), "transformers", transformers.__version__)' 2>&1
} | tee "$out/env.txt"

if [ -n "${SMOKE:-}" ]; then
  train_args="--num_utts 16 --steps 3 --warmup 1 --batch_size 4 --num_workers 1"
  extract_args="--num_utts 6 --repeats 1 --m_channels 8 --device cpu"
  ssl_args="--tiny --device cpu --batch_size 2 --seconds 1 --steps 2 --warmup 1"
  paths_args="--m_channels 8 --num_utts 2 --rounds 1"
else
  train_args=""
  extract_args="--num_utts 200 --repeats 2 --m_channels 32 --device cuda --max_batch_seconds 50 200"
  ssl_args=""
  paths_args="--m_channels 32 --num_utts 16 --rounds 3"
fi
cpu_pin=""
if command -v taskset >/dev/null; then cpu_pin="taskset -c 0,1"; fi

status=0
check() {  # name, time limit (s), command...
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit}s): $*"
  local start=$SECONDS rc=0
  timeout "$limit" "$@" >"$out/$name.log" 2>&1 || rc=$?
  tail -n 25 "$out/$name.log"
  echo "== $name: exit $rc after $((SECONDS - start))s"
  if [ "$rc" -ne 0 ]; then status=1; fi
}

# shellcheck disable=SC2086
check gpu_train_check 240 $python -m torch.distributed.run --standalone --nproc_per_node 1 \
  benchmarks/gpu_train_check.py $train_args --out "$out/gpu_train_check.jsonl"
# shellcheck disable=SC2086
check extract_speed 90 $python benchmarks/extract_speed.py $extract_args \
  --out "$out/extract_speed.jsonl"
# shellcheck disable=SC2086
check ssl_gpu_throughput 200 $python benchmarks/ssl_gpu_throughput.py $ssl_args \
  --out "$out/ssl_gpu.md"
# shellcheck disable=SC2086
check inference_paths 300 env OMP_WAIT_POLICY=PASSIVE $cpu_pin $python \
  benchmarks/inference_paths.py $paths_args
# Hook for the localization model: skipped until benchmarks/localization_gpu.py exists (it
# arrives with the frame-level models, FrameCNN; give it the same SMOKE/full arguments).
if [ -f benchmarks/localization_gpu.py ]; then
  # shellcheck disable=SC2086
  check localization_check 200 $python benchmarks/localization_gpu.py \
    ${SMOKE:+--smoke} --out "$out/localization_gpu.jsonl"
else
  echo "== localization_check: skipped (benchmarks/localization_gpu.py not there yet)"
fi
exit $status
