import os
import pickle

import numpy as np
import pytest

from wedefense.dataset.timestamps import (
    check_length,
    make_timestamps,
    mask_to_timestamps,
    read_reference,
    read_rttm,
    read_seglab,
    read_timestamps,
    seglab_to_timestamps,
    write_rttm,
    write_timestamps,
)
from wedefense.utils.errors import InputError

# Lines in the LlamaPartialSpoof label style (4 decimals, ranges covering [0, dur]).
PARTIAL = ("u1 1.9740 spoof 0.0000-0.8510-bonafide 0.8510-1.1910-spoof "
           "1.1910-1.9740-bonafide")
BONA = "u2 0.9600 bonafide 0.0000-0.9600-bonafide"
FULL = "u3 0.5000 spoof 0.0000-0.5000-spoof"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_timestamps_and_round_trip(tmp_path):
    path = write(tmp_path, "timestamps", "\n".join([PARTIAL, BONA, FULL]) + "\n")
    table = read_timestamps(path)
    assert list(table) == ["u1", "u2", "u3"]
    assert table["u1"].spoof_seconds() == [(0.851, 1.191)]
    assert table["u2"].label == "bonafide" and table["u2"].spoof_seconds() == []
    assert table["u3"].spoof_seconds() == [(0.0, 0.5)]
    out = tmp_path / "out"
    write_timestamps(out, table)
    assert out.read_text().splitlines() == [PARTIAL, BONA, FULL]


def test_adjacent_spoof_ranges_merge(tmp_path):
    path = write(tmp_path, "t", "u 1.0000 spoof 0.0000-0.2000-spoof 0.2000-0.5000-spoof "
                 "0.5000-1.0000-bonafide\n")
    assert read_timestamps(path)["u"].spoof_seconds() == [(0.0, 0.5)]


@pytest.mark.parametrize("line, message", [
    ("u 1.0 spoof 0.0-0.5-fake 0.5-1.0-bonafide", "unknown label 'fake'"),
    ("u 1.0 partial 0.0-1.0-bonafide", "unknown label 'partial'"),
    ("u 1.0 spoof 0.0-0.6-bonafide 0.5-1.0-spoof", "overlaps"),
    ("u 1.0 spoof 0.5-1.0-spoof 0.0-0.5-bonafide", "gap"),
    ("u 1.0 spoof 0.0-0.4-bonafide 0.5-1.0-spoof", "gap"),
    ("u 1.0 spoof 0.0-0.5-bonafide 0.5-1.2-spoof", "ends after the duration"),
    ("u 1.0 spoof 0.0-0.5-bonafide 0.5-0.9-spoof", "end at 0.9000"),
    ("u 1.0 spoof 0.0-1.0-bonafide", "ranges say bonafide"),
    ("u 1.0 bonafide 0.0-0.5-spoof 0.5-1.0-bonafide", "ranges say spoof"),
    ("u 1.0 spoof 0.0-0.5-0.5-spoof", "not <start>-<end>-<label>"),
    ("u nan spoof 0.0-1.0-spoof", "non-finite duration"),
    ("u 1.0 spoof", "got 3 field(s)"),
])
def test_bad_timestamp_lines_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path, "timestamps", BONA + "\n" + line + "\n")
    with pytest.raises(InputError) as e:
        read_timestamps(path)
    assert message in str(e.value)
    assert str(e.value).startswith(f"{path}:2: ")


def test_duplicate_utterance_is_an_error(tmp_path):
    path = write(tmp_path, "t", BONA + "\n" + BONA + "\n")
    with pytest.raises(InputError, match=r":2: duplicate id 'u2'"):
        read_timestamps(path)


def test_segment_is_spoof_if_any_part_is_and_last_partial_segment_counts():
    # spoof [0.851, 1.191) in 1.974 s
    ts = make_timestamps(1.974, [(0.851, 1.191)])
    mask = ts.spoof_mask(0.16)
    assert mask.size == 13  # ceil(1.974 / 0.16): the last partial segment [1.92, 1.974)
    assert np.flatnonzero(mask).tolist() == [5, 6, 7]  # [0.80,0.96) .. [1.12,1.28)
    assert ts.spoof_mask(0.64).tolist() == [False, True, False, False]
    # a spoof range touching only the last partial segment marks it
    assert make_timestamps(1.0, [(0.99, 1.0)]).spoof_mask(0.32).tolist() == [
        False, False, False, True]


def test_boundaries_on_segment_edges_are_exact():
    # 0.32 * 3 = 0.96 is 0.9600000000000001 in floats: a float comparison would mark
    # segment 3 as spoof because of the rounding.
    ts = make_timestamps(1.6, [(0.32 * 3, 0.32 * 4)])
    assert np.flatnonzero(ts.spoof_mask(0.32)).tolist() == [3]
    ts = make_timestamps(0.3, [(0.1, 0.2)])
    assert ts.spoof_mask(0.1).tolist() == [False, True, False]
    assert ts.spoof_mask(0.02).sum() == 5


def test_chunk_labels_follow_the_chunk():
    ts = make_timestamps(4.0, [(1.05, 1.30)])
    # chunk [1.0, 1.5) at 0.1 s: frames start at 1.0, spoof [1.05, 1.30) touches frames 0..2
    assert ts.chunk_spoof_mask(1.0, 1.5, 0.1).tolist() == [True, True, True, False, False]
    # a chunk starting off the global grid: labels are relative to the chunk, not shifted
    assert ts.chunk_spoof_mask(1.25, 1.45, 0.1).tolist() == [True, False]
    assert not ts.chunk_spoof_mask(2.0, 3.0, 0.02).any()
    whole = ts.spoof_mask(0.02)
    assert np.array_equal(ts.chunk_spoof_mask(1.0, 2.0, 0.02), whole[50:100])


def test_mask_to_timestamps_and_back():
    mask = np.array([0, 1, 1, 0, 1], dtype=bool)
    ts = mask_to_timestamps(mask, 0.16, duration=0.7)  # last segment [0.64, 0.7) partial
    assert ts.spoof_seconds() == [(0.16, 0.48), (0.64, 0.7)]
    assert np.array_equal(ts.spoof_mask(0.16), mask)
    assert mask_to_timestamps(mask, 0.1).duration_s == pytest.approx(0.5)


def test_label_length_beyond_one_segment_is_an_error_naming_the_utterance():
    check_length("u", 6, 1.0, 0.2, "x")  # 5 expected, one extra is tolerated
    check_length("u", 4, 1.0, 0.2, "x")
    with pytest.raises(InputError, match="'u' has 7 labels at 0.2 s .* needs 5"):
        check_length("u", 7, 1.0, 0.2, "x")
    with pytest.raises(InputError, match="'u' has 3 labels"):
        mask_to_timestamps(np.zeros(3, bool), 0.2, duration=1.0, utt="u")


def save_seglab(path, table):
    np.save(path, table, allow_pickle=True)
    return path


def test_read_seglab_partialspoof_convention(tmp_path):
    path = save_seglab(tmp_path / "dev_seglab_0.16.npy", {
        "CON_D_1": np.array(["1", "0", "0", "1"]), "LA_D_2": np.array(["1", "1"])})
    table = read_seglab(path)
    assert table["CON_D_1"].tolist() == [False, True, True, False]  # '0' is spoof
    assert not table["LA_D_2"].any()
    ref = seglab_to_timestamps(path, 0.16, {"CON_D_1": 0.6, "LA_D_2": 0.3})
    assert ref["CON_D_1"].spoof_seconds() == [(0.16, 0.48)]
    assert ref["LA_D_2"].label == "bonafide"
    assert read_reference(path, {"CON_D_1": 0.6, "LA_D_2": 0.3})["CON_D_1"].spoof_seconds() \
        == [(0.16, 0.48)]


def test_read_seglab_written_by_old_numpy(tmp_path):
    # numpy 1.x names numpy.core.multiarray._reconstruct and spells bytes with protocol 2
    path = tmp_path / "a_seglab_0.02.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|O", "fortran_order": False, "shape": ()})
        # protocol 2 names globals as text lines, so the module can be renamed in place
        data = pickle.dumps(np.array({"u": np.array(["1", "0"])}, dtype=object), protocol=2)
        assert b"_codecs" in data
        f.write(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert read_seglab(path)["u"].tolist() == [False, True]


def test_seglab_unknown_label_is_an_error(tmp_path):
    path = save_seglab(tmp_path / "x_seglab_0.02.npy", {"u": np.array(["1", "2"])})
    with pytest.raises(InputError, match="unknown segment label '2' for 'u'"):
        read_seglab(path)


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_crafted_seglab_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil_seglab_0.02.npy"
    header = {"descr": "|O", "fortran_order": False, "shape": ()}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        pickle.dump({"u": _Payload(str(marker))}, f, protocol=3)
    with pytest.raises(InputError, match=r"refusing to load io\.open"):
        read_seglab(path)
    assert not os.path.exists(marker)


def test_seglab_that_is_not_an_object_array_is_refused(tmp_path):
    path = tmp_path / "n_seglab_0.02.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(InputError, match="expected a pickled dict"):
        read_seglab(path)


def test_rttm_round_trip_and_bonafide_utterances(tmp_path):
    table = {"a": make_timestamps(2.0, [(0.1, 0.25), (1.5, 2.0)]), "b": make_timestamps(1.0)}
    path = tmp_path / "spoofed.rttm"
    write_rttm(path, table)
    assert path.read_text().splitlines()[0] == \
        "SPEAKER a 1 0.1000 0.1500 <NA> <NA> spoof <NA> <NA>"
    back = read_rttm(path, {"a": 2.0, "b": 1.0})
    assert back["a"].spoof_seconds() == [(0.1, 0.25), (1.5, 2.0)]
    assert back["b"].label == "bonafide"
    assert read_reference(path, {"a": 2.0, "b": 1.0})["a"].spoof_seconds() == \
        [(0.1, 0.25), (1.5, 2.0)]


def test_rttm_errors(tmp_path):
    path = write(tmp_path, "r", "SPEAKER a 1 0.5 0.6 <NA> <NA> spoof <NA> <NA>\n")
    with pytest.raises(InputError, match=r":1: range of 'a' ends after its duration"):
        read_rttm(path, {"a": 1.0})
    with pytest.raises(InputError, match=r"'a' has no duration"):
        read_rttm(path, {"b": 1.0})
    path = write(tmp_path, "r2", "SPEAKER a 1 0.1 0.2 <NA> <NA> fake <NA> <NA>\n")
    with pytest.raises(InputError, match="unknown label 'fake'"):
        read_rttm(path, {"a": 1.0})
