"""torchrun (``torch.distributed.run``, the same options) without its traceback when a worker
fails: it exits with the first failed worker's exit code, after the worker's own message.
Stage 3 of every recipe launches training through it:

    python -m wedefense.bin.torchrun --standalone --nnodes 1 --nproc_per_node 2 \\
        -m wedefense.bin.train --config conf/resnet.yaml ...

A worker killed by a signal is reported in one line (rank, signal); the exit code is then
128 + the signal's number."""

import sys

from wedefense.training.launch import run_torchrun

if __name__ == "__main__":
    sys.exit(run_torchrun())
