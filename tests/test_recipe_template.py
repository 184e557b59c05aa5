"""The shared stage script egs/detection/TEMPLATE/detect.sh: what every recipe gets from it."""

import os
import re
import shutil

from tests.recipe_utils import RECIPES, partialspoof_run, recipe_dir, run_recipe

RECIPE_DIRS = ["demo/v03_resnet18", "partialspoof/v03_resnet18", "partialspoof/v15_ssl",
               "asvspoof2019_la/v03_resnet18", "asvspoof5/v03_resnet18", "asvspoof5/v15_ssl",
               "in_the_wild/eval_only", "asvspoof2021_la/eval_only", "asvspoof2021_df/eval_only",
               "spoofceleb/v03_resnet18", "mlaad/v03_resnet18", "envsdd/v03_resnet18",
               "envsdd/v15_ssl"]


def snapshot(folder):
    """{relative path: (bytes, mtime)} of every file below folder."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = (f.read(), os.stat(path).st_mtime_ns)
    return out


def test_every_recipe_hands_over_to_the_template():
    template = os.path.join(RECIPES, "TEMPLATE", "detect.sh")
    # fusion recipes combine other recipes' scores: their stages are TEMPLATE/fuse.sh
    found = sorted(os.path.relpath(dirpath, RECIPES) for dirpath, _, files in os.walk(RECIPES)
                   if "run.sh" in files and os.path.basename(dirpath) != "fusion")
    assert found == sorted(RECIPE_DIRS)
    for rel in RECIPE_DIRS:
        d = os.path.join(RECIPES, rel)
        assert os.path.realpath(os.path.join(d, "detect.sh")) == template
        with open(os.path.join(d, "run.sh")) as f:
            text = f.read()
        # a run.sh sets defaults and hands over: no stage of its own
        assert "exec ./detect.sh" in text and "stage_in" not in text
        assert len(text.splitlines()) <= 16


def test_help_lists_every_option_with_the_recipe_value(repo_env):
    out = run_recipe(recipe_dir("asvspoof5"), ["--help", "--num_avg", "3"], repo_env).stdout
    assert out.startswith("usage: bash run.sh --corpus_dir DIR")
    # the recipe's defaults, then the user's options (parsed up to --help), as values
    assert "  --score_extras '--metadata protocol.tsv'\n" in out
    assert "  --config conf/resnet.yaml\n" in out and "  --stage 1\n" in out
    for name in ("stop_stage", "corpus_dir", "data", "data_type", "exp_dir", "num_avg",
                 "num_procs", "nnodes", "node_rank", "rdzv_endpoint", "train_overrides",
                 "eval_sets", "export_opts", "skip_train", "model_dir", "model_name",
                 "plot_embeddings"):
        assert f"  --{name} " in out
    out = run_recipe(recipe_dir("asvspoof5"), ["--num_avg", "3", "--help"], repo_env).stdout
    assert "  --num_avg 3\n" in out
    proc = run_recipe(recipe_dir("asvspoof5"), ["--num_avgg", "3"], repo_env, check=False)
    assert proc.returncode != 0 and "unknown option --num_avgg" in proc.stderr


def test_a_stage_failing_on_its_second_set_changes_nothing(tmp_path, repo_env):
    root, _, _ = partialspoof_run()
    exp = tmp_path / "exp"
    shutil.copytree(os.path.join(root, "exp"), exp)
    before = snapshot(exp)
    # eval's embeddings are broken: stage 5 writes dev first, then fails on eval
    with open(exp / "embeddings" / "eval" / "embedding.scp", "w") as f:
        f.write("CON_E_0000000 nowhere.ark:12\n")
    before["embeddings/eval/embedding.scp"] = snapshot(exp)["embeddings/eval/embedding.scp"]
    args = ["--stage", "5", "--stop_stage", "5", "--data", os.path.join(root, "data"),
            "--exp_dir", str(exp), "--num_avg", "1"]
    proc = run_recipe(recipe_dir("partialspoof"), args, repo_env, check=False)
    assert proc.returncode != 0 and "nowhere.ark" in proc.stderr
    assert snapshot(exp) == before  # dev's old logits untouched, nothing new, no staging left
    # the same for stage 4, failing on eval's list
    os.remove(exp / "embeddings" / "eval" / "embedding.scp")
    before = snapshot(exp)
    data = tmp_path / "data"
    shutil.copytree(os.path.join(root, "data"), data)
    with open(data / "eval" / "raw.list", "w") as f:
        f.write("not json\n")
    args[1:4] = ["4", "--stop_stage", "4"]
    args[args.index("--data") + 1] = str(data)
    proc = run_recipe(recipe_dir("partialspoof"), args, repo_env, check=False)
    assert proc.returncode != 0
    assert snapshot(exp) == before


def test_a_rerun_replaces_outputs_and_repoints_scp_files(tmp_path, repo_env):
    root, _, _ = partialspoof_run()
    exp = tmp_path / "exp"
    shutil.copytree(os.path.join(root, "exp"), exp)
    stale = exp / "posteriors" / "dev" / "logits.ark"
    run_recipe(recipe_dir("partialspoof"), [
        "--stage", "5", "--stop_stage", "5", "--data", os.path.join(root, "data"),
        "--exp_dir", str(exp), "--num_avg", "1"], repo_env)
    assert stale.stat().st_mtime_ns > os.stat(os.path.join(root, "exp", "posteriors", "dev",
                                                            "logits.ark")).st_mtime_ns
    for line in open(exp / "posteriors" / "dev" / "logits.scp"):
        assert line.split()[1].startswith(f"{exp}/posteriors/dev/logits.ark:")
    assert not (exp / ".staging").exists()


def test_recipes_and_docs_call_entry_scripts_one_way():
    from tests.conftest import REPO

    texts = [os.path.join(REPO, "README.md")]
    for top in ("egs", "benchmarks"):
        for dirpath, dirs, files in os.walk(os.path.join(REPO, top)):
            dirs[:] = [d for d in dirs if d not in ("exp", "data", "corpus")]
            texts += [os.path.join(dirpath, f) for f in files if f.endswith((".sh", ".md"))]
    for path in texts:
        with open(path) as f:
            text = f.read()
        assert not re.search(r"wedefense/bin/\w+\.py", text), path
    bin_dir = os.path.join(REPO, "wedefense", "bin")
    for name in os.listdir(bin_dir):
        if name.endswith(".py") and name != "__init__.py":
            with open(os.path.join(bin_dir, name)) as f:
                assert 'if __name__ == "__main__":' in f.read(), name


def test_stage_7_draws_the_embedding_maps_on_request(tmp_path, repo_env):
    root, _, _ = partialspoof_run()
    # stage 7 drew no map by default
    assert not [n for n in os.listdir(os.path.join(root, "exp")) if n.startswith("embedding_map")]
    exp = tmp_path / "exp"
    shutil.copytree(os.path.join(root, "exp"), exp)
    assert os.path.exists(os.path.join(root, "data", "eval", "utt2attack"))
    run_recipe(recipe_dir("partialspoof"), [
        "--stage", "7", "--stop_stage", "7", "--data", os.path.join(root, "data"),
        "--exp_dir", str(exp), "--plot_embeddings", "true"], repo_env)
    for dset in ("dev", "eval"):
        with open(exp / f"embedding_map_{dset}.png", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(exp / ".embedding_map_cache") and not (exp / ".staging").exists()
