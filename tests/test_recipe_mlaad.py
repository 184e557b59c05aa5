"""MLAAD + M-AILABS recipe: prepare_data.sh on fixture trees in the released layouts."""

import os

from tests.recipe_utils import read_lines, recipe_dir, run_script
from tests.test_prepare_mlaad import make_trees

RECIPE = recipe_dir("mlaad")


def test_prepare_data_sh_reads_both_corpora_under_corpus_dir(tmp_path, repo_env):
    _, _, rows = make_trees(str(tmp_path / "corpus"))
    data = str(tmp_path / "data")
    run_script(RECIPE, ["local/prepare_data.sh", str(tmp_path / "corpus"), data], repo_env)
    for subset in ("train", "dev", "eval"):
        assert read_lines(os.path.join(data, subset, "utt2lab")) == [
            f"{r['utt']} {r['label']}" for r in rows[subset]]


def test_prepare_data_sh_names_a_missing_corpus(tmp_path, repo_env):
    proc = run_script(RECIPE, ["local/prepare_data.sh", str(tmp_path), str(tmp_path / "d")],
                      repo_env, check=False)
    assert proc.returncode != 0 and "M-AILABS folder not found" in proc.stderr
