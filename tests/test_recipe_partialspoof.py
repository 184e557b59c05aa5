"""PartialSpoof recipe: prepare_data.sh, stage 2, run.sh messages and the download script."""

import hashlib
import json
import os
import shutil
import tarfile

import pytest

from tests.conftest import REPO, make_partialspoof_tree
from tests.recipe_utils import (
    check_data_dir,
    make_raw_lists,
    partialspoof_run,
    read_lines,
    recipe_dir,
    result_rows,
    run_script,
)

RECIPE = recipe_dir("partialspoof")
DOWNLOAD = os.path.join(REPO, "tools", "download.sh")


def expected(root, rows, subset):
    db = os.path.join(root, "database")
    return [{"utt": utt, "wav": os.path.join(db, subset, "con_wav", utt + ".wav"), "label": key,
             "speaker": spk, "attack": attack, "dur": dur}
            for spk, utt, attack, key, dur in rows[subset]]


def test_prepare_data_and_raw_lists(tmp_path, repo_env):
    root = str(tmp_path / "PartialSpoof")
    rows = make_partialspoof_tree(root)
    data = str(tmp_path / "data")
    run_script(RECIPE, ["local/prepare_data.sh", root, data], repo_env)
    make_raw_lists(data, rows, repo_env)
    for subset in rows:
        check_data_dir(os.path.join(data, subset), expected(root, rows, subset))


def test_run_sh_requires_corpus_dir_and_has_help(tmp_path, repo_env):
    proc = run_script(RECIPE, ["run.sh"], repo_env, check=False)
    assert proc.returncode != 0
    assert "--corpus_dir is required" in proc.stderr and "--stage -1" in proc.stderr
    proc = run_script(RECIPE, ["run.sh", "--corpus_dir", str(tmp_path / "nowhere"),
                               "--stop_stage", "1"], repo_env, check=False)
    assert proc.returncode != 0 and "does not exist" in proc.stderr
    assert "usage: bash run.sh" in run_script(RECIPE, ["run.sh", "--help"], repo_env).stdout


@pytest.fixture
def mirror(tmp_path):
    """The four Zenodo archives, built from a fixture tree, served as file:// URLs."""
    src = str(tmp_path / "src")
    rows = make_partialspoof_tree(src)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for part in ("train", "dev", "eval", "protocols"):
        with tarfile.open(mirror / f"database_{part}.tar.gz", "w:gz") as tar:
            tar.add(os.path.join(src, "database", part), arcname=f"database/{part}")
    return mirror, rows


def test_download_unpacks_resumes_and_is_idempotent(mirror, tmp_path, repo_env):
    archives, rows = mirror
    env = dict(repo_env, PARTIALSPOOF_URL=f"file://{archives}", DOWNLOADER="curl")
    corpus = str(tmp_path / "PartialSpoof")
    # an interrupted earlier run left half of one archive behind
    os.makedirs(os.path.join(corpus, "downloads"))
    whole = (archives / "database_dev.tar.gz").read_bytes()
    with open(os.path.join(corpus, "downloads", "database_dev.tar.gz.part"), "wb") as f:
        f.write(whole[:len(whole) // 2])
    run_script(RECIPE, ["run.sh", "--stage", "-1", "--stop_stage", "1",
                        "--corpus_dir", corpus, "--data", str(tmp_path / "data")], env)
    with open(os.path.join(corpus, "downloads", "database_dev.tar.gz"), "rb") as f:
        assert f.read() == whole
    make_raw_lists(str(tmp_path / "data"), rows, repo_env)
    for subset in rows:
        check_data_dir(str(tmp_path / "data" / subset), expected(corpus, rows, subset))
    # a second run fetches nothing: the mirror is gone and it still succeeds
    shutil.rmtree(archives)
    proc = run_script(RECIPE, ["local/download_database.sh", corpus], env)
    assert proc.stdout.count("already unpacked") == 4


def test_download_reports_unreachable_network(tmp_path, repo_env):
    env = dict(repo_env, PARTIALSPOOF_URL="http://127.0.0.1:9")
    proc = run_script(RECIPE, ["local/download_database.sh", str(tmp_path / "c")], env,
                      check=False)
    assert proc.returncode != 0 and "cannot reach 127.0.0.1:9" in proc.stderr


@pytest.mark.parametrize("downloader", ["curl", "wget"])
def test_download_tool_checks_md5(tmp_path, repo_env, downloader):
    src = tmp_path / "a.bin"
    src.write_bytes(b"spoof" * 1000)
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    dest = tmp_path / "out" / "a.bin"
    env = dict(repo_env, DOWNLOADER=downloader)
    if downloader == "wget":  # wget has no file:// support: only the already-here paths
        dest.parent.mkdir()
        shutil.copy(src, dest)
    else:
        run_script(REPO, [DOWNLOAD, f"file://{src}", str(dest), md5], env)
    assert dest.read_bytes() == src.read_bytes()
    proc = run_script(REPO, [DOWNLOAD, f"file://{src}", str(dest), md5], env)
    assert "already here" in proc.stderr
    proc = run_script(REPO, [DOWNLOAD, f"file://{src}", str(dest), "0" * 32], env, check=False)
    assert proc.returncode != 0 and "MD5 mismatch" in proc.stderr


def test_download_tool_drops_a_corrupt_download(tmp_path, repo_env):
    src = tmp_path / "a.bin"
    src.write_bytes(b"x" * 100)
    dest = tmp_path / "a.out"
    env = dict(repo_env, DOWNLOADER="curl")
    proc = run_script(REPO, [DOWNLOAD, f"file://{src}", str(dest), "0" * 32], env, check=False)
    assert proc.returncode != 0 and "MD5 mismatch" in proc.stderr
    assert not dest.exists() and not (tmp_path / "a.out.part").exists()


def test_run_sh_stages_1_to_7(repo_env):
    root, rows, stdout = partialspoof_run()
    for n in range(1, 8):
        assert f"stage {n}:" in stdout
    exp = os.path.join(root, "exp")
    assert os.path.isfile(os.path.join(exp, "models", "avg_model.pt"))
    assert os.path.isfile(os.path.join(exp, "calibration.json"))
    for subset in ("dev", "eval"):
        keys = [utt for _, utt, _, _, _ in rows[subset]]
        llr = read_lines(os.path.join(exp, "posteriors", subset, "llr.txt"))
        assert llr[0] == "filename\tcm-score" and [x.split("\t")[0] for x in llr[1:]] == keys
        for suffix in ("", "_calibrated"):
            result = json.load(open(os.path.join(exp, f"results_{subset}{suffix}.json")))
            assert (result["num_bonafide"], result["num_spoof"]) == (len(keys) // 2,
                                                                     len(keys) // 2)
    # stage 7 gets the recipe's --attacks utt2attack: one row per attack
    assert {"pooled", "A05", "A06"} <= set(result_rows(os.path.join(exp, "results_eval.txt")))
    # nothing is left in the staging folders, and no output names one
    for folder in (exp, os.path.join(root, "data")):
        assert not os.path.exists(os.path.join(folder, ".staging"))
        for dirpath, _, files in os.walk(folder):
            for name in files:
                if name.endswith((".scp", ".list", ".json", ".txt")):
                    with open(os.path.join(dirpath, name)) as f:
                        assert ".staging" not in f.read(), os.path.join(dirpath, name)
