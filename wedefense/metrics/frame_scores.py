"""Frame scores ``frame_llr.txt``: one line per frame, ``<utt> <start_s> <end_s> <llr>``.

The LLR convention is detection's (positive = bona fide, natural log). Read strictly: within an
utterance the frames are sorted and contiguous from 0 (each starts where the one before ends, in
microsecond ticks), every LLR is finite, an utterance's frames form one block of lines. Any
problem is an :class:`InputError` naming the file and line.

Reading is vectorised (one ``bytes.split`` and numpy conversions): 4 million lines take a few
seconds. Only when that fast pass finds something wrong does a line-by-line pass run, to name the
line.
"""

import itertools
import math
import warnings
from typing import NamedTuple

import numpy as np

from wedefense.dataset.timestamps import TICKS_PER_SECOND, to_ticks
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open


class FrameScores(NamedTuple):
    """Frames of many utterances, concatenated in file order.

    Utterance ``i`` owns rows ``offsets[i]:offsets[i+1]`` of ``starts``/``ends`` (int64 ticks,
    see :data:`wedefense.dataset.timestamps.TICKS_PER_SECOND`) and ``llr`` (float64).
    """

    utts: list
    offsets: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    llr: np.ndarray

    def index(self):
        return {utt: i for i, utt in enumerate(self.utts)}

    def frames(self, i):
        """``(starts_s, ends_s, llr)`` of utterance ``i`` as float arrays (seconds)."""
        rows = slice(self.offsets[i], self.offsets[i + 1])
        return (self.starts[rows] / TICKS_PER_SECOND, self.ends[rows] / TICKS_PER_SECOND,
                self.llr[rows])

    def items(self):
        for i, utt in enumerate(self.utts):
            yield (utt, *self.frames(i))


def frame_times(num_frames, step, duration=None):
    """``(starts, ends)`` in seconds of ``num_frames`` frames of ``step`` s from 0; with
    ``duration``, the last frame ends there (it is cut, or stretched by less than a frame)."""
    starts = np.arange(num_frames) * to_ticks(step)
    ends = starts + to_ticks(step)
    if duration is not None and num_frames:
        ends[-1] = max(starts[-1] + 1, to_ticks(duration))
    return starts / TICKS_PER_SECOND, ends / TICKS_PER_SECOND


def write_frame_scores(path, items):
    """Write ``(utt, starts_s, ends_s, llr)`` tuples as ``frame_llr.txt``, atomically.

    Times get 4 decimals and LLRs 5, enough for 0.1 ms frames and any calibrated score.
    """
    seen = set()
    with atomic_open(path) as f:
        for utt, starts, ends, llr in items:
            if not utt or any(c.isspace() for c in utt):
                raise InputError(f"id {utt!r} is empty or contains whitespace", path)
            if utt in seen:
                raise InputError(f"duplicate id '{utt}'", path)
            seen.add(utt)
            llr = np.asarray(llr, dtype=np.float64)
            if not np.isfinite(llr).all():
                raise InputError(f"non-finite LLR for '{utt}'", path)
            f.write("".join(f"{utt} {a:.4f} {b:.4f} {s:.5f}\n"
                            for a, b, s in zip(np.asarray(starts).tolist(),
                                               np.asarray(ends).tolist(), llr.tolist())))


def read_frame_scores(path):
    """Read ``frame_llr.txt`` into :class:`FrameScores` (strict, see the module doc)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except OSError as e:
        raise InputError(f"cannot read the file ({e.strerror or e})", path) from None
    scores = _fast_parse(data)
    if scores is None:
        scores = _strict_parse(path, data)
    if not scores.utts:
        raise InputError("no frames in the file", path)
    return scores


def _fast_parse(data):
    """:class:`FrameScores` from clean data, else None (then the strict pass names the line)."""
    if not data.isascii() or b"\r" in data or b"\n\n" in data or data.startswith(b"\n"):
        return None
    if data and not data.endswith(b"\n"):
        data += b"\n"
    lines = data.count(b"\n")
    tokens = data.split()
    if len(tokens) != 4 * lines:
        return None
    ids = tokens[0::4]
    del tokens[0::4]
    numbers = b" ".join(tokens)
    del tokens
    # "1_5" (float() takes it) and hex ("0x1p3", strtod takes it): the strict pass judges them
    if b"_" in numbers or b"x" in numbers or b"X" in numbers:
        return None
    # numpy's C text parser; it stops early (a short result) on bad text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = np.fromstring(numbers, dtype=np.float64, sep=" ")
    del numbers
    if values.size != 3 * lines or not np.isfinite(values).all():
        return None
    values = values.reshape(lines, 3)
    starts, ends, llr = to_ticks(values[:, 0]), to_ticks(values[:, 1]), values[:, 2].copy()
    if lines == 0:
        return FrameScores([], np.zeros(1, np.int64), starts, ends, llr)
    groups = [(utt, len(list(run))) for utt, run in itertools.groupby(ids)]
    if len({utt for utt, _ in groups}) != len(groups):
        return None  # an utterance in two blocks
    offsets = np.concatenate(([0], np.cumsum([n for _, n in groups]))).astype(np.int64)
    first = offsets[:-1]
    new = np.zeros(lines, dtype=bool)
    new[first] = True
    follows = np.ones(lines, dtype=bool)
    follows[1:] = starts[1:] == ends[:-1]
    if (starts[first] != 0).any() or not (follows | new).all() or (ends <= starts).any():
        return None
    return FrameScores([utt.decode() for utt, _ in groups], offsets, starts, ends, llr)


def _number(raw, what, path, lineno):
    try:
        if "_" in raw:
            raise ValueError
        value = float(raw)
    except ValueError:
        raise InputError(f"bad {what} '{raw}'", path, lineno) from None
    if not math.isfinite(value):
        raise InputError(f"non-finite {what} '{raw}'", path, lineno)
    return value


def _strict_parse(path, data):
    """Line by line: raise an :class:`InputError` at the first bad line, else the scores."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text ({e.reason} at byte {e.start})", path) from None
    utts, offsets, starts, ends, llrs = [], [], [], [], []
    done, current, cursor = set(), None, 0
    lines = text.split("\n")
    for lineno, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            if lineno == len(lines) and not line:
                break
            raise InputError("blank line", path, lineno)
        if len(fields) != 4:
            raise InputError(f"expected '<utt> <start_s> <end_s> <llr>', got {len(fields)} "
                             "field(s)", path, lineno)
        utt = fields[0]
        start = to_ticks(_number(fields[1], "start time", path, lineno))
        end = to_ticks(_number(fields[2], "end time", path, lineno))
        llr = _number(fields[3], f"LLR for '{utt}'", path, lineno)
        if utt != current:
            if utt in done:
                raise InputError(f"frames of '{utt}' appear in two separate blocks", path,
                                 lineno)
            if current is not None:
                done.add(current)
            current, cursor = utt, 0
            if start != 0:
                raise InputError(f"the first frame of '{utt}' starts at {fields[1]}, not 0",
                                 path, lineno)
            utts.append(utt)
            offsets.append(len(llrs))
        if end <= start:
            raise InputError(f"frame of '{utt}' ends ({fields[2]}) before it starts "
                             f"({fields[1]})", path, lineno)
        if start != cursor:
            how = "overlaps the frame before or is unsorted" if start < cursor else \
                "leaves a gap after the frame before"
            raise InputError(f"frame of '{utt}' at {fields[1]} {how} (frames must be "
                             "sorted and contiguous)", path, lineno)
        cursor = end
        starts.append(start)
        ends.append(end)
        llrs.append(llr)
    offsets.append(len(llrs))
    return FrameScores(utts, np.array(offsets, dtype=np.int64), np.array(starts, dtype=np.int64),
                       np.array(ends, dtype=np.int64), np.array(llrs, dtype=np.float64))
