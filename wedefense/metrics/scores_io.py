"""Score files and keys in the ASVspoof5 layout, read strictly and fast (README.md, "What each
stage does and writes").

- Scores (``llr.txt``): a header ``filename<TAB>cm-score`` then ``<utt><TAB><score>`` lines. A
  headerless Kaldi table ``<utt> <score>`` from another toolkit is read as well.
- Keys: a tab-separated file whose header names a ``filename`` and a ``cm-label`` column (an
  ASVspoof5 protocol-like file; other columns are ignored), a Kaldi ``utt2lab``
  (``<utt> bonafide|spoof``, no header), or an ASVspoof5 Track-1 protocol (10 space-separated
  columns, no header, see :mod:`wedefense.dataset.asvspoof5_protocol`).

The layout is told from the first non-empty line: a header contains the field ``filename``.

What a valid line is, once (:func:`_read_columns` implements it, with numpy over whole blocks):
lines end at ``\\n``; a line of ASCII whitespace only is skipped; under a header with a tab the
fields are the tab-separated parts stripped of spaces (``\\r`` included), else runs of ASCII
whitespace separate them; every line has as many fields as the layout; ids are non-empty, unique
and UTF-8; a score is a plain ASCII decimal number (:data:`_SCORE_TOKEN`) and finite; a label is
``bonafide`` or ``spoof``. The first line that breaks a rule is reported as an
:class:`InputError` naming the file, the line and the rule, so a metric is never computed on
silently mismatched trials.
"""

import math
import re
from typing import NamedTuple

import numpy as np

from wedefense.dataset import asvspoof5_protocol as protocol
from wedefense.dataset.tables import LABELS
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

ID_COLUMN = "filename"
SCORE_COLUMN = "cm-score"
LABEL_COLUMN = "cm-label"

# bytes.split()'s whitespace but the newline, which ends a line.
_SPACE = b" \t\r\x0b\x0c"
_CHUNK_BYTES = 32 << 20

# A score is a plain ASCII decimal number, optionally signed, with an optional exponent
# ("-1.5", ".5", "5.", "2e-3"). float() alone would also take "1_5" (15.0) and non-ASCII digits.
# Spellings of inf and NaN pass here so that the finiteness check can name them as such.
_SCORE_TOKEN = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                          r"|[+-]?(?:inf|infinity|nan)", re.IGNORECASE)


def _score_value(raw):
    """``float(raw)`` for a token matching :data:`_SCORE_TOKEN`; ValueError otherwise."""
    if _SCORE_TOKEN.fullmatch(raw) is None:
        raise ValueError(f"not a decimal number: {raw!r}")
    return float(raw)


class _Layout(NamedTuple):
    """How to read one file: where the data starts, how fields are separated, which to keep."""

    header_line: int       # line number of the header, 0 without one
    columns: tuple         # column names, for messages
    tab: bool              # one tab between fields (stripped) instead of runs of whitespace
    id_index: int
    value_index: int
    what: str              # "score" or "label"

    def count_error(self, count, path, lineno):
        if self.columns == protocol.COLUMNS:
            return protocol.column_count_error(count, path, lineno)
        names = ", ".join(self.columns)
        kind = "tab-separated " if self.tab else ""
        return InputError(f"expected {len(self.columns)} {kind}fields ({names}), got {count}",
                          path, lineno)


def _open_error(path, error):
    if isinstance(error, FileNotFoundError):
        return InputError("file not found", path)
    return InputError(f"cannot read the file ({error.strerror or error})", path)


def _first_line(path):
    """``(line number, line)`` of the first line holding more than whitespace, or None."""
    try:
        with open(path, "rb") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip(_SPACE + b"\n"):
                    return lineno, line.rstrip(b"\n")
    except OSError as e:  # missing, a directory, no permission, ...
        raise _open_error(path, e) from None
    return None


def _layout(path, value_column):
    """The :class:`_Layout` of a score file (``cm-score``) or a key (``cm-label``)."""
    what = "score" if value_column == SCORE_COLUMN else "label"
    first = _first_line(path)
    if first is None:
        raise InputError(f"no {what}s in the file", path)
    lineno, line = first
    fields = [f.decode("utf-8", "replace") for f in line.split()]
    if ID_COLUMN in fields:
        tab = b"\t" in line
        if tab:
            fields = [f.strip(_SPACE).decode("utf-8", "replace") for f in line.split(b"\t")]
        if value_column not in fields:
            raise InputError(f"the header has no '{value_column}' column "
                             f"(columns: {', '.join(fields)})", path, lineno)
        return _Layout(lineno, tuple(fields), tab, fields.index(ID_COLUMN),
                       fields.index(value_column), what)
    if what == "label" and protocol.looks_like_protocol(fields):
        return _Layout(0, protocol.COLUMNS, False, protocol.ID, protocol.KEY, what)
    return _Layout(0, ("utt", what), False, 0, 1, what)


# Canonical form of a block: one separator between fields, none at a line's ends, no blank line.
# Files written by stage 6 already are (see _is_canonical); the substitutions run otherwise.
_TAB_PAD = re.compile(rb"[ \r\x0b\x0c]+(?=[\t\n])|(?<=[\t\n])[ \r\x0b\x0c]+")
_TAB_BLANK = re.compile(rb"(?<=\n)\t+(?=\n)")
_SPACE_RUN = re.compile(rb"[ \t\r\x0b\x0c]+")
_EDGE_SPACE = re.compile(rb"(?<=\n) | (?=\n)")
_NEWLINES = re.compile(rb"\n+")


def _canonical(block, tab):
    """``(block, kept)``: ``block`` (whole lines) in canonical form, and the indices of the lines
    kept (those not blank)."""
    if tab:
        block = _TAB_BLANK.sub(b"", _TAB_PAD.sub(b"", b"\n" + block))
    else:
        block = _EDGE_SPACE.sub(b"", _SPACE_RUN.sub(b" ", b"\n" + block))
    newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)[1:]
    kept = np.flatnonzero(np.diff(newlines, prepend=0) > 1)
    return _NEWLINES.sub(b"\n", block)[1:], kept


def _bounds(block, sep, exact=True):
    """Positions of the separators and newlines of ``block``, and which byte each is; not
    ``exact``: of every byte up to the larger of the two too (one pass instead of three)."""
    raw = np.frombuffer(block, dtype=np.uint8)
    bounds = np.flatnonzero(((raw == sep) | (raw == 10)) if exact else (raw <= max(sep, 10)))
    return bounds, raw[bounds]


def _has_pattern(kinds, sep, ncols, num_lines):
    """True when the bounds are ``ncols - 1`` separators then a newline, ``num_lines`` times."""
    expected = np.full(ncols, sep, dtype=np.uint8)
    expected[-1] = 10
    return kinds.size == ncols * num_lines and np.array_equal(
        kinds.reshape(num_lines, ncols), np.broadcast_to(expected, (num_lines, ncols)))


def _column_width(bounds, ncols, column):
    """The longest field of ``column`` (in bytes), from the bounds of a block with no bad line."""
    ends = bounds[column::ncols]
    if not ends.size:
        return None
    starts = (bounds[column - 1::ncols] + 1 if column
              else np.concatenate(([0], bounds[ncols - 1::ncols][:-1] + 1)))
    return max(int((ends - starts).max()), 1)


def _is_canonical(block, bounds, tab):
    """True when ``_canonical`` would not change ``block``: no other whitespace byte, and no
    empty field (nor blank line) as two bounds in a row or a bound first would show."""
    others = b" \r\x0b\x0c" if tab else b"\t\r\x0b\x0c"
    if any(byte in block for byte in (others[i:i + 1] for i in range(len(others)))):
        return False
    return not bounds.size or (bounds[0] != 0 and not np.any(np.diff(bounds) == 1))


def _blocks(path, start_line):
    """Yield blocks of whole lines after line ``start_line``, ~32 MB each, the last one given
    its missing final newline."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise _open_error(path, e) from None
    with f:
        for _ in range(start_line):
            f.readline()
        tail = b""
        while True:
            chunk = f.read(_CHUNK_BYTES)
            if not chunk:
                if tail:
                    yield tail + b"\n"
                return
            chunk = tail + chunk if tail else chunk
            cut = chunk.rfind(b"\n") + 1
            block, tail = chunk[:cut], chunk[cut:]
            if block:
                yield block


class _Block(NamedTuple):
    """The data lines of one block: ids, raw value tokens and their line numbers."""

    ids: np.ndarray        # bytes
    values: list           # bytes tokens
    lines: np.ndarray      # int64 line numbers
    ascii: bool = True
    underscores: bool = False  # maybe in a value


def _split_block(block, first_line, num_lines, layout, path):
    """``(_Block, error or None)``: the block's data lines up to the first one with a wrong field
    count, an undecodable byte or a NUL, and the error for that line."""
    error = None
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError as e:
            bad = block.rfind(b"\n", 0, e.start) + 1
            error = InputError("not UTF-8 text", path, first_line + block.count(b"\n", 0, bad))
            block = block[:bad]
            num_lines = block.count(b"\n")
    if b"\x00" in block:
        bad = block.rfind(b"\n", 0, block.index(b"\x00")) + 1
        error = InputError("a NUL byte in the line", path, first_line + block.count(b"\n", 0, bad))
        block = block[:bad]
        num_lines = block.count(b"\n")
    sep = b"\t" if layout.tab else b" "
    ncols = len(layout.columns)
    lines = first_line + np.arange(num_lines)
    bounds, kinds = _bounds(block, sep[0], exact=False)
    canonical = (_has_pattern(kinds, sep[0], ncols, lines.size)
                 and _is_canonical(block, bounds, layout.tab))
    if not canonical:
        if not _is_canonical(block, bounds, layout.tab):
            block, kept = _canonical(block, layout.tab)
            lines = lines[kept]
        bounds, kinds = _bounds(block, sep[0])
    if not _has_pattern(kinds, sep[0], ncols, lines.size):
        newlines = bounds[kinds == 10]
        counts = np.bincount(np.searchsorted(newlines, bounds[kinds != 10]),
                             minlength=lines.size) + 1
        bad = int(np.flatnonzero(counts != ncols)[0])
        if error is None or lines[bad] < error.line:
            error = layout.count_error(int(counts[bad]), path, int(lines[bad]))
        block = block[:newlines[bad - 1] + 1] if bad else b""
        lines = lines[:bad]
    if canonical:  # nothing but single separators and newlines between non-empty fields
        tokens = block.split()
        width = _column_width(bounds, ncols, layout.id_index)
    else:
        tokens = block.replace(b"\n", sep).split(sep)
        tokens.pop()  # after the last newline
        width = None
    # numpy finds the width of a bytes array in a pass of its own unless told it
    ids = np.array(tokens[layout.id_index::ncols], dtype=f"S{width}" if width else bytes)
    values = tokens[layout.value_index::ncols]
    # Underscores in the score column (float() takes "1_5"): none in the block, or as many in
    # the ids as in a block of two columns, rules them out without joining the tokens.
    underscores = block.count(b"_") if layout.what == "score" else 0
    if underscores and ncols == 2 and np.count_nonzero(ids.view(np.uint8) == 95) == underscores:
        underscores = 0
    return _Block(ids, values, lines, block.isascii(), underscores > 0), error


def _check_values(block, layout, path):
    """The parsed values of ``block`` (float64 scores or a bona fide mask), or the error for
    its first bad line (an empty id, a bad value)."""
    errors = []
    empty = np.flatnonzero(block.ids == b"")
    if empty.size:
        errors.append((int(block.lines[empty[0]]), InputError("empty id", path,
                                                              int(block.lines[empty[0]]))))
    tokens = block.values
    if layout.what == "label":
        # One byte longer than "bonafide": a longer token is cut, and still matches neither.
        labels = np.array(tokens, dtype="S9")
        values = labels == b"bonafide"
        bad = np.flatnonzero(~(values | (labels == b"spoof")))
        if bad.size:
            i = int(bad[0])
            errors.append((int(block.lines[i]), InputError(
                f"unknown label '{_text(tokens[i])}' for '{_text(block.ids[i])}' (expected one "
                f"of {', '.join(LABELS)})", path, int(block.lines[i]))))
    else:
        # numpy converts bytes as float() does; of what _SCORE_TOKEN refuses, float() takes only
        # non-ASCII digits and digit grouping ("1_5"), so those two bytes send us to the regex.
        try:
            if not block.ascii or block.underscores:
                joined = b"".join(tokens)
                if not joined.isascii() or b"_" in joined:
                    raise ValueError
            values = np.array(tokens, dtype=np.float64)
        except ValueError:
            values = None
            i = next(i for i, t in enumerate(tokens) if _is_bad_score(t))  # there is one
            errors.append((int(block.lines[i]), InputError(
                f"bad score '{_text(tokens[i])}' for '{_text(block.ids[i])}'", path,
                int(block.lines[i]))))
        else:
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                i = int(bad[0])
                errors.append((int(block.lines[i]), InputError(
                    f"non-finite score '{_text(tokens[i])}' for '{_text(block.ids[i])}'", path,
                    int(block.lines[i]))))
    if errors:
        return None, min(errors, key=lambda e: e[0])[1]
    return values, None


def _is_bad_score(token):
    try:
        _score_value(token.decode("utf-8"))
    except ValueError:
        return True
    return False


def _text(token):
    return token.decode("utf-8") if isinstance(token, bytes) else str(token)


def _read_columns(path, value_column, duplicates=True):
    """``(ids, values, line numbers)`` of a score file or key, all lines checked (see the module
    docstring); ids as numpy bytes, values float64 scores or a bona fide mask.

    ``duplicates=False`` leaves repeated ids of an otherwise valid file to the caller (a join
    sorts the ids anyway and finds them for free).
    """
    layout = _layout(path, value_column)
    parts, error = [], None
    first_line = layout.header_line + 1
    for block in _blocks(path, layout.header_line):
        lines_in_block = block.count(b"\n")
        block, error = _split_block(block, first_line, lines_in_block, layout, path)
        first_line += lines_in_block
        values, value_error = _check_values(block, layout, path)
        if value_error is not None:
            # Lines after the bad value are not part of the file as far as checks go.
            if error is None or value_error.line < error.line:
                error = value_error
            keep = np.flatnonzero(block.lines <= error.line).size
            block = _Block(block.ids[:keep], [], block.lines[:keep])
            values = np.zeros(keep)
        parts.append((block, values))
        if error is not None:
            break
    ids = np.concatenate([b.ids for b, _ in parts]) if parts else np.array([], dtype=bytes)
    lines = np.concatenate([b.lines for b, _ in parts]) if parts else np.array([], dtype=np.int64)
    duplicate = _first_duplicate(ids) if duplicates or error is not None else None
    if duplicate is not None and (error is None or lines[duplicate] <= error.line):
        error = InputError(f"duplicate id '{_text(ids[duplicate])}'", path, int(lines[duplicate]))
    if error is not None:
        raise error
    if not ids.size:
        raise InputError(f"no {layout.what}s in the file", path)
    return ids, np.concatenate([v for _, v in parts]), lines


# --- ids: sorting, duplicates and the join, on numeric keys -------------------------------------

def _id_keys(*arrays):
    """One uint64 per id, equal iff the ids are equal (the same mapping for all ``arrays``), or
    None when the ids vary too much to fit in 64 bits.

    Byte positions that hold the same byte in every id say nothing and are dropped: when the
    others lie within 8 bytes (``E_0000193571``: the digits), those bytes are the key; else each
    varying position is packed with as many bits as its distinct bytes need.
    """
    width = 8 * -(-max(a.dtype.itemsize for a in arrays) // 8)  # whole 64-bit words
    matrices = [np.ascontiguousarray(a.astype(f"S{width}", copy=False)).view(np.uint8)
                .reshape(a.size, width) for a in arrays]
    # The bytes that differ from the first id somewhere, found word by word.
    first_id = next(m[0] for m in matrices if m.size).view(np.uint64)
    differs = np.zeros_like(first_id)
    for m in matrices:
        if m.size:
            differs |= np.bitwise_or.reduce(m.view(np.uint64) ^ first_id, axis=0)
    varying = np.flatnonzero(differs.view(np.uint8))
    if varying.size == 0:
        return [np.zeros(a.size, dtype=np.uint64) for a in arrays]
    first, last = int(varying[0]), int(varying[-1]) + 1
    if last - first <= 8:
        keys = []
        for m in matrices:
            window = np.zeros((m.shape[0], 8), dtype=np.uint8)
            window[:, 8 - (last - first):] = m[:, first:last]
            keys.append(window.view(">u8").ravel().astype(np.uint64))
        return keys
    keys = [np.zeros(a.size, dtype=np.uint64) for a in arrays]
    bits = 0
    for column in varying:
        present = np.zeros(256, dtype=bool)
        for m in matrices:
            present |= np.bincount(m[:, column], minlength=256) > 0
        need = int(np.count_nonzero(present) - 1).bit_length()
        bits += need
        if bits > 64:
            return None
        rank = (np.cumsum(present) - 1).astype(np.uint64)
        for key, m in zip(keys, matrices):
            key <<= np.uint64(need)
            key |= rank[m[:, column]]
    return keys


def _sort_order(ids):
    """``argsort`` of a bytes array, by its big-endian 64-bit words."""
    width = ids.dtype.itemsize
    words = -(-width // 8)
    padded = np.zeros((ids.size, 8 * words), dtype=np.uint8)
    padded[:, :width] = ids.view(np.uint8).reshape(ids.size, width)
    columns = padded.view(">u8").reshape(ids.size, words)
    return np.lexsort(columns.T[::-1])


def _first_duplicate(ids):
    """Index of the first id that repeats an earlier one, or None."""
    if ids.size < 2:
        return None
    keys = _id_keys(ids)
    if keys is None:
        sorted_ids = ids[_sort_order(ids)]
        unique = not np.any(sorted_ids[1:] == sorted_ids[:-1])
    else:
        sorted_keys = np.sort(keys[0])
        unique = not np.any(sorted_keys[1:] == sorted_keys[:-1])
    if unique:
        return None
    seen = set()
    for i, utt in enumerate(ids.tolist()):
        if utt in seen:
            return i
        seen.add(utt)
    return None  # not reached


def align_ids(ids, other):
    """Index ``i`` with ``other[i] == ids`` when both hold the same unique ids, else None."""
    if ids.shape != other.shape or ids.size == 0:
        return None
    if np.array_equal(ids, other):
        return np.arange(ids.size) if _first_duplicate(ids) is None else None
    keys = _id_keys(ids, other)
    if keys is None:
        order, other_order = _sort_order(ids), _sort_order(other)
        sorted_ids = ids[order]
        if (np.any(sorted_ids[1:] == sorted_ids[:-1])
                or not np.array_equal(sorted_ids, other[other_order])):
            return None
        index = np.empty(ids.size, dtype=np.int64)
        index[order] = other_order
        return index
    key, other_key = keys
    other_order = np.argsort(other_key)
    sorted_other = other_key[other_order]
    if np.any(sorted_other[1:] == sorted_other[:-1]):
        return None
    position = np.searchsorted(sorted_other, key)
    np.minimum(position, ids.size - 1, out=position)
    if not np.array_equal(sorted_other[position], key):
        return None
    hit = np.zeros(ids.size, dtype=bool)
    hit[position] = True
    if not hit.all():  # a repeated id in ``ids``
        return None
    return other_order[position]


# --- the public readers -------------------------------------------------------------------------

class Trials(NamedTuple):
    """Scored trials in key order: ids (numpy bytes), LLR scores (float64), bona fide mask."""

    ids: np.ndarray
    scores: np.ndarray
    is_bona: np.ndarray

    @property
    def bona(self):
        return self.scores[self.is_bona]

    @property
    def spoof(self):
        return self.scores[~self.is_bona]

    def utts(self):
        return [utt.decode("utf-8") for utt in self.ids.tolist()]


def _as_dict(ids, values):
    return dict(zip((u.decode("utf-8") for u in ids.tolist()), values))


def read_scores(path):
    """Read a score file into an ordered ``{utt: score}`` dict of finite floats."""
    ids, values, _ = _read_columns(path, SCORE_COLUMN)
    return _as_dict(ids, values.tolist())


def read_key(path):
    """Read a key (ASVspoof5 TSV or protocol, Kaldi utt2lab) into an ordered ``{utt: label}``."""
    ids, is_bona, _ = _read_columns(path, LABEL_COLUMN)
    return _as_dict(ids, np.where(is_bona, "bonafide", "spoof").tolist())


def read_score_column(path):
    """``(ids, scores)`` of a score file as numpy arrays, in file order, strictly checked."""
    ids, values, _ = _read_columns(path, SCORE_COLUMN)
    return ids, values


def read_trials(scores_path, key_path):
    """Scores joined to the key by id, every line of both checked, in key order."""
    score_ids, values, _ = _read_columns(scores_path, SCORE_COLUMN, duplicates=False)
    key_ids, is_bona, _ = _read_columns(key_path, LABEL_COLUMN, duplicates=False)
    index = align_ids(key_ids, score_ids)
    if index is None:  # a repeated or a stray id: the full checks name its line, scores first
        score_ids = _read_columns(scores_path, SCORE_COLUMN)[0]
        key_ids = _read_columns(key_path, LABEL_COLUMN)[0]
        join_scores(score_ids, scores_path, key_ids, key_path)
    for present, what in ((is_bona.any(), "bona fide"), (not is_bona.all(), "spoof")):
        if not present:
            raise InputError(f"the key has no {what} trials", key_path)
    return Trials(key_ids, values[index], is_bona)


def _fields(line, tab):
    if tab:
        return [f.strip(_SPACE) for f in line.rstrip(b"\n").split(b"\t")]
    return line.split()


def find_line(path, utt):
    """The line of ``utt`` in a score file, key, protocol or Kaldi table (None if absent); for
    messages, so the first line holding it as its id, fields split as the reader splits them."""
    first = _first_line(path)
    if first is None:
        return None
    header_line, line = first
    tab = b"\t" in line
    fields = _fields(line, tab)
    if ID_COLUMN.encode() in fields:
        index = fields.index(ID_COLUMN.encode())
    else:
        header_line, tab = 0, False
        is_protocol = protocol.looks_like_protocol([f.decode("utf-8", "replace") for f in fields])
        index = protocol.ID if is_protocol else 0
    target = utt.encode("utf-8")
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if lineno > header_line:
                fields = _fields(line, tab)
                if len(fields) > index and fields[index] == target:
                    return lineno
    return None


def check_same_ids(table, path, other, other_path):
    """Raise unless both tables hold the same ids; names the first stray id and how many."""
    for a, a_path, b, b_path in ((table, path, other, other_path),
                                 (other, other_path, table, path)):
        missing = [utt for utt in a if utt not in b]
        if missing:
            raise InputError(f"{len(missing)} id(s) here are missing from {b_path}, the first "
                             f"is '{missing[0]}'", a_path, find_line(a_path, missing[0]))


def join_scores(ids, path, other_ids, other_path):
    """Index putting ``other_ids`` (read from ``other_path``) in the order of ``ids``.

    Mismatched id sets are an :class:`InputError` naming the file and line of a stray id.
    """
    index = align_ids(ids, other_ids)
    if index is None:
        a = dict.fromkeys(u.decode("utf-8") for u in ids.tolist())
        b = dict.fromkeys(u.decode("utf-8") for u in other_ids.tolist())
        check_same_ids(a, path, b, other_path)
        raise InputError(f"the ids do not match those of {path}", other_path)  # not reached
    return index


def write_scores(path, utts, scores):
    """Write ``llr.txt`` atomically; scores in shortest round-trip form, so no precision is lost."""
    utts = list(utts)
    scores = [float(s) for s in scores]
    if len(utts) != len(scores):
        raise ValueError(f"{len(utts)} ids but {len(scores)} scores")
    seen = set()
    with atomic_open(path) as f:
        f.write(f"{ID_COLUMN}\t{SCORE_COLUMN}\n")
        for utt, score in zip(utts, scores):
            if not utt or any(c.isspace() for c in utt):
                raise InputError(f"id {utt!r} is empty or contains whitespace", path)
            if utt in seen:
                raise InputError(f"duplicate id '{utt}'", path)
            if not math.isfinite(score):
                raise InputError(f"non-finite score {score} for '{utt}'", path)
            seen.add(utt)
            f.write(f"{utt}\t{score!r}\n")
