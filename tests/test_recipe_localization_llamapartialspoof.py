"""LlamaPartialSpoof stage 1: label files + unpacked archives -> data/eval with timestamps,
run through the recipe's own local/prepare_data.sh on a tree in the released layout."""

import os
import shutil
import tarfile

import pytest

from tests.conftest import REPO
from tests.localization_trees import LLAMAPARTIALSPOOF_ROWS, make_llamapartialspoof_tree
from tests.recipe_utils import check_data_dir, make_raw_lists, read_lines, run_script
from tests.test_recipe_localization_partialspoof import read_timestamps_text

RECIPE = os.path.join(REPO, "egs", "localization", "llamapartialspoof", "eval_only")


def expected_rows(root, rows):
    out = []
    for part, utt, dur, spoofed in rows:
        label = "spoof" if spoofed else "bonafide"
        fields = utt.split("_")
        out.append({"utt": utt, "wav": os.path.join(root, f"R01TTS.0.{part}", utt + ".wav"),
                    "label": label, "speaker": fields[1],
                    "attack": fields[0] if label == "spoof" else "-", "dur": dur})
    return out


def test_prepare_writes_eval_with_timestamps_from_both_parts(tmp_path, repo_env):
    root = str(tmp_path / "LlamaPartialSpoof")
    rows = make_llamapartialspoof_tree(root)
    data = str(tmp_path / "data")
    run_script(RECIPE, ["local/prepare_data.sh", root, data], repo_env)
    make_raw_lists(data, ["eval"], repo_env)
    check_data_dir(os.path.join(data, "eval"), expected_rows(root, rows))
    assert sorted(os.listdir(data)) == ["eval"]
    table = read_timestamps_text(os.path.join(data, "eval", "timestamps"))
    assert list(table) == [r[1] for r in rows]
    for _, utt, dur, spoofed in rows:
        t_dur, label, ranges = table[utt]
        assert t_dur == pytest.approx(dur) and label == ("spoof" if spoofed else "bonafide")
        got = [x for s, e, lab in ranges if lab == "spoof" for x in (s, e)]
        assert got == pytest.approx([x for r in spoofed for x in r])


def test_a_part_without_its_label_file_is_skipped(tmp_path, repo_env):
    root = str(tmp_path / "LlamaPartialSpoof")
    rows = make_llamapartialspoof_tree(root)
    os.remove(os.path.join(root, "label_R01TTS.0.b.txt"))
    data = str(tmp_path / "data")
    run_script(RECIPE, ["local/prepare_data.sh", root, data], repo_env)
    assert [line.split()[0] for line in read_lines(os.path.join(data, "eval", "wav.scp"))] == \
        [r[1] for r in rows if r[0] == "a"]


def _rewrite_label(root, part, old, new):
    path = os.path.join(root, f"label_R01TTS.0.{part}.txt")
    with open(path) as f:
        text = f.read()
    assert old in text
    with open(path, "w") as f:
        f.write(text.replace(old, new))


@pytest.mark.parametrize("old,new,message", [
    # the (otherwise valid) label line claims 1.5 s for audio of 1.4 s
    ("1.4000", "1.5000",
     "label_R01TTS.0.a.txt:3: 'dev01-cosyvoice-partial-cf_1272_141231_000002_000001': label "
     "duration 1.5000 s differs from its audio's 1.4000 s"),
    ("0.3800-0.8100-spoof", "0.3800-0.8100-fake", "fake"),
    ("0.3800-0.8100-spoof 0.8100-1.4000", "0.3800-0.9000-spoof 0.8100-1.4000", "0.81"),
])
def test_bad_labels_are_one_line_errors(tmp_path, repo_env, old, new, message):
    root = str(tmp_path / "LlamaPartialSpoof")
    make_llamapartialspoof_tree(root)
    _rewrite_label(root, "a", old, new)
    data = str(tmp_path / "data")
    proc = run_script(RECIPE, ["local/prepare_data.sh", root, data], repo_env, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert message in proc.stderr and "label_R01TTS.0.a.txt" in proc.stderr
    assert not os.path.exists(os.path.join(data, "eval", "timestamps"))


def test_missing_audio_and_missing_labels_are_errors(tmp_path, repo_env):
    root = str(tmp_path / "LlamaPartialSpoof")
    make_llamapartialspoof_tree(root)
    os.remove(os.path.join(root, "R01TTS.0.b", LLAMAPARTIALSPOOF_ROWS[3][1] + ".wav"))
    data = str(tmp_path / "data")
    proc = run_script(RECIPE, ["local/prepare_data.sh", root, data], repo_env, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"audio file for '{LLAMAPARTIALSPOOF_ROWS[3][1]}' not found" in proc.stderr
    proc = run_script(RECIPE, ["local/prepare_data.sh", str(tmp_path / "empty"), data], repo_env,
                      check=False)
    assert proc.returncode != 0 and "no LlamaPartialSpoof label file found" in proc.stderr


def test_download_unpacks_the_released_layout(tmp_path, repo_env):
    src = str(tmp_path / "src")
    rows = make_llamapartialspoof_tree(src)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for part in ("a", "b"):
        shutil.copy(os.path.join(src, f"label_R01TTS.0.{part}.txt"), mirror)
        with tarfile.open(mirror / f"R01TTS.0.{part}.tgz", "w:gz") as tar:
            tar.add(os.path.join(src, f"R01TTS.0.{part}"), arcname=f"R01TTS.0.{part}")
    env = dict(repo_env, LLAMAPARTIALSPOOF_URL=f"file://{mirror}", DOWNLOADER="curl")
    corpus = str(tmp_path / "LlamaPartialSpoof")
    run_script(RECIPE, ["local/download_database.sh", corpus], env)
    data = str(tmp_path / "data")
    run_script(RECIPE, ["local/prepare_data.sh", corpus, data], env)
    assert [line.split()[0] for line in read_lines(os.path.join(data, "eval", "wav.scp"))] == \
        [r[1] for r in rows]
    shutil.rmtree(mirror)
    proc = run_script(RECIPE, ["local/download_database.sh", corpus], env)
    assert proc.stdout.count("already unpacked") == 2
