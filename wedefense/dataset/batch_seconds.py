"""Batches of whole utterances: how much padded audio one holds, by device, and which
utterances go together. No torch import, so ``wedefense detect`` starts without loading it
(an ONNX bundle never needs it)."""

# On a CPU, a CNN is compute-bound and batches larger than the caches get slower (a 32-channel
# ResNet18 on 2 cores: 16 s batches 1.3x faster than one at a time, 50 s batches 0.9x;
# benchmarks/results/extract_speed.md).
CPU_BATCH_SECONDS = 16.0
GPU_BATCH_SECONDS = 200.0


def default_batch_seconds(device):
    return CPU_BATCH_SECONDS if str(device).startswith("cpu") else GPU_BATCH_SECONDS


def length_batches(durations, max_padded_total, max_batch_size=64):
    """Group indices sorted by length so a batch pads little: its padded size (longest times
    count, in the units of ``durations``) stays within ``max_padded_total``; never empty."""
    order = sorted(range(len(durations)), key=lambda i: durations[i])
    batches, current = [], []
    for i in order:
        longest = max(durations[i], durations[current[-1]] if current else 0)
        if current and (longest * (len(current) + 1) > max_padded_total
                        or len(current) >= max_batch_size):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
