"""EnvSDD recipes: prepare_data.sh (TRACK, SETS) on a fixture tree in the challenge layout."""

import os

import pytest

from tests.recipe_utils import read_lines, recipe_dir, run_script
from tests.test_prepare_envsdd import DEV2, make_tree


@pytest.mark.parametrize("version", ["v03_resnet18", "v15_ssl"])
def test_prepare_data_sh_tracks_and_sets(tmp_path, repo_env, version):
    root = make_tree(str(tmp_path / "EnvSDD"))
    recipe = recipe_dir("envsdd", version)
    data = str(tmp_path / "d1")
    run_script(recipe, ["local/prepare_data.sh", root, data], repo_env)
    assert sorted(os.listdir(data)) == ["dev", "eval", "train"]
    assert not any(u.startswith("bb_") for u in read_lines(os.path.join(data, "train", "utt2lab")))
    data = str(tmp_path / "d2")
    env = dict(repo_env, TRACK="2", SETS="train,dev,eval,test")
    run_script(recipe, ["local/prepare_data.sh", root, data], env)
    assert sorted(os.listdir(data)) == ["dev", "eval", "test", "train"]
    black_box = [u.split()[0] for u in read_lines(os.path.join(data, "train", "utt2lab"))
                 if u.startswith("bb_")]
    assert black_box == [f"bb_{n[:-4]}" for n, _, use in DEV2 if use == "train"]


def test_ssl_config_front_end_is_native_to_transformers():
    """data2vec-audio builds through the SSL front-end from its architecture alone."""
    import torch

    from wedefense.frontend.ssl import SSLFrontend

    frontend = SSLFrontend(config={
        "model_type": "data2vec-audio", "hidden_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 32, "conv_dim": [16, 16],
        "conv_kernel": [10, 3], "conv_stride": [5, 2], "num_conv_pos_embeddings": 8,
        "num_conv_pos_embedding_groups": 2})
    layers, frames = frontend(torch.randn(2, 4000), torch.tensor([4000, 3000]))
    assert layers.shape[:2] == (2, 3) and frames.tolist()[0] > frames.tolist()[1]


@pytest.mark.parametrize("corpus, version, hint", [
    ("envsdd", "v03_resnet18", "development/"), ("envsdd", "v15_ssl", "metadata/*.csv"),
    ("mlaad", "v03_resnet18", "M-AILABS/"), ("spoofceleb", "v03_resnet18", "spoofceleb/flac/"),
    ("asvspoof2021_df", "eval_only", "DF-keys-full.tar.gz")])
def test_run_sh_names_what_corpus_dir_holds(repo_env, corpus, version, hint):
    proc = run_script(recipe_dir(corpus, version), ["run.sh"], repo_env, check=False)
    assert proc.returncode != 0
    assert "--corpus_dir is required" in proc.stderr and hint in proc.stderr


def test_run_sh_trains_and_scores_per_generator_with_test_set(tmp_path, repo_env):
    """Track 1 with the test set added (README.md): dev is broken down by generator, as its
    folders name them; eval and test are pooled (eval names no generator, test one here)."""
    from tests.recipe_utils import TINY_TRAIN, counts, read_results, run_recipe
    from tests.test_prepare_envsdd import DEV1, GENS, TEST

    root = make_tree(str(tmp_path / "EnvSDD"))
    exp = tmp_path / "exp"
    run_recipe(recipe_dir("envsdd", "v03_resnet18"), [
        "--corpus_dir", root, "--data", str(tmp_path / "data"), "--exp_dir", str(exp),
        "--num_avg", "1", "--eval_sets", "dev eval test", "--train_overrides", TINY_TRAIN],
        dict(repo_env, SETS="train,dev,eval,test"))
    n_dev = sum(use == "validation" for *_, use in DEV1)
    for suffix in ("", "_calibrated"):
        dev = read_results(exp / f"results_dev{suffix}.json")
        assert counts(dev["per_attack"]) == {
            "pooled": (n_dev, n_dev * len(GENS)), **{f"{k}-{g}": (n_dev, n_dev) for k, g in GENS}}
        test = read_results(exp / f"results_test{suffix}.json")
        n_real = sum(r[3] == "real" for r in TEST[1])
        assert (test["num_bonafide"], test["num_spoof"]) == (n_real, len(TEST[1]) - n_real)
        # eval's fakes are all 'unknown': one attack, no rows beside the pooled one
        assert set(read_results(exp / f"results_eval{suffix}.json")["per_attack"]) == {"pooled"}
