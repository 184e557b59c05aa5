"""egs/detection/demo/fusion: two systems' scores fused on dev, applied to eval, one table."""

import json
import os

import numpy as np
import pytest

from tests.recipe_utils import RECIPES, run_script
from wedefense.bin import compare_scores
from wedefense.metrics.cross_corpus import split_by_label
from wedefense.metrics.detection import compute_metrics
from wedefense.metrics.scores_io import read_scores

RECIPE = os.path.join(RECIPES, "demo", "fusion")


def fake_systems(root, n=120, seed=0):
    """Two exp dirs of llr.txt for dev and eval (ASVspoof5 layout) whose errors are
    independent, and the data dirs' utt2lab: the fusion must beat both systems."""
    rng = np.random.default_rng(seed)
    exps = [os.path.join(root, "exp", name) for name in ("resnet", "rawnet2")]
    for dset in ("dev", "eval"):
        utts = [f"{dset}_{i:03d}" for i in range(n)]
        bona = rng.random(n) < 0.4
        os.makedirs(os.path.join(root, "data", dset))
        with open(os.path.join(root, "data", dset, "utt2lab"), "w") as f:
            f.writelines(f"{u} {'bonafide' if b else 'spoof'}\n" for u, b in zip(utts, bona))
        for k, exp in enumerate(exps):
            # the second system is worse and badly calibrated (scaled and shifted)
            scores = (2.0 * bona - 1.0) * 1.2 + rng.standard_normal(n)
            scores = scores if k == 0 else 3.0 * (0.8 * scores) + 2.0
            os.makedirs(os.path.join(exp, "posteriors", dset))
            with open(os.path.join(exp, "posteriors", dset, "llr.txt"), "w") as f:
                f.write("filename\tcm-score\n")
                f.writelines(f"{u}\t{s:.6f}\n" for u, s in zip(utts, scores))
    return exps


def test_fusion_recipe_reports_each_system_and_the_fusion(tmp_path, repo_env):
    exps = fake_systems(str(tmp_path))
    out = tmp_path / "fusion"
    run_script(RECIPE, ["run.sh", "--systems", " ".join(exps), "--data", str(tmp_path / "data"),
                        "--out_dir", str(out), "--bootstrap", "20"], repo_env)
    fusion = json.loads((out / "fusion.json").read_text())
    assert fusion["num_systems"] == 2
    table = json.loads((out / "results_eval.json").read_text())
    assert [r["system"] for r in table["systems"]] == ["resnet", "rawnet2", "fusion"]
    keys = str(tmp_path / "data" / "eval" / "utt2lab")
    for row in table["systems"]:
        expected = compute_metrics(*split_by_label(read_scores(row["scores"]), keys))
        for metric in ("min_dcf", "eer", "cllr", "act_dcf"):
            assert row[metric] == pytest.approx(expected[metric], abs=1e-9)
        assert set(row["intervals"]) == {"min_dcf", "eer", "cllr", "act_dcf"}
    resnet, rawnet2, fused = table["systems"]
    # independent errors: the fusion separates better than either system, and the
    # miscalibrated system's Cllr is repaired by the dev-trained weights
    assert fused["eer"] < min(resnet["eer"], rawnet2["eer"])
    assert fused["cllr"] < rawnet2["cllr"]
    text = (out / "results_eval.md").read_text()
    assert text.count("\n| ") == 4 and "| fusion |" in text


def test_fusion_recipe_needs_two_systems_with_scores(tmp_path, repo_env):
    exps = fake_systems(str(tmp_path))
    proc = run_script(RECIPE, ["run.sh", "--systems", exps[0], "--data",
                               str(tmp_path / "data")], repo_env, check=False)
    assert proc.returncode != 0 and "two or more" in proc.stderr
    os.remove(os.path.join(exps[1], "posteriors", "eval", "llr.txt"))
    proc = run_script(RECIPE, ["run.sh", "--systems", " ".join(exps), "--data",
                               str(tmp_path / "data"), "--out_dir", str(tmp_path / "o")],
                      repo_env, check=False)
    assert proc.returncode != 0 and "posteriors/eval/llr.txt not found" in proc.stderr
    assert not (tmp_path / "o" / "fusion.json").exists()


def test_compare_scores_rejects_bad_names(tmp_path, capsys):
    with pytest.raises(SystemExit):
        compare_scores.main(["--keys", "k", "--scores", "nofile", "--out", str(tmp_path / "t")])
    assert "NAME=FILE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare_scores.main(["--keys", "k", "--scores", "a=x", "a=y", "--out",
                             str(tmp_path / "t")])
    assert "two score files are named 'a'" in capsys.readouterr().err


CORPUS_FUSIONS = ["asvspoof5", "partialspoof", "envsdd"]


def default_exp_dir(recipe, env):
    """The --exp_dir a training recipe's run.sh hands to detect.sh, from its --help."""
    out = run_script(recipe, ["run.sh", "--help"], env).stdout
    return next(line.split()[1] for line in out.splitlines() if line.startswith("  --exp_dir "))


@pytest.mark.parametrize("corpus", CORPUS_FUSIONS)
def test_corpus_fusion_defaults_are_its_two_recipes_exp_dirs(repo_env, corpus):
    recipe = os.path.join(RECIPES, corpus, "fusion")
    out = run_script(recipe, ["run.sh", "--help"], repo_env).stdout
    assert "--systems 'EXP_DIR EXP_DIR" in out and "--out_dir exp/fusion" in out
    systems = next(line for line in out.splitlines() if line.startswith("  --systems "))
    expected = [f"../{version}/{default_exp_dir(os.path.join(recipe, '..', version), repo_env)}"
                for version in ("v03_resnet18", "v15_ssl")]
    assert systems.split(None, 1)[1].strip("'").split() == expected
    # nothing trained yet: the first missing system is named, in one line
    proc = run_script(recipe, ["run.sh"], repo_env, check=False)
    assert proc.returncode != 0
    assert proc.stderr.splitlines() == [
        f"run.sh: system exp dir '{expected[0]}' not found: train it with its recipe "
        "(stages 1-6), or name another with --systems"]


@pytest.mark.parametrize("corpus", CORPUS_FUSIONS)
def test_corpus_fusion_fuses_two_score_sets(tmp_path, repo_env, corpus):
    exps = fake_systems(str(tmp_path), n=40, seed=1)
    out = tmp_path / "fusion"
    proc = run_script(os.path.join(RECIPES, corpus, "fusion"), [
        "run.sh", "--systems", " ".join(exps), "--data", str(tmp_path / "data"),
        "--out_dir", str(out), "--bootstrap", "0"], repo_env)
    table = json.loads((out / "results_eval.json").read_text())
    assert [r["system"] for r in table["systems"]] == ["resnet", "rawnet2", "fusion"]
    assert "| fusion |" in proc.stdout


def test_every_fusion_dir_hands_over_to_the_fuse_template():
    template = os.path.join(RECIPES, "TEMPLATE", "fuse.sh")
    found = sorted(os.path.relpath(os.path.dirname(d), RECIPES) for d, _, files in
                   os.walk(RECIPES) if os.path.basename(d) == "fusion" and "run.sh" in files)
    assert found == sorted(["demo", *CORPUS_FUSIONS])
    for corpus in found:
        d = os.path.join(RECIPES, corpus, "fusion")
        assert os.path.realpath(os.path.join(d, "fuse.sh")) == template
        assert os.path.isfile(os.path.join(d, "README.md"))
        with open(os.path.join(d, "run.sh")) as f:
            text = f.read()
        # defaults only: the stages live in the template
        assert "exec ./fuse.sh" in text and "wedefense.bin" not in text
