"""PartialSpoof localization stage 1: protocols + official segment labels -> data dirs with
timestamp tables, run through the recipe's own local/prepare_data.sh on a real-layout tree."""

import math
import os
import shutil
import tarfile

import numpy as np
import pytest

from tests.conftest import REPO
from tests.localization_trees import make_partialspoof_loc_tree, seglab
from tests.recipe_utils import check_data_dir, make_raw_lists, read_lines, run_script

RECIPE = os.path.join(REPO, "egs", "localization", "partialspoof", "v01_frame_cnn")


def read_timestamps_text(path):
    """Parse the table independently of the library: utt -> (dur, label, ranges)."""
    table = {}
    for line in read_lines(path):
        utt, dur, label, *cuts = line.split()
        ranges = []
        for cut in cuts:
            start, end, lab = cut.split("-")
            ranges.append((float(start), float(end), lab))
        table[utt] = (float(dur), label, ranges)
    return table


def spoofed_on_grid(spoofed, resolution, dur):
    """What the segment labels at ``resolution`` say: every touched segment, clipped to dur."""
    out = []
    for start, end in spoofed:
        s = math.floor(round(start / resolution, 6)) * resolution
        e = min(math.ceil(round(end / resolution, 6)) * resolution, dur)
        if out and s <= out[-1][1] + 1e-9:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def check_timestamps(path, rows, resolution):
    table = read_timestamps_text(path)
    assert list(table) == [r[1] for r in rows]
    for _, utt, _, key, dur, spoofed in rows:
        t_dur, label, ranges = table[utt]
        assert label == key and t_dur == pytest.approx(dur, abs=1e-3)
        # ranges cover [0, dur] in order, without gaps or overlaps, alternating labels
        assert ranges[0][0] == 0 and ranges[-1][1] == pytest.approx(dur, abs=1e-3)
        for a, b in zip(ranges, ranges[1:]):
            assert a[1] == pytest.approx(b[0]) and a[2] != b[2]
        got = [(s, e) for s, e, lab in ranges if lab == "spoof"]
        want = spoofed_on_grid(spoofed, resolution, dur)
        assert len(got) == len(want)
        for (gs, ge), (ws, we) in zip(got, want):
            assert gs == pytest.approx(ws, abs=1e-4) and ge == pytest.approx(we, abs=1e-4)


def prepare(tmp_path, repo_env, check=True, **tree):
    root = str(tmp_path / "PartialSpoof")
    rows = make_partialspoof_loc_tree(root, **tree)
    data = str(tmp_path / "data")
    proc = run_script(RECIPE, ["local/prepare_data.sh", root, data], repo_env, check=check)
    return root, rows, data, proc


def test_prepare_writes_data_dirs_and_timestamps_from_finest_labels(tmp_path, repo_env):
    root, rows, data, proc = prepare(tmp_path, repo_env)
    make_raw_lists(data, rows, repo_env)
    db = os.path.join(root, "database")
    for subset, rs in rows.items():
        expected = [{"utt": utt, "wav": os.path.join(db, subset, "con_wav", utt + ".wav"),
                     "label": key, "speaker": spk, "attack": attack, "dur": dur}
                    for spk, utt, attack, key, dur, _ in rs]
        check_data_dir(os.path.join(data, subset), expected)
        check_timestamps(os.path.join(data, subset, "timestamps"), rs, 0.01)
    assert "0.01 s segment labels" in proc.stdout


def test_prepare_uses_the_finest_resolution_available(tmp_path, repo_env):
    _, rows, data, _ = prepare(tmp_path, repo_env, resolutions=(0.64, 0.02))
    for subset, rs in rows.items():
        check_timestamps(os.path.join(data, subset, "timestamps"), rs, 0.02)
    # 0.41-0.655 s at 20 ms: the segments it touches are 0.40-0.66
    _, _, ranges = read_timestamps_text(os.path.join(data, "dev", "timestamps"))["CON_D_0000002"]
    assert [(s, e) for s, e, lab in ranges if lab == "spoof"] == [(0.4, 0.66)]


def test_labels_one_segment_short_still_cover_the_audio(tmp_path, repo_env):
    root, rows, data, _ = prepare(tmp_path, repo_env, resolutions=(0.02,))
    path = os.path.join(root, "database", "segment_labels", "eval_seglab_0.02.npy")
    labels = np.load(path, allow_pickle=True).item()
    labels["CON_E_0000002"] = labels["CON_E_0000002"][:-1]  # 64 segments for 1.3 s
    np.save(path, labels, allow_pickle=True)
    run_script(RECIPE, ["local/prepare_data.sh", root, data], repo_env)
    dur, _, ranges = read_timestamps_text(os.path.join(data, "eval", "timestamps"))[
        "CON_E_0000002"]
    assert ranges[-1] == (0.5, 1.3, "spoof") and dur == pytest.approx(1.3)


def _corrupt(root, subset, utt, values):
    path = os.path.join(root, "database", "segment_labels", f"{subset}_seglab_0.01.npy")
    labels = np.load(path, allow_pickle=True).item()
    if values is None:
        del labels[utt]
    else:
        labels[utt] = values
    np.save(path, labels, allow_pickle=True)


@pytest.mark.parametrize("utt,values,messages", [
    # three segments short of 1.3 s: more than the one segment allowed
    ("CON_E_0000002", seglab(1.3, [(0.5, 1.3)], 0.01)[:-3], ["'CON_E_0000002'", "127"]),
    ("CON_E_0000002", np.array(["1", "x"] * 65), ["'CON_E_0000002'", "'x'"]),
    ("CON_E_0000001", seglab(1.1, [(0.2, 0.3)], 0.01),
     ["'CON_E_0000001' is bonafide in the protocol but its segment labels say spoof"]),
    ("CON_E_0000002", None, ["no segment labels for 'CON_E_0000002'"]),
])
def test_bad_segment_labels_are_one_line_errors(tmp_path, repo_env, utt, values, messages):
    root = str(tmp_path / "PartialSpoof")
    make_partialspoof_loc_tree(root, resolutions=(0.01,))
    _corrupt(root, "eval", utt, values)
    data = str(tmp_path / "data")
    proc = run_script(RECIPE, ["local/prepare_data.sh", root, data], repo_env, check=False)
    assert proc.returncode != 0
    assert all(m in proc.stderr for m in messages) and "eval_seglab_0.01.npy" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    # no set gets a timestamp table when one set is bad
    assert not any(os.path.exists(os.path.join(data, s, "timestamps"))
                   for s in ("train", "dev", "eval"))


def test_missing_segment_labels_name_the_folder(tmp_path, repo_env):
    _, _, data, proc = prepare(tmp_path, repo_env, check=False, resolutions=())
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "no segment labels train_seglab_<r>.npy" in proc.stderr
    assert os.path.join("database", "segment_labels") in proc.stderr



def test_download_fetches_the_segment_labels_too_and_is_idempotent(tmp_path, repo_env):
    src = str(tmp_path / "src")
    rows = make_partialspoof_loc_tree(src, resolutions=(0.01,))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for part, folder in [("train", "train"), ("dev", "dev"), ("eval", "eval"),
                         ("protocols", "protocols"), ("segment_labels_v1.2", "segment_labels")]:
        with tarfile.open(mirror / f"database_{part}.tar.gz", "w:gz") as tar:
            tar.add(os.path.join(src, "database", folder), arcname=f"database/{folder}")
    env = dict(repo_env, PARTIALSPOOF_URL=f"file://{mirror}", DOWNLOADER="curl")
    corpus = str(tmp_path / "PartialSpoof")
    run_script(RECIPE, ["local/download_database.sh", corpus], env)
    data = str(tmp_path / "data")
    run_script(RECIPE, ["local/prepare_data.sh", corpus, data], env)
    for subset, rs in rows.items():
        check_timestamps(os.path.join(data, subset, "timestamps"), rs, 0.01)
    shutil.rmtree(mirror)  # a rerun fetches nothing
    proc = run_script(RECIPE, ["local/download_database.sh", corpus], env)
    assert proc.stdout.count("already unpacked") == 5
