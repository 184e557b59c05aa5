"""The `wedefense` console command and every entry script's --help."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from wedefense.cli import main as cli

ENTRY_SCRIPTS = sorted(f for f in os.listdir(os.path.join(REPO, "wedefense", "bin"))
                       if f.endswith(".py") and f != "__init__.py")


def test_cli_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_cli_dispatches_to_entry_script(tmp_path, capsys):
    (tmp_path / "llr.txt").write_text("filename\tcm-score\na\t2.0\nb\t-1.0\n")
    (tmp_path / "key").write_text("a bonafide\nb spoof\n")
    cli.main(["evaluate", "--scores", str(tmp_path / "llr.txt"), "--keys", str(tmp_path / "key"),
              "--output_json", str(tmp_path / "r.json")])
    assert (tmp_path / "r.json").is_file()


def test_cli_rejects_unknown_command():
    with pytest.raises(SystemExit) as exit_:
        cli.main(["detcet"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("script", ENTRY_SCRIPTS)
def test_entry_script_help(script, repo_env):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "wedefense", "bin", script),
                           "--help"], env=repo_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_logging_follows_stderr_when_a_caller_swaps_and_closes_it(monkeypatch):
    import io
    import logging
    import sys

    from wedefense.utils.cli import setup_logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # a fresh root for basicConfig; restored after
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging()
    logging.getLogger("wedefense.test").info("one")
    first.close()  # what a capturing caller does when it is done
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("wedefense.test").info("two")
    assert "two" in second.getvalue() and "Logging error" not in second.getvalue()
