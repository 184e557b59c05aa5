"""SpoofCeleb recipe: prepare_data.sh on a fixture tree in the released layout."""

import os

from tests.recipe_utils import read_lines, recipe_dir, run_script
from tests.test_prepare_spoofceleb import ROWS, make_tree

RECIPE = recipe_dir("spoofceleb")


def test_prepare_data_sh_writes_three_sets(tmp_path, repo_env):
    base = make_tree(str(tmp_path / "SpoofCeleb"))
    data = str(tmp_path / "data")
    run_script(RECIPE, ["local/prepare_data.sh", os.path.dirname(base), data], repo_env)
    assert sorted(os.listdir(data)) == ["dev", "eval", "train"]
    assert read_lines(os.path.join(data, "eval", "utt2attack")) == [
        f"{name[:-5].replace('/', '_')} {'-' if attack == 'a00' else attack}"
        for name, _, attack, _ in ROWS["evaluation"]]


def test_run_sh_trains_and_scores_per_attack(tmp_path, repo_env):
    from tests.recipe_utils import TINY_TRAIN, result_rows, run_recipe

    base = make_tree(str(tmp_path / "SpoofCeleb"))
    exp = tmp_path / "exp"
    run_recipe(RECIPE, ["--corpus_dir", os.path.dirname(base), "--data", str(tmp_path / "data"),
                        "--exp_dir", str(exp), "--num_avg", "1",
                        "--train_overrides", TINY_TRAIN], repo_env)
    assert {"pooled", "a17", "a19"} <= set(result_rows(exp / "results_eval.txt"))
    assert {"pooled", "a06", "a07"} <= set(result_rows(exp / "results_dev.txt"))
