"""SpoofCeleb preparation on a fixture tree in the released layout, line by line."""

import os
import subprocess
import sys

import pytest

from tests.conftest import write_wav
from tests.recipe_utils import check_data_dir, make_raw_lists
from wedefense.dataset import spoofceleb
from wedefense.utils.errors import InputError

# split -> (file, speaker, attack, seconds); the same name under two attacks, as released.
ROWS = {
    "train": [("a00/id10001/1zcIwhmdeo4-00001-001.flac", "id10001", "a00", 0.6),
              ("a01/id10001/1zcIwhmdeo4-00001-001.flac", "id10001", "a01", 0.5),
              ("a02/id10002/7w0IBEWc9Qw-00004-002.flac", "id10002", "a02", 0.7)],
    "development": [("a00/id10318/YYsxcZ5saac-00002-006.flac", "id10318", "a00", 0.8),
                    ("a06/id10318/YYsxcZ5saac-00002-006.flac", "id10318", "a06", 0.4),
                    ("a07/id10318/YYsxcZ5saac-00002-006.flac", "id10318", "a07", 0.5)],
    "evaluation": [("a00/id10270/5r0dWxy17C8-00001-001.flac", "id10270", "a00", 0.9),
                   ("a17/id10270/5r0dWxy17C8-00001-001.flac", "id10270", "a17", 0.6),
                   ("a19/id10270/5r0dWxy17C8-00001-001.flac", "id10270", "a19", 0.5)],
}


def make_tree(root):
    base = os.path.join(root, "spoofceleb")
    os.makedirs(os.path.join(base, "metadata"))
    for split, rows in ROWS.items():
        with open(os.path.join(base, "metadata", f"{split}.csv"), "w") as f:
            f.write("file,speaker,attack\n")
            for i, (name, spk, attack, dur) in enumerate(rows):
                write_wav(os.path.join(base, "flac", split, name), dur, i)
                f.write(f"{name},{spk},{attack}\n")
    return base


@pytest.mark.parametrize("inner", [False, True])
def test_prepare_line_by_line(tmp_path, repo_env, inner):
    base = make_tree(str(tmp_path / "SpoofCeleb"))
    data = str(tmp_path / "data")
    proc = subprocess.run([sys.executable, "-m", "wedefense.bin.prepare_spoofceleb",
                           base if inner else os.path.dirname(base), data],
                          env=repo_env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    make_raw_lists(data, ["train", "dev", "eval"], repo_env)
    for subset, split in spoofceleb.SPLITS.items():
        check_data_dir(os.path.join(data, subset), [
            {"utt": name[:-5].replace("/", "_"), "wav": os.path.join(base, "flac", split, name),
             "label": "bonafide" if attack == "a00" else "spoof", "speaker": spk,
             "attack": "-" if attack == "a00" else attack, "dur": dur}
            for name, spk, attack, dur in ROWS[split]])


@pytest.mark.parametrize("bad_line, message", [
    ("a01/id10002/x.flac,id10002\n", "expected 3 fields"),
    ("../x.flac,id10002,a01\n", "bad file '../x.flac'"),
    ("a01/id10002/x.flac,id 10002,a01\n", "blank-containing"),
    ("a01/id10002/missing.flac,id10002,a01\n", "not found"),
    ("a01/id10001/1zcIwhmdeo4-00001-001.flac,id10001,a01\n", "duplicate utterance id"),
])
def test_bad_rows_name_file_and_line(tmp_path, bad_line, message):
    base = make_tree(str(tmp_path / "SpoofCeleb"))
    csv_path = os.path.join(base, "metadata", "train.csv")
    with open(csv_path, "a") as f:
        f.write(bad_line)
    with pytest.raises(InputError) as err:
        spoofceleb.prepare(base, str(tmp_path / "data"))
    assert message in str(err.value) and f"{csv_path}:5" in str(err.value)


def test_bad_header_and_missing_metadata(tmp_path):
    base = make_tree(str(tmp_path / "SpoofCeleb"))
    csv_path = os.path.join(base, "metadata", "evaluation.csv")
    lines = open(csv_path).read().splitlines()
    with open(csv_path, "w") as f:
        f.write("\n".join(["path,label"] + lines[1:]) + "\n")
    with pytest.raises(InputError, match="evaluation.csv:1: expected the header"):
        spoofceleb.prepare(base, str(tmp_path / "data"))
    with pytest.raises(InputError, match="SpoofCeleb metadata not found"):
        spoofceleb.prepare(str(tmp_path / "nothing"), str(tmp_path / "data"))
