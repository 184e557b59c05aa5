"""Training workers end with their launcher, even when it is killed with SIGKILL (which it
cannot pass on): a worker started by torchrun asks the kernel for SIGTERM when torchrun dies
(Linux ``PR_SET_PDEATHSIG``) and a thread also watches its parent; with
``WEDEFENSE_LAUNCHER_PID`` set (a recipe exports its own pid, ``$$``, before torchrun) the
thread also ends the worker once that process is gone. A plain ``python`` run is left alone
(``nohup`` may orphan it on purpose). DataLoader workers end with their own parent."""

import ctypes
import os
import signal
import sys
import threading
import time

from wedefense.utils.errors import InputError

LAUNCHER_PID_ENV = "WEDEFENSE_LAUNCHER_PID"
POLL_SECONDS = 0.5
PR_SET_PDEATHSIG = 1
_watching = False


def _process_start(pid):
    """The start time of ``pid`` (tells a reused pid apart), or None if it is gone or a
    zombie; without /proc, True while the pid exists."""
    if not os.path.isdir("/proc/self"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _set_parent_death_signal():
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the watch thread still notices, within POLL_SECONDS


def _end(reason):
    print(f"wedefense.train: {reason}: stopping this worker (pid {os.getpid()})",
          file=sys.stderr, flush=True)
    os._exit(1)


def die_with_launcher(environ=os.environ):
    """Start watching (once per process); no-op outside torchrun without the env var."""
    global _watching
    under_torchrun = "TORCHELASTIC_RUN_ID" in environ
    launcher = environ.get(LAUNCHER_PID_ENV, "").strip()
    if _watching or not (under_torchrun or launcher):
        return
    if launcher and not launcher.isdigit():
        raise InputError(f"{LAUNCHER_PID_ENV} must be a process id, got '{launcher}'")
    launcher_pid = int(launcher) if launcher else None
    launcher_start = launcher_pid and _process_start(launcher_pid)
    if launcher_pid and launcher_start is None:
        raise InputError(f"{LAUNCHER_PID_ENV}={launcher_pid}: no such process (exported by a "
                         "launcher that has ended?)")
    parent = os.getppid()
    if under_torchrun:
        _set_parent_death_signal()

    def watch():
        while True:
            if under_torchrun and os.getppid() != parent:
                _end(f"torchrun (pid {parent}) is gone")
            if launcher_pid and _process_start(launcher_pid) != launcher_start:
                _end(f"the launcher (pid {launcher_pid}, {LAUNCHER_PID_ENV}) is gone")
            time.sleep(POLL_SECONDS)

    threading.Thread(target=watch, name="wedefense-launcher-watch", daemon=True).start()
    _watching = True
