"""CPU thread settings for inference on shared machines (no torch import: entry scripts call
:func:`prefer_passive_openmp` before torch loads)."""

import os
import sys


def cpu_threads() -> int:
    """Intra-op threads for CPU inference: every core this process may use, or one when the
    machine is already oversubscribed (load average at or above the core count).

    On a shared machine two threads that wait for each other at every operator lose whenever
    one is descheduled: measured under a load average of 12 on 2 cores, PyTorch with 2 threads
    scored 0.4 utt/s against 3.9 with one (benchmarks/results/inference_paths.md).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores
    return 1 if load >= cores else cores


def prefer_passive_openmp():
    """Make OpenMP threads sleep rather than spin while waiting (unless the user chose).

    Only takes effect before torch is first imported (libgomp reads it when it loads); entry
    scripts call it first thing. Spinning wins a few microseconds per operator on an idle
    machine and loses tenfold on a loaded one (inference_paths.md).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return "torch" not in sys.modules
