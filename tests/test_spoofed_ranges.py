import math

import numpy as np
import pytest

from wedefense.dataset.timestamps import read_rttm, read_timestamps
from wedefense.inference.spoofed_ranges import spoofed_ranges, write_spoofed_ranges
from wedefense.metrics.frame_scores import FrameScores, frame_times


def frames(llr, step=0.02):
    starts, ends = frame_times(len(llr), step)
    return starts, ends, np.array(llr, dtype=np.float64)


def test_consecutive_spoofed_frames_merge_with_their_minimum():
    got = spoofed_ranges(*frames([2.0, -1.0, -3.0, 1.0, -0.5, -2.0]), threshold=0.0)
    assert [(round(a, 6), round(b, 6), m) for a, b, m in got] == [
        (0.02, 0.06, -3.0), (0.08, 0.12, -2.0)]


def test_threshold_is_strict_and_defaults_to_bayes():
    tau = -math.log(1 * 0.95 / (10 * 0.05))  # README stage 6: -ln(beta), about -0.642
    just_below, at = np.nextafter(tau, -np.inf), tau
    assert spoofed_ranges(*frames([at, at])) == []
    got = spoofed_ranges(*frames([just_below, at]))
    assert len(got) == 1 and got[0][1] == pytest.approx(0.02)


def test_no_spoofed_frames_gives_no_range_and_all_spoofed_one():
    assert spoofed_ranges(*frames([1.0, 2.0]), threshold=0.0) == []
    got = spoofed_ranges(*frames([-1.0] * 50), threshold=0.0)
    assert len(got) == 1 and got[0][:2] == (0.0, pytest.approx(1.0))


def test_ranges_written_as_timestamps_and_rttm(tmp_path):
    s1, e1, l1 = frames([1.0, -1.0, -1.0, 1.0])
    s2, e2, l2 = frames([1.0, 1.0])
    ticks = 1_000_000
    scores = FrameScores(["a", "b"], np.array([0, 4, 6]),
                         np.rint(np.concatenate([s1, s2]) * ticks).astype(np.int64),
                         np.rint(np.concatenate([e1, e2]) * ticks).astype(np.int64),
                         np.concatenate([l1, l2]))
    write_spoofed_ranges(scores, 0.0, tmp_path / "timestamps", tmp_path / "spoofed.rttm")
    table = read_timestamps(tmp_path / "timestamps")
    assert table["a"].spoof_seconds() == [(0.02, 0.06)] and table["a"].duration_s == 0.08
    assert table["b"].label == "bonafide"
    assert read_rttm(tmp_path / "spoofed.rttm", {"a": 0.08, "b": 0.04})["a"].spoof_seconds() \
        == [(0.02, 0.06)]
