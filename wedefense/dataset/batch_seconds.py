"""How much padded audio one batch of whole utterances holds, by device (no torch import, so
``wedefense detect --help`` can show the defaults without loading it)."""

# On a CPU, a CNN is compute-bound and batches larger than the caches get slower (a 32-channel
# ResNet18 on 2 cores: 16 s batches 1.3x faster than one at a time, 50 s batches 0.9x;
# benchmarks/results/extract_speed.md).
CPU_BATCH_SECONDS = 16.0
GPU_BATCH_SECONDS = 200.0


def default_batch_seconds(device):
    return CPU_BATCH_SECONDS if str(device).startswith("cpu") else GPU_BATCH_SECONDS
