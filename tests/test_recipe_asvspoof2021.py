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


def test_df_run_sh_stages_1_to_7_per_codec_and_source(tmp_path, repo_env):
    """DF as a user runs it: the key's codec, source, attack and vocoder columns each give a
    table whose rows count that value's trials, scored with the training recipe's calibration."""
    import shutil

    from tests.recipe_utils import counts, partialspoof_run, read_results, run_recipe

    root = str(tmp_path / "ASVspoof2021")
    make_tree(root, "DF", DF_LINES, parts=True)
    model_dir = tmp_path / "model"
    shutil.copytree(os.path.join(partialspoof_run()[0], "exp"), model_dir)
    exp = tmp_path / "exp"
    run_recipe(recipe_dir("asvspoof2021_df", "eval_only"), [
        "--corpus_dir", root, "--data", str(tmp_path / "data"), "--model_dir", str(model_dir),
        "--exp_dir", str(exp)], dict(repo_env, SUBSETS="all"))
    fields = [line.split() for line, _ in DF_LINES]
    bona = [f[5] == "bonafide" for f in fields]
    for suffix in ("", "_calibrated"):
        results = read_results(exp / f"results_eval{suffix}.json")
        assert (results["num_bonafide"], results["num_spoof"]) == (sum(bona), len(bona) - sum(bona))
        tables = results["breakdowns"]
        for column, index in (("codec", 2), ("source", 3)):  # conditions: both classes count
            expected = {}
            for f, b in zip(fields, bona):
                n_bona, n_spoof = expected.get(f[index], (0, 0))
                expected[f[index]] = (n_bona + b, n_spoof + (not b))
            assert counts(tables[column]) == {"pooled": (2, 2), **expected}, column
        # attack-like columns: each spoof value against all bona fide trials
        for column, index in (("attack", 4), ("vocoder", 8)):
            assert counts(tables[column]) == {
                "pooled": (2, 2), **{f[index]: (2, 1) for f, b in zip(fields, bona) if not b}}
