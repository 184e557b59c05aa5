"""Stage 1 (PartialSpoof preparation) and stage 2 (raw.list) on a fixture tree."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, write_wav
from wedefense.dataset import partialspoof
from wedefense.dataset.prepare import Utterance, write_data_dir
from wedefense.dataset.tables import read_labels, read_table
from wedefense.utils.errors import InputError


def read_lines(path):
    with open(path) as f:
        return [line.rstrip("\n") for line in f]


def test_prepare_writes_every_table_line_by_line(partialspoof_tree, tmp_path):
    root, rows = partialspoof_tree
    data = tmp_path / "data"
    summary = partialspoof.prepare(root, str(data))
    assert summary["train"]["num_utts"] == 3 and summary["train"]["spoof"] == 2
    db = os.path.join(root, "database")
    for subset, entries in rows.items():
        d = data / subset
        assert read_lines(d / "wav.scp") == [
            f"{utt} {os.path.join(db, subset, 'con_wav', utt + '.wav')}"
            for _, utt, _, _, _ in entries]
        assert read_lines(d / "utt2lab") == [f"{utt} {key}" for _, utt, _, key, _ in entries]
        assert read_lines(d / "utt2spk") == [f"{utt} {spk}" for spk, utt, _, _, _ in entries]
        assert read_lines(d / "utt2attack") == [f"{utt} {a}" for _, utt, a, _, _ in entries]
        durs = read_table(d / "utt2dur", float)
        assert list(durs.values()) == pytest.approx([e[4] for e in entries], abs=1e-4)
        lab2utt = {line.split()[0]: line.split()[1:] for line in read_lines(d / "lab2utt")}
        assert lab2utt["bonafide"] == [u for _, u, _, k, _ in entries if k == "bonafide"]
        assert lab2utt["spoof"] == [u for _, u, _, k, _ in entries if k == "spoof"]


def test_prepare_accepts_database_folder_and_is_idempotent(partialspoof_tree, tmp_path):
    root, _ = partialspoof_tree
    partialspoof.prepare(root, str(tmp_path / "a"))
    partialspoof.prepare(os.path.join(root, "database"), str(tmp_path / "b"))
    partialspoof.prepare(root, str(tmp_path / "b"))
    for name in ("wav.scp", "utt2lab", "lab2utt", "utt2dur"):
        assert read_lines(tmp_path / "a" / "train" / name) == \
            read_lines(tmp_path / "b" / "train" / name)
    assert not [f for f in os.listdir(tmp_path / "b" / "train") if f.endswith(".tmp")]


def _protocol(root, subset="train"):
    return os.path.join(root, "database", "protocols", "PartialSpoof_LA_cm_protocols",
                        f"PartialSpoof.LA.cm.{subset}.trl.txt")


@pytest.mark.parametrize("bad_line, message", [
    ("LA_0079 CON_T_0000009 - A01 fake\n", "unknown key 'fake'"),
    ("LA_0079 CON_T_0000009 - A01\n", "expected 5 columns"),
    ("LA_0079 CON_T_0000009 - A01 spoof\n", "not found"),
    ("LA_0079 CON_T_0000001 - - bonafide\n", "duplicate utterance id 'CON_T_0000001'"),
])
def test_bad_protocol_lines_name_file_and_line(partialspoof_tree, tmp_path, bad_line, message):
    root, _ = partialspoof_tree
    with open(_protocol(root), "a") as f:
        f.write(bad_line)
    with pytest.raises(InputError) as err:
        partialspoof.prepare(root, str(tmp_path / "data"))
    assert message in str(err.value)
    assert f"{_protocol(root)}:4" in str(err.value)


def test_missing_protocol_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="protocol not found"):
        partialspoof.prepare(str(tmp_path), str(tmp_path / "data"))


def test_unreadable_audio_is_named(partialspoof_tree, tmp_path):
    root, _ = partialspoof_tree
    broken = os.path.join(root, "database", "dev", "con_wav", "CON_D_0000002.wav")
    with open(broken, "wb") as f:
        f.write(b"not audio at all")
    with pytest.raises(InputError, match="CON_D_0000002.wav"):
        partialspoof.prepare(root, str(tmp_path / "data"))


def test_make_raw_list_joins_tables(partialspoof_tree, tmp_path, repo_env):
    root, rows = partialspoof_tree
    data = tmp_path / "data"
    partialspoof.prepare(root, str(data))
    out = data / "train" / "raw.list"
    subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_raw_list.py"),
                    data / "train" / "wav.scp", data / "train" / "utt2lab", out],
                   check=True, env=repo_env)
    items = [json.loads(line) for line in read_lines(out)]
    wavs = read_table(data / "train" / "wav.scp")
    labels = read_labels(data / "train" / "utt2lab")
    assert [it["key"] for it in items] == [utt for _, utt, _, _, _ in rows["train"]]
    for it in items:
        assert it == {"key": it["key"], "lab": labels[it["key"]], "wav": wavs[it["key"]]}


@pytest.mark.parametrize("wav_scp, utt2lab, message", [
    ("a /x.wav\nb /y.wav\n", "a bonafide\n", "id 'b' is missing from"),
    ("a /x.wav\n", "a bonafide\nb spoof\n", "id 'b' is missing from"),
    ("a /x.wav\n", "a genuine\n", "utt2lab:1: unknown label 'genuine'"),
    ("a /x.wav\na /y.wav\n", "a spoof\n", "wav.scp:2: duplicate id 'a'"),
    ("\na /no/such/file.wav\n", "a spoof\n", "wav.scp:2: audio file of 'a' not found"),
])
def test_make_raw_list_rejects_bad_tables(tmp_path, repo_env, wav_scp, utt2lab, message):
    (tmp_path / "wav.scp").write_text(wav_scp)
    (tmp_path / "utt2lab").write_text(utt2lab)
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_raw_list.py"),
                           tmp_path / "wav.scp", tmp_path / "utt2lab", tmp_path / "raw.list"],
                          env=repo_env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not (tmp_path / "raw.list").exists()


def test_write_data_dir_takes_a_generator_as_the_guide_shows(tmp_path):
    paths = [str(tmp_path / f"u{i}.wav") for i in range(3)]
    for i, p in enumerate(paths):
        write_wav(p, 0.5 + i * 0.25, i)
    summary = write_data_dir(tmp_path / "data", (Utterance(f"u{i}", p, "spoof")
                                                 for i, p in enumerate(paths)))
    assert summary["num_utts"] == 3
    assert list(read_table(tmp_path / "data" / "utt2dur")) == ["u0", "u1", "u2"]
    assert [float(v) for v in read_table(tmp_path / "data" / "utt2dur").values()] == \
        pytest.approx([0.5, 0.75, 1.0], abs=1e-3)


def test_iter_csv_keeps_the_header_skips_blank_rows_and_strips_fields(tmp_path):
    from wedefense.dataset.tables import iter_csv

    path = tmp_path / "meta.csv"
    path.write_text('\n a.wav ,"x, y" ,bonafide\n , ,\n\nb.wav,z,spoof\n')
    assert list(iter_csv(str(path), "no meta")) == [
        (1, []), (2, ["a.wav", "x, y", "bonafide"]), (5, ["b.wav", "z", "spoof"])]
    with pytest.raises(InputError, match="missing.csv: corpus has no meta"):
        list(iter_csv(str(tmp_path / "missing.csv"), "corpus has no meta"))
