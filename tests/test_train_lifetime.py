"""A training run owns its experiment directory (one run at a time) and its workers end with
their launcher, even one killed with SIGKILL."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

from tests.test_train import TINY_CONFIG, make_set, train_args
from wedefense.bin import train
from wedefense.training.exp_lock import ExpDirLock
from wedefense.training.launcher_watch import LAUNCHER_PID_ENV, die_with_launcher
from wedefense.utils.errors import InputError

HOLD_LOCK = ("import sys; from wedefense.training.exp_lock import ExpDirLock\n"
             "with ExpDirLock(sys.argv[1]):\n    print('held', flush=True); sys.stdin.read()")


@pytest.fixture
def data(tmp_path):
    make_set(tmp_path, "train", 8)
    make_set(tmp_path, "dev", 4, seed=1)
    # long enough to be killed while training; no checkpoint or validation on the way
    with open(tmp_path / "conf.yaml", "w") as f:
        yaml.safe_dump(dict(TINY_CONFIG, num_epochs=100000, save_epoch_interval=100000,
                            validate_interval=100000,
                            dataloader_args={"batch_size": 4, "num_workers": 1}), f)
    return tmp_path


def test_second_run_is_refused_naming_the_holder(data, repo_env, capsys):
    exp = data / "exp"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(exp)], env=repo_env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(SystemExit) as e:
            train.main(train_args(data, exp))
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "in use by another training run" in err, err
        assert f"host {socket.gethostname()} pid {holder.pid} since " in err, err
        assert sorted(os.listdir(exp)) == [".lock"]  # nothing written by the refused run
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock with the process
        holder.wait()
    with ExpDirLock(exp):
        assert f"pid {os.getpid()} " in (exp / ".lock").read_text()


def process_table():
    """``{pid: (ppid, state)}`` of every process."""
    table = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(pid)] = (int(fields[1]), fields[0])
    return table


def descendants(root):
    """Live pids below ``root`` (torchrun starts each worker in a session of its own)."""
    table, found, todo = process_table(), [], [root]
    while todo:
        parent = todo.pop()
        children = [p for p, (pp, _) in table.items() if pp == parent]
        found += children
        todo += children
    return [p for p in found if table[p][1] != "Z"]


def alive(pids):
    table = process_table()
    return [p for p in pids if p in table and table[p][1] != "Z"]


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.mark.parametrize("killed, nproc", [("torchrun", 2), ("run.sh", 1)])
def test_workers_end_when_their_launcher_is_killed(data, repo_env, killed, nproc):
    exp = data / "exp"
    torchrun = [sys.executable, "-m", "wedefense.bin.torchrun", "--standalone",  # as recipes
                "--nproc_per_node", str(nproc), "-m", "wedefense.bin.train",
                *train_args(data, exp)]
    if killed == "run.sh":  # a recipe: exports its pid and waits for torchrun
        cmd = ["bash", "-c", 'export WEDEFENSE_LAUNCHER_PID=$$; "$@"; exit $?', "run.sh",
               *torchrun]
    else:
        cmd = torchrun
    repo_env["OMP_NUM_THREADS"] = "1"
    launcher = subprocess.Popen(cmd, env=repo_env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    workers = []
    try:
        # training: rank 0 holds the lock once every check passed, then the epochs start
        wait_for(lambda: "epoch " in (exp / "train.log").read_text()
                 if (exp / "train.log").exists() else launcher.poll() is not None,
                 120, "training did not start")
        assert launcher.poll() is None, launcher.stderr.read()[-3000:]
        workers = descendants(launcher.pid)
        assert len(workers) >= nproc  # the ranks (and torchrun under run.sh)
        launcher.kill()
        workers = sorted(set(workers + descendants(launcher.pid)))
        wait_for(lambda: not alive(workers), 10,
                 f"still running 10 s after {killed} was killed: {alive(workers)}")
    finally:
        launcher.kill()
        for pid in alive(workers + descendants(launcher.pid)):
            os.kill(pid, signal.SIGKILL)
        launcher.wait()


def test_a_launcher_pid_that_is_not_running_is_refused():
    ended = subprocess.Popen(["true"])
    ended.wait()
    for value, message in ((str(ended.pid), "no such process"), ("abc", "must be a process id")):
        with pytest.raises(InputError, match=message):
            die_with_launcher({LAUNCHER_PID_ENV: value})
