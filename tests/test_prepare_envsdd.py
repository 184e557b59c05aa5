"""EnvSDD / ESDD 2026 preparation on a fixture tree in the challenge layout, line by line.

Column *names* in the fixture CSVs are placeholders: the parser reads columns by position, as the
challenge baseline does (get_jsons.py), so only their order matters.
"""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import write_wav
from tests.recipe_utils import check_data_dir, make_raw_lists
from wedefense.dataset import envsdd
from wedefense.utils.errors import InputError

GENS = [("ATA", "audioldm1"), ("TTA", "audiogen"), ("TTA", "audioldm2")]
DEV1 = [("a1.wav", "UrbanSound8K", "train"), ("b2.wav", "Clotho", "validation"),
        ("c3.wav", "UrbanSound8K", "train")]
DEV2 = [("x1.wav", "fake", "train"), ("x2.wav", "real", "validation")]
EVAL = {1: [("e1.wav", "fake"), ("e2.wav", "real")], 2: [("f1.wav", "real"), ("f2.wav", "fake")]}
TEST = {1: [("t1.wav", "s1.wav", "Clotho", "real", "real"),
            ("t2.wav", "s2.wav", "TUT SED 2017", "tta", "audiolcm")],
        2: [("u1.wav", "s3.wav", "Clotho", "vta", "blackbox")]}
DUR = 0.25


def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(header + "\n" + "".join(",".join(r) + "\n" for r in rows))


def make_tree(root):
    dev = os.path.join(root, "development")
    for i, (name, dataset, _) in enumerate(DEV1):
        write_wav(os.path.join(dev, "real_audio", dataset, name), DUR, i)
        for kind, gen in GENS:
            write_wav(os.path.join(dev, "fake_audio", kind, gen, dataset, name), DUR, i + 10)
    for i, (name, *_) in enumerate(DEV2):
        write_wav(os.path.join(root, "dev_track2", name), DUR, i)
    for track in (1, 2):
        for i, (name, _) in enumerate(EVAL[track]):
            write_wav(os.path.join(root, f"eval_track{track}", name), DUR, i)
        for i, row in enumerate(TEST[track]):
            write_wav(os.path.join(root, f"test_track{track}", row[0]), DUR, i)
    meta = os.path.join(root, "metadata")
    write_csv(os.path.join(meta, "dev_track1.csv"), "filename,dataset,usage", DEV1)
    write_csv(os.path.join(meta, "dev_track2.csv"), "filename,label,usage", DEV2)
    for track in (1, 2):
        write_csv(os.path.join(meta, f"eval_track{track}.csv"), "filename,label", EVAL[track])
        write_csv(os.path.join(meta, f"test_track{track}.csv"),
                  "filename,source_file,source_dataset,fake_type,generator", TEST[track])
    return root


def expected_dev1(root, usage):
    rows = []
    for name, dataset, use in DEV1:
        if use != usage:
            continue
        stem = name[:-4]
        rows.append({"utt": f"real_{dataset}_{stem}", "label": "bonafide", "speaker": dataset,
                     "attack": "-", "dur": DUR,
                     "wav": os.path.join(root, "development", "real_audio", dataset, name)})
        rows += [{"utt": f"{kind}_{gen}_{dataset}_{stem}", "label": "spoof", "speaker": dataset,
                  "attack": f"{kind}-{gen}", "dur": DUR,
                  "wav": os.path.join(root, "development", "fake_audio", kind, gen, dataset, name)}
                 for kind, gen in GENS]
    return rows


def expected_dev2(root, usage):
    return [{"utt": f"bb_{name[:-4]}", "label": envsdd.LABEL_MAP[lab], "speaker": "-",
             "attack": "-" if lab == "real" else "unknown", "dur": DUR,
             "wav": os.path.join(root, "dev_track2", name)}
            for name, lab, use in DEV2 if use == usage]


@pytest.mark.parametrize("track", [1, 2])
def test_prepare_line_by_line(tmp_path, repo_env, track):
    root = make_tree(str(tmp_path / "EnvSDD"))
    data = str(tmp_path / "data")
    proc = subprocess.run([sys.executable, "-m", "wedefense.bin.prepare_envsdd", root, data,
                           "--track", str(track)], env=repo_env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    make_raw_lists(data, envsdd.SETS, repo_env)
    extra = track == 2
    check_data_dir(os.path.join(data, "train"), expected_dev1(root, "train")
                   + (expected_dev2(root, "train") if extra else []))
    check_data_dir(os.path.join(data, "dev"), expected_dev1(root, "validation")
                   + (expected_dev2(root, "validation") if extra else []))
    check_data_dir(os.path.join(data, "eval"), [
        {"utt": name[:-4], "label": envsdd.LABEL_MAP[lab], "speaker": "-", "dur": DUR,
         "attack": "-" if lab == "real" else "unknown",
         "wav": os.path.join(root, f"eval_track{track}", name)} for name, lab in EVAL[track]])
    check_data_dir(os.path.join(data, "test"), [
        {"utt": r[0][:-4], "label": "bonafide" if r[3] == "real" else "spoof",
         "speaker": r[2].replace(" ", "_"), "dur": DUR,
         "attack": "-" if r[3] == "real" else f"{r[3]}-{r[4]}",
         "wav": os.path.join(root, f"test_track{track}", r[0])} for r in TEST[track]])


def test_sets_option_skips_unreleased_parts(tmp_path):
    root = make_tree(str(tmp_path / "EnvSDD"))
    os.remove(os.path.join(root, "metadata", "test_track1.csv"))
    with pytest.raises(InputError, match="test_track1.csv: EnvSDD metadata CSV not found"):
        envsdd.prepare(root, str(tmp_path / "a"))
    summary = envsdd.prepare(root, str(tmp_path / "b"), sets=("train", "dev"))
    assert sorted(summary) == ["dev", "train"] and sorted(os.listdir(tmp_path / "b")) == \
        ["dev", "train"]


@pytest.mark.parametrize("csv_name, bad_line, message", [
    ("dev_track1", "d4.wav,Clotho,testing", "unknown usage 'testing'"),
    ("dev_track1", "d4.wav,Clotho", "expected at least 3 fields"),
    ("dev_track1", "d4.wav,Clotho,train", "audio file for 'real_Clotho_d4' not found"),
    ("dev_track2", "x3.wav,maybe,train", "unknown label 'maybe'"),
    ("dev_track2", "sub/x3.wav,fake,train", "bad field 'sub/x3.wav'"),
    ("eval_track1", "e1.wav,real", "duplicate utterance id 'e1'"),
    ("test_track1", "t3.wav,s.wav,Clotho,tta,", "a fake needs a fake type and a generator"),
])
def test_bad_rows_name_file_and_line(tmp_path, csv_name, bad_line, message):
    root = make_tree(str(tmp_path / "EnvSDD"))
    path = os.path.join(root, "metadata", f"{csv_name}.csv")
    n = len(open(path).read().splitlines())
    with open(path, "a") as f:
        f.write(bad_line + "\n")
    with pytest.raises(InputError) as err:
        envsdd.prepare(root, str(tmp_path / "data"), track=2 if csv_name == "dev_track2" else 1)
    assert message in str(err.value) and f"{path}:{n + 1}" in str(err.value)


def test_headerless_csv_and_missing_generators_are_errors(tmp_path):
    root = make_tree(str(tmp_path / "EnvSDD"))
    path = os.path.join(root, "metadata", "eval_track1.csv")
    with open(path, "w") as f:
        f.write("e1.wav,fake\ne2.wav,real\n")
    with pytest.raises(InputError, match="eval_track1.csv:1: expected a header line"):
        envsdd.prepare(root, str(tmp_path / "d"), sets=("eval",))
    shutil.rmtree(os.path.join(root, "development", "fake_audio"))
    with pytest.raises(InputError, match="no fake_audio/ folder"):
        envsdd.prepare(root, str(tmp_path / "d"), sets=("train",))
