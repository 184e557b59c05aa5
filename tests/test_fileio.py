"""Atomic writes: all or nothing, and the same permissions as a plain open()."""

import os
import stat

import pytest

from wedefense.utils.fileio import atomic_open, atomic_path


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_outputs_get_the_permissions_of_a_plain_open(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_open(tmp_path / "a.txt") as f:
            f.write("a")
        with atomic_path(tmp_path / "b.bin") as tmp:
            with open(tmp, "wb") as f:
                f.write(b"b")
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("c")
    finally:
        os.umask(old)
    assert mode(tmp_path / "plain.txt") == 0o640
    assert mode(tmp_path / "a.txt") == mode(tmp_path / "b.bin") == 0o640


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "table.txt"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write("half")
            raise RuntimeError("interrupted")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["table.txt"]
