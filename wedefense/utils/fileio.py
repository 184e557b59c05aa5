"""Atomic file writes: a reader never sees a half-written output, a crash leaves the old file."""

import contextlib
import os
import tempfile


def _umask():
    try:  # Linux: read it without changing it (os.umask would, for every thread, for a moment)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mkstemp(path, prefix, suffix):
    """mkstemp beside ``path``, but with the permissions a plain ``open()`` would give (mkstemp
    makes 0600 files, which other users of a shared machine could not read)."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=os.path.dirname(path))
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


@contextlib.contextmanager
def atomic_open(path, mode="w", **kwargs):
    """Open a temporary file beside ``path``; rename it over ``path`` only if the block succeeds."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = _mkstemp(os.path.join(directory, os.path.basename(path)),
                       "." + os.path.basename(path) + ".", ".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_path(path):
    """A context manager yielding a temporary path to write by any means; renamed on success."""
    return _AtomicPath(os.fspath(path))


class _AtomicPath:
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        base, ext = os.path.splitext(os.path.basename(self.path))
        fd, self.tmp = _mkstemp(os.path.join(directory, base + ext), "." + base + ".",
                                ".tmp" + ext)
        os.close(fd)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                # on disk before the rename, as in atomic_open: after a crash the new name
                # never points at an empty or partly written file
                fd = os.open(self.tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(self.tmp, self.path)
                return False
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.tmp)
                raise
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)
        return False
