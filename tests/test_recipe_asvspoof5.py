"""ASVspoof 5 recipe: prepare_data.sh and stage 2 on a fixture tree in the real layout."""

import os

import pytest

from tests.conftest import write_wav
from tests.recipe_utils import (
    TINY_TRAIN,
    check_data_dir,
    make_raw_lists,
    read_lines,
    recipe_dir,
    result_rows,
    run_recipe,
    run_script,
)

RECIPE = recipe_dir("asvspoof5")
PROTOCOLS = {"train": "ASVspoof5.train.tsv", "dev": "ASVspoof5.dev.track_1.tsv",
             "eval": "ASVspoof5.eval.track_1.tsv"}
FLAC_DIRS = {"train": "flac_T", "dev": "flac_D", "eval": "flac_E_eval"}
# SPEAKER_ID FLAC_FILE_NAME SPEAKER_GENDER CODEC CODEC_Q CODEC_SEED ATTACK_TAG ATTACK_LABEL KEY
# TMP, plus the duration of the fixture audio
ROWS = {
    "train": [("T_4850", "T_0000000000", "F", "-", "-", "-", "-", "bonafide", "bonafide", "-",
               1.0),
              ("T_4850", "T_0000000001", "F", "-", "-", "-", "AC1", "A01", "spoof", "-", 0.6),
              ("T_1230", "T_0000000002", "M", "-", "-", "-", "AC2", "A05", "spoof", "-", 0.9)],
    "dev": [("D_0062", "D_0000000000", "M", "-", "-", "-", "-", "bonafide", "bonafide", "-",
             0.8),
            ("D_0062", "D_0000000001", "M", "-", "-", "-", "AC3", "A11", "spoof", "-", 0.7)],
    "eval": [("E_0001", "E_0000000000", "F", "-", "0", "-", "-", "bonafide", "bonafide", "-",
              1.2),
             ("E_0001", "E_0000000001", "F", "C01", "3", "E_0000000000", "-", "bonafide",
              "bonafide", "-", 1.2),
             ("E_0002", "E_0000000002", "M", "C08", "1", "E_0000000003", "AC1", "A17", "spoof",
              "-", 0.5)],
}


def make_tree(root, protocol_subdir=""):
    proto_dir = os.path.join(root, protocol_subdir)
    os.makedirs(proto_dir, exist_ok=True)
    for subset, rows in ROWS.items():
        with open(os.path.join(proto_dir, PROTOCOLS[subset]), "w") as f:
            for i, row in enumerate(rows):
                write_wav(os.path.join(root, FLAC_DIRS[subset], row[1] + ".flac"), row[-1], i)
                f.write(" ".join(row[:-1]) + "\n")
    return os.path.join(proto_dir)


def expected(root, subset):
    return [{"utt": r[1], "wav": os.path.join(root, FLAC_DIRS[subset], r[1] + ".flac"),
             "label": r[8], "speaker": r[0], "attack": "-" if r[8] == "bonafide" else r[7],
             "dur": r[-1]} for r in ROWS[subset]]


@pytest.mark.parametrize("protocol_subdir", ["", "ASVspoof5_protocols"])
def test_prepare_data_and_raw_lists(tmp_path, repo_env, protocol_subdir):
    root = str(tmp_path / "ASVspoof5")
    proto_dir = make_tree(root, protocol_subdir)
    data = str(tmp_path / "data")
    run_script(RECIPE, ["local/prepare_data.sh", root, data], repo_env)
    make_raw_lists(data, ROWS, repo_env)
    for subset, rows in ROWS.items():
        d = os.path.join(data, subset)
        check_data_dir(d, expected(root, subset))
        assert read_lines(os.path.join(d, "utt2codec")) == [f"{r[1]} {r[3]}" for r in rows]
        assert read_lines(os.path.join(d, "utt2codec_q")) == [f"{r[1]} {r[4]}" for r in rows]
        assert read_lines(os.path.join(d, "protocol.tsv")) == \
            read_lines(os.path.join(proto_dir, PROTOCOLS[subset]))


@pytest.mark.parametrize("bad_line, message", [
    ("T_4850 T_0000000009 F - - - AC1 A01 fake -\n", "unknown KEY 'fake'"),
    ("T_4850 T_0000000009 F - - - AC1 A01 spoof\n", "expected 10 columns"),
    ("T_4850 T_0000000009 F - - - - bonafide spoof -\n", "contradicts KEY 'spoof'"),
    ("T_4850 T_0000000009 F - - - AC1 A01 spoof -\n", "not found"),
    ("T_4850 T_0000000000 F - - - - bonafide bonafide -\n",
     "duplicate utterance id 'T_0000000000'"),
])
def test_bad_protocol_line_names_file_and_line(tmp_path, repo_env, bad_line, message):
    root = str(tmp_path / "ASVspoof5")
    make_tree(root)
    proto = os.path.join(root, PROTOCOLS["train"])
    with open(proto, "a") as f:
        f.write(bad_line)
    proc = run_script(RECIPE, ["local/prepare_data.sh", root, str(tmp_path / "data")],
                      repo_env, check=False)
    assert proc.returncode != 0
    assert f"{proto}:4:" in proc.stderr and message in proc.stderr


def test_run_sh_requires_corpus_dir_and_has_help(repo_env):
    proc = run_script(RECIPE, ["run.sh"], repo_env, check=False)
    assert proc.returncode != 0
    assert "--corpus_dir is required" in proc.stderr and "flac_T/" in proc.stderr
    assert "usage: bash run.sh" in run_script(RECIPE, ["run.sh", "--help"], repo_env).stdout


def test_download_lists_every_archive_with_its_md5():
    with open(os.path.join(RECIPE, "local", "download_database.sh")) as f:
        text = f.read()
    names = ([f"flac_T_a{c}.tar" for c in "abcde"] + [f"flac_D_a{c}.tar" for c in "abc"]
             + [f"flac_E_a{c}.tar" for c in "abcdefghij"] + ["ASVspoof5_protocols.tar.gz"])
    for name in names:
        line = next(line for line in text.splitlines() if line.startswith(name + " "))
        assert len(line.split()[1]) == 32


def test_download_reports_unreachable_network(tmp_path, repo_env):
    env = dict(repo_env, ASVSPOOF5_URL="http://127.0.0.1:9")
    proc = run_script(RECIPE, ["local/download_database.sh", str(tmp_path / "c")], env,
                      check=False)
    assert proc.returncode != 0
    assert "cannot reach 127.0.0.1:9" in proc.stderr
    assert not os.path.exists(tmp_path / "c" / "downloads" / "ASVspoof5_protocols.tar.gz")


def test_download_checks_the_unpacked_layout(tmp_path, repo_env):
    corpus = tmp_path / "c"
    (corpus / "downloads").mkdir(parents=True)
    with open(os.path.join(RECIPE, "local", "download_database.sh")) as f:
        archives = [line.split()[0] for line in f
                    if line.startswith(("flac_", "ASVspoof5_protocols"))]
    for archive in archives:  # as if every archive had been fetched and unpacked
        (corpus / "downloads" / f".{archive}.unpacked").touch()
    args = ["local/download_database.sh", str(corpus)]
    proc = run_script(RECIPE, args, repo_env, check=False)
    assert proc.returncode != 0 and "flac_T is missing" in proc.stderr
    for sub in ("flac_T", "flac_D", "flac_E_eval", "ASVspoof5_protocols"):
        (corpus / sub).mkdir()
    proc = run_script(RECIPE, args, repo_env, check=False)
    assert proc.returncode != 0 and "ASVspoof5.train.tsv is in neither" in proc.stderr
    (corpus / "ASVspoof5_protocols" / "ASVspoof5.train.tsv").touch()
    assert "is ready" in run_script(RECIPE, args, repo_env).stdout


def test_run_sh_stages_1_to_7(tmp_path, repo_env):
    root = str(tmp_path / "ASVspoof5")
    make_tree(root)
    exp = tmp_path / "exp"
    run_recipe(RECIPE, ["--corpus_dir", root, "--data", str(tmp_path / "data"),
                        "--exp_dir", str(exp), "--num_avg", "1", "--train_overrides",
                        TINY_TRAIN + " --dataloader_args.batch_size 2"], repo_env)
    assert (exp / "models" / "avg_model.pt").is_file() and (exp / "calibration.json").is_file()
    for subset in ("dev", "eval"):
        for suffix in ("", "_calibrated"):
            assert (exp / f"results_{subset}{suffix}.json").is_file()
    # stage 7 gets the recipe's --metadata protocol.tsv: a row for the eval attack and codec
    rows = result_rows(exp / "results_eval.txt")
    assert "A17" in rows and "C08" in rows, rows
