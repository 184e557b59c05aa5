"""Stage 3's launcher: torch's own (``torch.distributed.run``, the ``torchrun`` command, same
options), except for how it ends when a worker fails. The worker has already said what went
wrong (``error: ...`` for bad input); torchrun would add its own traceback and a failure table.
Here it ends with the first failed worker's exit code instead, silently; a worker killed by a
signal gets one line naming its rank and the signal, and exit code 128 + signal, as in a shell."""

import signal
import sys

from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import main as torchrun_main


def failure_exit_code(error: ChildFailedError, stderr=None) -> int:
    """The exit code that reports ``error``'s first failed worker (a line on ``stderr`` for a
    signal)."""
    rank, failure = error.get_first_failure()
    if failure.exitcode > 0:
        return failure.exitcode
    if failure.exitcode == 0:  # torch counts it a failure (say, a rendezvous gone wrong)
        return 1
    signum = -failure.exitcode
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = "an unknown signal"
    print(f"torchrun: rank {rank} (pid {failure.pid}) was killed by signal {signum} ({name})",
          file=stderr or sys.stderr, flush=True)
    return 128 + signum


def run_torchrun(argv=None) -> int:
    """Run torchrun with ``argv`` (default: the command line); its exit code."""
    try:
        torchrun_main(argv)
    except ChildFailedError as e:
        return failure_exit_code(e)
    return 0
