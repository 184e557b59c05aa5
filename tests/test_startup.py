"""Start-up stays light: the command-line front door parses arguments and prints help without
importing torch or scipy.optimize (together over a second); they load when the work needs them."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("torch", "scipy.optimize")

# Runs the console command in-process, then reports which heavy modules got imported.
RUNNER = """
import json, runpy, sys
sys.argv = ["wedefense"] + sys.argv[1:]
try:
    runpy.run_module("wedefense.cli.main", run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
heavy = sorted(m for m in sys.modules if m in {heavy!r})
print("\\nHEAVY " + json.dumps({{"code": code, "heavy": heavy}}))
""".format(heavy=set(HEAVY))


def imported(*argv):
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.run([sys.executable, "-c", RUNNER, *argv], env=env, capture_output=True,
                          text=True, timeout=120)
    report = json.loads(proc.stdout.rsplit("\nHEAVY ", 1)[1])
    return report["code"], report["heavy"]


@pytest.mark.parametrize("argv", [
    ["evaluate", "--help"],
    ["detect", "--help"],
    ["detect", "a.wav"],              # a usage error (no --model) is reported before any import
    ["--help"],
])
def test_help_and_argument_errors_import_nothing_heavy(argv):
    code, heavy = imported(*argv)
    assert code in (0, 2) and heavy == []


def test_evaluate_runs_without_torch(tmp_path):
    scores, key = tmp_path / "llr.txt", tmp_path / "key"
    scores.write_text("filename\tcm-score\na\t1.5\nb\t-0.5\nc\t0.25\n")
    key.write_text("a bonafide\nb spoof\nc spoof\n")
    code, heavy = imported("evaluate", "--scores", str(scores), "--keys", str(key),
                           "--output_json", str(tmp_path / "r.json"))
    assert code in (0, None) and (tmp_path / "r.json").exists()
    assert "torch" not in heavy  # scipy.optimize is needed here, for minCllr
