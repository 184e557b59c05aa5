"""Stage 3's launcher (wedefense.bin.torchrun): torchrun that ends with a failed worker's own
message and exit code, never with torchrun's traceback, in both recipe templates."""

import io
import os
import subprocess
import sys

import pytest
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

from tests.conftest import REPO
from wedefense.training.launch import failure_exit_code

TEMPLATE_RECIPES = {"detection": "egs/detection/demo/v03_resnet18",
                    "localization": "egs/localization/demo/v01_frame_cnn"}


def child_failed(*failures):
    """ChildFailedError of (rank, exitcode, timestamp) failures."""
    found = {}
    for rank, exitcode, timestamp in failures:
        found[rank] = ProcessFailure(local_rank=rank, pid=100 + rank, exitcode=exitcode,
                                     error_file="<N/A>")
        found[rank].timestamp = timestamp
    return ChildFailedError("train", found)


def test_a_worker_exit_code_is_the_launcher_exit_code_and_the_first_failure_wins():
    err = io.StringIO()
    assert failure_exit_code(child_failed((0, 2, 10)), err) == 2
    # rank 1 failed first; rank 0 was then stopped by torchrun
    assert failure_exit_code(child_failed((0, -15, 11), (1, 3, 10)), err) == 3
    assert failure_exit_code(child_failed((0, 0, 10)), err) == 1  # never a success
    assert err.getvalue() == ""  # the worker has said what went wrong


def test_a_worker_killed_by_a_signal_is_one_line_and_128_plus_the_signal():
    err = io.StringIO()
    assert failure_exit_code(child_failed((0, -15, 11), (1, -9, 10)), err) == 137
    assert err.getvalue() == "torchrun: rank 1 (pid 101) was killed by signal 9 (SIGKILL)\n"


def test_the_launcher_reports_a_killed_worker_without_a_traceback(tmp_path, repo_env):
    worker = tmp_path / "worker.py"
    worker.write_text("import os, signal\n"
                      "if os.environ['RANK'] == '1':\n"
                      "    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-m", "wedefense.bin.torchrun", "--standalone",
                           "--nnodes", "1", "--nproc_per_node", "2", str(worker)],
                          env=repo_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 137, proc.stderr
    assert "torchrun: rank 1 (pid " in proc.stderr and "(SIGKILL)" in proc.stderr
    assert "Traceback" not in proc.stderr and "ChildFailedError" not in proc.stderr


@pytest.mark.parametrize("task", sorted(TEMPLATE_RECIPES))
def test_stage_3_rejects_bad_input_in_one_line(task, tmp_path, repo_env):
    """Training refuses an unknown config key before reading any data: the user sees its
    one-line error and its exit code, and no launcher traceback."""
    proc = subprocess.run(
        ["bash", "run.sh", "--stage", "3", "--stop_stage", "3", "--exp_dir",
         str(tmp_path / "exp"), "--data", str(tmp_path / "data"),
         "--train_overrides", "--no_such_key 1"],
        cwd=os.path.join(REPO, TEMPLATE_RECIPES[task]), env=repo_env, capture_output=True,
        text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "stage 3: training in" in proc.stdout
    assert "error: override --no_such_key: unknown key 'no_such_key'" in proc.stderr
    assert "Traceback" not in proc.stderr and "ChildFailedError" not in proc.stderr
    assert not os.path.exists(tmp_path / "exp" / "models")
