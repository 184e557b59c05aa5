"""In-the-Wild recipe (evaluation only): prepare_data.sh and stage 2 on a fixture tree."""

import os
import shutil

import pytest

from tests.conftest import write_wav
from tests.recipe_utils import (
    check_data_dir,
    make_raw_lists,
    partialspoof_run,
    read_lines,
    recipe_dir,
    run_recipe,
    run_script,
)

RECIPE = recipe_dir("in_the_wild", "eval_only")
# file, speaker, label (as in meta.csv), seconds
ROWS = [("0.wav", "Alec Guinness", "spoof", 0.9),
        ("1.wav", "Alec Guinness", "spoof", 0.6),
        ("2.wav", "Barack Obama", "spoof", 1.1),
        ("4.wav", "Christopher Hitchens", "bona-fide", 1.0)]


def make_tree(root):
    release = os.path.join(root, "release_in_the_wild")
    os.makedirs(release)
    with open(os.path.join(release, "meta.csv"), "w") as f:
        f.write("file,speaker,label\n")
        for i, (name, speaker, label, dur) in enumerate(ROWS):
            write_wav(os.path.join(release, name), dur, i)
            f.write(f"{name},{speaker},{label}\n")
    return release


def expected(release):
    return [{"utt": name[:-4], "wav": os.path.join(release, name),
             "label": "bonafide" if label == "bona-fide" else "spoof",
             "speaker": speaker.replace(" ", "_"),
             "attack": "-" if label == "bona-fide" else "unknown", "dur": dur}
            for name, speaker, label, dur in ROWS]


@pytest.mark.parametrize("use_release_dir", [False, True])
def test_prepare_data_and_raw_list(tmp_path, repo_env, use_release_dir):
    root = str(tmp_path / "InTheWild")
    release = make_tree(root)
    data = str(tmp_path / "data")
    run_script(RECIPE, ["local/prepare_data.sh", release if use_release_dir else root, data],
               repo_env)
    assert sorted(os.listdir(data)) == ["eval"]
    make_raw_lists(data, ["eval"], repo_env)
    check_data_dir(os.path.join(data, "eval"), expected(release))


@pytest.mark.parametrize("bad_line, message", [
    ("9.wav,Barack Obama,fake\n", "unknown label 'fake'"),
    ("9.wav,Barack Obama\n", "expected 3 fields"),
    ("9.wav,Barack Obama,spoof\n", "not found"),
    ("0.wav,Alec Guinness,spoof\n", "duplicate utterance id '0'"),
])
def test_bad_meta_line_names_file_and_line(tmp_path, repo_env, bad_line, message):
    release = make_tree(str(tmp_path / "InTheWild"))
    meta = os.path.join(release, "meta.csv")
    with open(meta, "a") as f:
        f.write(bad_line)
    proc = run_script(RECIPE, ["local/prepare_data.sh", release, str(tmp_path / "data")],
                      repo_env, check=False)
    assert proc.returncode != 0
    assert f"{meta}:6:" in proc.stderr and message in proc.stderr


def test_bad_header_is_an_error(tmp_path, repo_env):
    release = make_tree(str(tmp_path / "InTheWild"))
    meta = os.path.join(release, "meta.csv")
    lines = open(meta).read().splitlines()
    with open(meta, "w") as f:
        f.write("\n".join(["path,label"] + lines[1:]) + "\n")
    proc = run_script(RECIPE, ["local/prepare_data.sh", release, str(tmp_path / "d")],
                      repo_env, check=False)
    assert proc.returncode != 0 and f"{meta}:1: expected the header" in proc.stderr


def test_run_sh_requires_corpus_and_model_dirs_and_has_help(tmp_path, repo_env):
    proc = run_script(RECIPE, ["run.sh"], repo_env, check=False)
    assert proc.returncode != 0
    assert "--corpus_dir is required" in proc.stderr and "release_in_the_wild/" in proc.stderr
    proc = run_script(RECIPE, ["run.sh", "--stage", "4", "--model_dir", str(tmp_path)],
                      repo_env, check=False)
    assert proc.returncode != 0 and "--model_dir must be the exp dir" in proc.stderr
    assert "--model_dir" in run_script(RECIPE, ["run.sh", "--help"], repo_env).stdout


def test_download_reports_unreachable_network(tmp_path, repo_env):
    env = dict(repo_env, ITW_URL="http://127.0.0.1:9/release_in_the_wild.zip")
    proc = run_script(RECIPE, ["local/download_database.sh", str(tmp_path / "c")], env,
                      check=False)
    assert proc.returncode != 0 and "cannot reach 127.0.0.1:9" in proc.stderr


def test_run_sh_stages_1_to_7_scores_raw_and_calibrated(tmp_path, repo_env):
    release = make_tree(str(tmp_path / "InTheWild"))
    model_dir = tmp_path / "model"  # the PartialSpoof recipe's tiny model and calibration
    shutil.copytree(os.path.join(partialspoof_run()[0], "exp"), model_dir)
    exp = tmp_path / "exp"
    args = ["--corpus_dir", release, "--data", str(tmp_path / "data"), "--model_dir",
            str(model_dir), "--exp_dir", str(exp)]
    proc = run_recipe(RECIPE, args, repo_env)
    assert "stage 3: nothing to train" in proc.stdout
    assert sorted(os.listdir(tmp_path / "data")) == ["eval"]
    assert not (exp / "calibration.json").exists()  # nothing is fitted on the test corpus
    raw = read_lines(exp / "posteriors" / "eval" / "llr.txt")
    calibrated = read_lines(exp / "posteriors" / "eval" / "llr_calibrated.txt")
    assert [x.split("\t")[0] for x in raw] == [x.split("\t")[0] for x in calibrated]
    assert len(raw) == len(ROWS) + 1 and raw != calibrated
    for suffix in ("", "_calibrated"):
        assert (exp / f"results_eval{suffix}.json").is_file()
    assert not (exp / "results_dev.json").exists()

    # a model newer than its calibration (re-averaged, retrained): raw scores only, and no
    # calibrated ones of the earlier model are left behind
    later = os.path.getmtime(model_dir / "calibration.json") + 10
    os.utime(model_dir / "models" / "avg_model.pt", (later, later))
    proc = run_recipe(RECIPE, args + ["--stage", "4"], repo_env)
    assert "raw LLRs only" in proc.stderr
    assert (exp / "posteriors" / "eval" / "llr.txt").is_file()
    assert not (exp / "posteriors" / "eval" / "llr_calibrated.txt").exists()
    assert not (exp / "results_eval_calibrated.json").exists()


def test_exp_dir_is_named_after_the_model(tmp_path, repo_env):
    release = make_tree(str(tmp_path / "InTheWild"))
    model_dir = tmp_path / "egs" / "detection" / "toycorpus" / "v03" / "exp" / "ResNet18"
    (model_dir / "models").mkdir(parents=True)
    (model_dir / "config.yaml").write_text("classes: [bonafide, spoof]\n")
    proc = run_recipe(RECIPE, ["--corpus_dir", release, "--model_dir", str(model_dir),
                               "--stage", "4", "--data", str(tmp_path / "data")],
                      repo_env, check=False)
    assert proc.returncode != 0
    assert f"model '{model_dir}/models/best_model.pt' not found" in proc.stderr
    assert not os.path.exists(os.path.join(RECIPE, "exp", "toycorpus_ResNet18", "models"))
