import numpy as np
import pytest

from wedefense.metrics.frame_scores import (
    frame_times,
    read_frame_scores,
    write_frame_scores,
)
from wedefense.utils.errors import InputError

GOOD = """a 0.000 0.020 1.500
a 0.020 0.040 -2.250
a 0.040 0.050 0.125
b 0.000 0.020 3.000
"""


def write(tmp_path, text, name="frame_llr.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_read_groups_frames_by_utterance(tmp_path):
    scores = read_frame_scores(write(tmp_path, GOOD))
    assert scores.utts == ["a", "b"]
    assert scores.offsets.tolist() == [0, 3, 4]
    starts, ends, llr = scores.frames(0)
    assert starts.tolist() == [0.0, 0.02, 0.04] and ends.tolist() == [0.02, 0.04, 0.05]
    assert llr.tolist() == [1.5, -2.25, 0.125]


def test_slow_path_reads_what_the_fast_path_refuses(tmp_path):
    # CRLF and double spaces are legal whitespace: the line-by-line reader takes them
    odd = GOOD.replace("\n", "\r\n").replace(" ", "  ")
    fast, slow = read_frame_scores(write(tmp_path, GOOD)), read_frame_scores(
        write(tmp_path, odd, "odd"))
    assert fast.utts == slow.utts
    for a, b in zip(fast[1:], slow[1:]):
        assert np.array_equal(a, b)


def test_write_read_round_trip(tmp_path):
    starts, ends = frame_times(3, 0.02, duration=0.055)
    assert ends[-1] == pytest.approx(0.055)
    path = tmp_path / "out.txt"
    write_frame_scores(path, [("u", starts, ends, [0.123456, -7.0, 2.5])])
    line = path.read_text().splitlines()[0]
    assert line == "u 0.0000 0.0200 0.12346"  # >= 3 decimals
    back = read_frame_scores(path)
    assert back.frames(0)[2].tolist() == [0.12346, -7.0, 2.5]


@pytest.mark.parametrize("text, line, message", [
    (GOOD.replace("-2.250", "nan"), 2, "non-finite LLR for 'a'"),
    (GOOD.replace("-2.250", "inf"), 2, "non-finite LLR"),
    (GOOD.replace("-2.250", "x"), 2, "bad LLR"),
    (GOOD.replace("a 0.020 0.040", "a 0.030 0.040"), 2, "leaves a gap"),
    (GOOD.replace("a 0.040 0.050", "a 0.010 0.050"), 3, "overlaps the frame before"),
    (GOOD + "a 0.050 0.070 1.0\n", 5, "frames of 'a' appear in two separate blocks"),
    (GOOD.replace("b 0.000", "b 0.020").replace("0.020 3.000", "0.040 3.000"), 4,
     "starts at 0.020, not 0"),
    (GOOD.replace("a 0.040 0.050", "a 0.040 0.040"), 3, "ends (0.040) before it starts"),
    (GOOD.replace("b 0.000 0.020 3.000", "b 0.000 0.020"), 4, "got 3 field(s)"),
    (GOOD.replace("\nb", "\n\nb"), 4, "blank line"),
])
def test_bad_frame_scores_name_the_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as e:
        read_frame_scores(path)
    assert str(e.value).startswith(f"{path}:{line}: ")
    assert message in str(e.value)


def test_empty_or_missing_file(tmp_path):
    with pytest.raises(InputError, match="no frames"):
        read_frame_scores(write(tmp_path, ""))
    with pytest.raises(InputError, match="file not found"):
        read_frame_scores(tmp_path / "nope")


def test_writer_refuses_nan(tmp_path):
    with pytest.raises(InputError, match="non-finite LLR for 'u'"):
        write_frame_scores(tmp_path / "x", [("u", [0.0], [0.02], [float("nan")])])
    assert not (tmp_path / "x").exists()
