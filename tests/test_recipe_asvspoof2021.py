"""ASVspoof 2021 LA/DF recipes (evaluation only): prepare_data.sh on fixture trees and run.sh."""

import os

import pytest

from tests.recipe_utils import read_lines, recipe_dir, run_script
from tests.test_prepare_asvspoof2021 import DF_LINES, LA_LINES, make_tree

LINES = {"LA": LA_LINES, "DF": DF_LINES}


@pytest.mark.parametrize("track", ["LA", "DF"])
def test_prepare_data_sh_writes_eval_and_metadata(tmp_path, repo_env, track):
    root = str(tmp_path / "ASVspoof2021")
    wavs, _ = make_tree(root, track, LINES[track], parts=track == "DF")
    data = str(tmp_path / "data")
    recipe = recipe_dir(f"asvspoof2021_{track.lower()}", "eval_only")
    run_script(recipe, ["local/prepare_data.sh", root, data], repo_env)
    assert sorted(os.listdir(data)) == ["eval"]
    eval_trials = [line.split()[1] for line, _ in LINES[track] if line.split()[7] == "eval"]
    assert read_lines(os.path.join(data, "eval", "wav.scp")) == [
        f"{t} {wavs[t]}" for t in eval_trials]
    assert [x.split()[0] for x in read_lines(os.path.join(data, "eval", "metadata"))[1:]] == \
        eval_trials
    env = dict(repo_env, SUBSETS="all")
    run_script(recipe, ["local/prepare_data.sh", root, data], env)
    assert len(read_lines(os.path.join(data, "eval", "wav.scp"))) == len(LINES[track])


def test_run_sh_stages_1_to_7_with_breakdowns(tmp_path, repo_env):
    import shutil

    from tests.recipe_utils import partialspoof_run, result_rows, run_recipe

    root = str(tmp_path / "ASVspoof2021")
    make_tree(root, "LA", LA_LINES)
    model_dir = tmp_path / "model"  # the PartialSpoof recipe's tiny model and calibration
    shutil.copytree(os.path.join(partialspoof_run()[0], "exp"), model_dir)
    exp = tmp_path / "exp"
    proc = run_recipe(recipe_dir("asvspoof2021_la", "eval_only"), [
        "--corpus_dir", root, "--data", str(tmp_path / "data"), "--model_dir", str(model_dir),
        "--exp_dir", str(exp)], dict(repo_env, SUBSETS="all"))
    assert "stage 3: nothing to train" in proc.stdout
    rows = result_rows(exp / "results_eval.txt")
    for value in ("pooled", "A07", "A12", "A19", "alaw", "gsm", "ita_tx", "loc_tx", "hidden"):
        assert value in rows, (value, rows)
    assert (exp / "results_eval_calibrated.json").is_file()
