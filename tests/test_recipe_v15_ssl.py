"""The v15 SSL recipes: their run.sh up to where the pretrained SSL checkpoint is needed."""

import os

import pytest

from tests.conftest import make_partialspoof_tree
from tests.recipe_utils import read_lines, recipe_dir, run_recipe
from tests.test_recipe_asvspoof5 import make_tree as make_asvspoof5_tree

pytest.importorskip("transformers")

CORPORA = {"partialspoof": (make_partialspoof_tree, "wav2vec2-large-xlsr-53"),
           "asvspoof5": (make_asvspoof5_tree, "wavlm-base")}


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_stages_1_2_then_a_one_line_error_for_the_missing_checkpoint(corpus, tmp_path,
                                                                      repo_env):
    recipe = recipe_dir(corpus, "v15_ssl")
    # the data preparation is the v03 recipe's own, not a copy
    assert os.path.realpath(os.path.join(recipe, "local")) == \
        os.path.realpath(os.path.join(recipe_dir(corpus), "local"))
    proc = run_recipe(recipe, ["--stop_stage", "1"], repo_env, check=False)
    assert proc.returncode != 0 and "--corpus_dir is required" in proc.stderr
    make_tree, checkpoint = CORPORA[corpus]
    make_tree(str(tmp_path / "corpus"))
    data = tmp_path / "data"
    args = ["--corpus_dir", str(tmp_path / "corpus"), "--data", str(data),
            "--exp_dir", str(tmp_path / "exp")]
    run_recipe(recipe, args + ["--stop_stage", "2"], repo_env)
    for subset in ("train", "dev", "eval"):
        assert read_lines(data / subset / "raw.list")
    proc = run_recipe(recipe, args + ["--stage", "3"], repo_env, check=False)
    assert proc.returncode != 0
    # the worker's one-line message, and no launcher traceback after it
    assert f"error: SSL checkpoint directory './pretrained_models/{checkpoint}' not found" \
        in proc.stderr
    assert "Traceback" not in proc.stderr
