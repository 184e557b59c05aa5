"""One training run per experiment directory: ``<exp_dir>/.lock``, held with ``flock`` by the
run's rank 0 and released by the kernel when that process ends, however it ends. The file
names the holder (host, pid, start time) for the message a second run gets."""

import datetime
import fcntl
import os
import socket

from wedefense.utils.errors import InputError

LOCK_NAME = ".lock"


def _refusal(path, fd):
    os.lseek(fd, 0, os.SEEK_SET)
    holder = os.read(fd, 4096).decode(errors="replace").strip() or "unknown holder"
    return InputError(f"the experiment directory is in use by another training run ({holder}); "
                      "wait for it to end or choose another --exp_dir", os.path.dirname(path))


def _try_lock(fd, path):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        error = _refusal(path, fd)
        os.close(fd)
        raise error from None


def check_not_in_use(exp_dir):
    """Refuse at once when another run holds ``exp_dir``; creates nothing."""
    path = os.path.join(exp_dir, LOCK_NAME)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    _try_lock(fd, path)
    os.close(fd)  # not ours to keep yet: lock_exp_dir takes it once the config is accepted


class ExpDirLock:
    """Held from ``__enter__`` (creating ``exp_dir``) to ``__exit__`` or the process's end."""

    def __init__(self, exp_dir):
        self.path = os.path.join(exp_dir, LOCK_NAME)
        self.fd = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        _try_lock(fd, self.path)
        start = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"host {socket.gethostname()} pid {os.getpid()} since {start}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # releases the lock; the file stays (removing it would race)
            self.fd = None
