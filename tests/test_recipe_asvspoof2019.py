"""ASVspoof 2019 LA recipe: prepare_data.sh and stage 2 on a fixture tree in the real layout."""

import os

import pytest

from tests.conftest import write_wav
from tests.recipe_utils import (
    check_data_dir,
    make_raw_lists,
    partialspoof_run,
    recipe_dir,
    result_rows,
    run_recipe,
    run_script,
)

RECIPE = recipe_dir("asvspoof2019_la")
PROTOCOLS = {"train": "ASVspoof2019.LA.cm.train.trn.txt",
             "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
             "eval": "ASVspoof2019.LA.cm.eval.trl.txt"}
# (speaker, utt, system, key, seconds), in protocol order
ROWS = {
    "train": [("LA_0079", "LA_T_1138215", "-", "bonafide", 1.0),
              ("LA_0079", "LA_T_1271820", "A01", "spoof", 0.7),
              ("LA_0080", "LA_T_1004644", "A06", "spoof", 1.2)],
    "dev": [("LA_0069", "LA_D_1047731", "-", "bonafide", 0.9),
            ("LA_0070", "LA_D_1105538", "A03", "spoof", 0.6)],
    "eval": [("LA_0039", "LA_E_2834763", "A11", "spoof", 0.8),
             ("LA_0014", "LA_E_8877452", "-", "bonafide", 1.1),
             ("LA_0040", "LA_E_6828287", "A19", "spoof", 0.5)],
}


def make_tree(root):
    la = os.path.join(root, "LA")
    proto_dir = os.path.join(la, "ASVspoof2019_LA_cm_protocols")
    os.makedirs(proto_dir)
    for subset, rows in ROWS.items():
        with open(os.path.join(proto_dir, PROTOCOLS[subset]), "w") as f:
            for i, (spk, utt, system, key, dur) in enumerate(rows):
                write_wav(os.path.join(la, f"ASVspoof2019_LA_{subset}", "flac", utt + ".flac"),
                          dur, i)
                f.write(f"{spk} {utt} - {system} {key}\n")
    return la


def expected(la, subset):
    return [{"utt": utt, "wav": os.path.join(la, f"ASVspoof2019_LA_{subset}", "flac",
                                             utt + ".flac"),
             "label": key, "speaker": spk, "attack": system, "dur": dur}
            for spk, utt, system, key, dur in ROWS[subset]]


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "ASVspoof2019"
    return str(root), make_tree(str(root))


def test_prepare_data_and_raw_lists(corpus, tmp_path, repo_env):
    root, la = corpus
    data = str(tmp_path / "data")
    run_script(RECIPE, ["local/prepare_data.sh", root, data], repo_env)
    make_raw_lists(data, ROWS, repo_env)
    for subset in ROWS:
        check_data_dir(os.path.join(data, subset), expected(la, subset))


def test_la_folder_itself_is_accepted(corpus, tmp_path, repo_env):
    _, la = corpus
    data = str(tmp_path / "data")
    run_script(RECIPE, ["local/prepare_data.sh", la, data], repo_env)
    make_raw_lists(data, ROWS, repo_env)
    check_data_dir(os.path.join(data, "eval"), expected(la, "eval"))


@pytest.mark.parametrize("bad_line, message", [
    ("LA_0079 LA_T_9999999 - A01 fake\n", "unknown key 'fake'"),
    ("LA_0079 LA_T_9999999 A01 spoof\n", "expected 5 columns"),
    ("LA_0079 LA_T_9999999 - - spoof\n", "contradicts key 'spoof'"),
    ("LA_0079 LA_T_9999999 - A01 spoof\n", "not found"),
    ("LA_0079 LA_T_1138215 - - bonafide\n", "duplicate utterance id 'LA_T_1138215'"),
])
def test_bad_protocol_line_names_file_and_line(corpus, tmp_path, repo_env, bad_line, message):
    root, la = corpus
    proto = os.path.join(la, "ASVspoof2019_LA_cm_protocols", PROTOCOLS["train"])
    with open(proto, "a") as f:
        f.write(bad_line)
    proc = run_script(RECIPE, ["local/prepare_data.sh", root, str(tmp_path / "data")],
                      repo_env, check=False)
    assert proc.returncode != 0
    assert f"{proto}:4:" in proc.stderr and message in proc.stderr


def test_wrong_corpus_dir_is_a_clear_error(tmp_path, repo_env):
    proc = run_script(RECIPE, ["local/prepare_data.sh", str(tmp_path), str(tmp_path / "d")],
                      repo_env, check=False)
    assert proc.returncode != 0 and "protocol not found" in proc.stderr


def test_run_sh_requires_corpus_dir_and_has_help(repo_env):
    proc = run_script(RECIPE, ["run.sh"], repo_env, check=False)
    assert proc.returncode != 0
    assert "--corpus_dir is required" in proc.stderr and "holds LA/" in proc.stderr
    proc = run_script(RECIPE, ["run.sh", "--help"], repo_env)
    assert "usage: bash run.sh --corpus_dir DIR" in proc.stdout
    assert "--score_extras '--attacks utt2attack'" in proc.stdout


def test_download_reports_unreachable_network(tmp_path, repo_env):
    env = dict(repo_env, ASVSPOOF2019_URL="http://127.0.0.1:9")
    proc = run_script(RECIPE, ["local/download_database.sh", str(tmp_path / "c")], env,
                      check=False)
    assert proc.returncode != 0
    assert "cannot reach 127.0.0.1:9" in proc.stderr
    assert "download http://127.0.0.1:9/LA.zip by hand" in proc.stderr


def test_run_sh_stages_1_to_7_scoring_a_model_trained_elsewhere(corpus, tmp_path, repo_env):
    # stage 3 of this run.sh is the template's, trained by the PartialSpoof and guide tests;
    # here the recipe scores that tiny model (--skip_train) on its own fixture tree
    root, _ = corpus
    model_dir = os.path.join(partialspoof_run()[0], "exp")
    exp = tmp_path / "exp"
    proc = run_recipe(RECIPE, ["--corpus_dir", root, "--data", str(tmp_path / "data"),
                               "--exp_dir", str(exp), "--skip_train", "true",
                               "--model_dir", model_dir], repo_env)
    assert "stage 3: nothing to train" in proc.stdout
    for subset in ("dev", "eval"):
        for suffix in ("", "_calibrated"):
            assert (exp / f"results_{subset}{suffix}.json").is_file()
    assert {"pooled", "A11", "A19"} <= set(result_rows(exp / "results_eval.txt"))
