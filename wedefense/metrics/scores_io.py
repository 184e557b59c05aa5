"""Score files and keys in the ASVspoof5 layout, read strictly (README.md, "What each stage does
and writes").

- Scores (``llr.txt``): a header ``filename<TAB>cm-score`` then ``<utt><TAB><score>`` lines. A
  headerless Kaldi table ``<utt> <score>`` from another toolkit is read as well.
- Keys: a tab-separated file whose header names a ``filename`` and a ``cm-label`` column (an
  ASVspoof5 protocol-like file; other columns are ignored), a Kaldi ``utt2lab``
  (``<utt> bonafide|spoof``, no header), or an ASVspoof5 Track-1 protocol (10 space-separated
  columns, no header, the id in column 2 and the label in column 9).

The format is told from the first non-empty line: a header contains the field ``filename``.
Every problem is an :class:`InputError` naming the file and, where there is one, the line, so
a metric is never computed on silently mismatched trials.
"""

import gc
import math
import re
from typing import NamedTuple

import numpy as np

from wedefense.dataset.tables import LABELS, iter_lines, read_labels, read_table
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

ID_COLUMN = "filename"
SCORE_COLUMN = "cm-score"
LABEL_COLUMN = "cm-label"


def _read_header(path):
    """``(line_number, columns, separator)`` when the file starts with a header, else None."""
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if ID_COLUMN not in line.split():
                    return None
                # Tab-separated as the ASVspoof5 files are; whitespace if the header has no tab.
                separator = "\t" if "\t" in line else None
                return lineno, _split(line, separator), separator
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except OSError as e:  # a directory, no permission, ...
        raise InputError(f"cannot read the file ({e.strerror or e})", path) from None
    return None


def _split(line, separator):
    return [field.strip() for field in line.rstrip("\r\n").split(separator)]


def _iter_columns(path, value_column):
    """Yield ``(line_number, id, raw_value)`` from a file with a header, by column name."""
    header_line, columns, separator = _read_header(path)
    if value_column not in columns:
        raise InputError(f"the header has no '{value_column}' column "
                         f"(columns: {', '.join(columns)})", path, header_line)
    id_index, value_index = columns.index(ID_COLUMN), columns.index(value_column)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if lineno <= header_line or not line.strip():
                continue
            fields = _split(line, separator)
            if len(fields) != len(columns):
                kind = "tab-separated " if separator else ""
                raise InputError(f"expected {len(columns)} {kind}fields ({', '.join(columns)}), "
                                 f"got {len(fields)}", path, lineno)
            yield lineno, fields[id_index], fields[value_index]


def _read_columns(path, value_column, parse):
    table = {}
    for lineno, utt, raw in _iter_columns(path, value_column):
        if not utt:
            raise InputError("empty id", path, lineno)
        if utt in table:
            raise InputError(f"duplicate id '{utt}'", path, lineno)
        table[utt] = parse(raw, utt, path, lineno)
    return table


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


def _parse_score(raw, utt, path, lineno):
    try:
        score = _score_value(raw)
    except ValueError:
        raise InputError(f"bad score '{raw}' for '{utt}'", path, lineno) from None
    if not math.isfinite(score):
        raise InputError(f"non-finite score '{raw}' for '{utt}'", path, lineno)
    return score


def _parse_label(raw, utt, path, lineno):
    if raw not in LABELS:
        raise InputError(f"unknown label '{raw}' for '{utt}' (expected one of "
                         f"{', '.join(LABELS)})", path, lineno)
    return raw


def _non_empty(table, path, what):
    if not table:
        raise InputError(f"no {what} in the file", path)
    return table


def read_scores(path):
    """Read a score file into an ordered ``{utt: score}`` dict of finite floats."""
    if _read_header(path) is None:
        table = read_table(path, value_type=_score_value)
    else:
        table = _read_columns(path, SCORE_COLUMN, _parse_score)
    return _non_empty(table, path, "scores")


# ASVspoof5 Track-1 protocols (ASVspoof5.{train,dev.track_1,eval.track_1}.tsv): space-separated,
# no header, these ten columns (database README, section 3).
PROTOCOL_COLUMNS = ("speaker", "filename", "gender", "codec", "codec_q", "codec_seed",
                    "attack_tag", "attack", "key", "tmp")
PROTOCOL_ID, PROTOCOL_KEY = 1, 8


def is_protocol(path):
    """True if the first non-empty line looks like an ASVspoof5 Track-1 protocol line."""
    for _, fields in iter_lines(path):
        return len(fields) == len(PROTOCOL_COLUMNS) and fields[PROTOCOL_KEY] in LABELS
    return False


def read_protocol(path):
    """An ASVspoof5 protocol as an ordered ``{utt: {column: value}}`` dict (strict)."""
    table = {}
    for lineno, fields in iter_lines(path):
        if len(fields) != len(PROTOCOL_COLUMNS):
            raise InputError(f"expected the {len(PROTOCOL_COLUMNS)} ASVspoof5 protocol columns "
                             f"({' '.join(PROTOCOL_COLUMNS)}), got {len(fields)}", path, lineno)
        utt = fields[PROTOCOL_ID]
        if utt in table:
            raise InputError(f"duplicate id '{utt}'", path, lineno)
        _parse_label(fields[PROTOCOL_KEY], utt, path, lineno)
        table[utt] = dict(zip(PROTOCOL_COLUMNS, fields))
    return table


def read_key(path):
    """Read a key (ASVspoof5 TSV or protocol, Kaldi utt2lab) into an ordered ``{utt: label}``."""
    if _read_header(path) is not None:
        table = _read_columns(path, LABEL_COLUMN, _parse_label)
    elif is_protocol(path):
        table = {utt: row["key"] for utt, row in read_protocol(path).items()}
    else:
        table = read_labels(path)
    return _non_empty(table, path, "labels")


def find_line(path, utt):
    """The line of ``utt`` in a score file, key or Kaldi table (None if absent); for messages."""
    header = _read_header(path)
    if header is None:
        lines = ((lineno, fields[0]) for lineno, fields in iter_lines(path))
    else:
        # Any column but the id would do; the header is known to hold the id column.
        lines = ((lineno, u) for lineno, u, _ in _iter_columns(path, ID_COLUMN))
    return next((lineno for lineno, key in lines if key == utt), None)


def check_same_ids(table, path, other, other_path):
    """Raise unless both tables hold the same ids; names the first stray id and how many."""
    for a, a_path, b, b_path in ((table, path, other, other_path),
                                 (other, other_path, table, path)):
        missing = [utt for utt in a if utt not in b]
        if missing:
            raise InputError(f"{len(missing)} id(s) here are missing from {b_path}, the first "
                             f"is '{missing[0]}'", a_path, find_line(a_path, missing[0]))


def split_by_label(scores, key, key_path):
    """``(bonafide_scores, spoof_scores)`` as float64 arrays in key order.

    Call :func:`check_same_ids` first; a key with only one class is an error since no metric
    can be computed from it.
    """
    bona = np.array([scores[utt] for utt, lab in key.items() if lab == "bonafide"],
                    dtype=np.float64)
    spoof = np.array([scores[utt] for utt, lab in key.items() if lab == "spoof"],
                     dtype=np.float64)
    for array, what in ((bona, "bona fide"), (spoof, "spoof")):
        if array.size == 0:
            raise InputError(f"the key has no {what} trials", key_path)
    return bona, spoof


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


# --- fast path for large files -----------------------------------------------------------------
#
# The readers above build a dict entry per line and check everything with a line number at hand;
# that is the reference behaviour, and it costs several seconds per million lines. The fast path
# below parses well-formed files column-wise with numpy and delegates to the strict readers the
# moment anything looks unusual (a blank line, odd whitespace, non-ASCII bytes, a bad field count,
# a bad value, duplicate or mismatched ids): so on bad input the message is the strict reader's,
# and on good input the numbers are the same (the tests compare both paths).

_CHUNK_BYTES = 32 << 20


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


def _layout(path):
    """``(header_columns or None, separator, number of columns)`` from the first line, or None."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except OSError as e:  # a directory, no permission, ...
        raise InputError(f"cannot read the file ({e.strerror or e})", path) from None
    if not first.endswith(b"\n") or not first.isascii():
        return None
    fields = first[:-1].split()
    if not fields:
        return None
    if b"filename" in fields:
        if b"\t" not in first or b" " in first:
            return None
        return [c.decode() for c in first[:-1].split(b"\t")], b"\t", first.count(b"\t") + 1
    separator = b"\t" if b"\t" in first else b" "
    return None, separator, first.count(separator) + 1


def _fast_columns(path, wanted, counts=None):
    """``{column index: list of bytes tokens}`` for a cleanly separated ASCII file, else None.

    Clean means: one separator (tab or single space) between fields, none at the line ends, the
    same number of fields on every line, no blank line, no other control character. ``counts``,
    a ``{byte: 0}`` dict, gets how often each of those bytes occurs in the lines read.
    """
    layout = _layout(path)
    if layout is None:
        return None
    header, separator, ncols = layout
    other = b" " if separator == b"\t" else b"\t"
    columns = {i: [] for i in wanted}
    if max(wanted) >= ncols:
        return None
    with open(path, "rb") as f:
        if header is not None:
            f.readline()
        tail = b""
        while True:
            block = f.read(_CHUNK_BYTES)
            if not block:
                if tail:
                    return None  # the last line has no newline: let the strict reader judge
                break
            block = tail + block
            cut = block.rfind(b"\n") + 1
            block, tail = block[:cut], block[cut:]
            if not block:
                continue
            if not _clean(block, separator, other, ncols):
                return None
            for byte in counts or ():
                counts[byte] += block.count(byte)
            tokens = block.replace(b"\n", separator).split(separator)
            tokens.pop()  # after the last newline
            for i in wanted:
                columns[i].extend(tokens[i::ncols])
    return columns


def _clean(block, separator, other, ncols):
    if not block.isascii() or other in block or b"\n\n" in block or block.startswith(b"\n"):
        return False
    raw = np.frombuffer(block, dtype=np.uint8)
    control = raw < 32
    if np.count_nonzero(control) != np.count_nonzero(raw == 10) + np.count_nonzero(raw == 9):
        return False  # \r, \f, \v, ... : the strict reader knows what to make of them
    newlines = np.flatnonzero(raw == 10)
    seps = np.flatnonzero(raw == separator[0])
    if seps.size != (ncols - 1) * newlines.size:
        return False
    if seps.size:
        # Exactly ncols-1 separators on each line, none first or last on a line.
        if not np.array_equal(np.bincount(np.searchsorted(newlines, seps),
                                          minlength=newlines.size),
                              np.full(newlines.size, ncols - 1)):
            return False
        sep = separator[0]
        # No separator first or last on a line, and never two in a row (an empty field).
        if (raw[0] == sep or np.any(raw[newlines[:-1] + 1] == sep)
                or np.any(raw[newlines - 1] == sep)):
            return False
        if np.any(np.diff(seps) == 1):
            return False
    return True


def _fast_scores(path):
    """``(ids, scores)`` or None."""
    layout = _layout(path)
    if layout is None:
        return None
    header, _, ncols = layout
    if header is None:
        if ncols != 2:
            return None
        id_index, value_index = 0, 1
    else:
        if SCORE_COLUMN not in header:
            return None
        id_index, value_index = header.index(ID_COLUMN), header.index(SCORE_COLUMN)
    counts = {b"_": 0}
    columns = _fast_columns(path, [id_index, value_index], counts)
    if columns is None or not columns[id_index]:
        return None
    ids = np.array(columns.pop(id_index))
    tokens = columns.pop(value_index)
    # numpy parses bytes as float() does; of what _SCORE_TOKEN refuses, the only ASCII it takes
    # is digit grouping ("1_5" = 15.0): let the strict reader name such a line. With two columns
    # the ids hold every underscore unless a score has one (cheaper than scanning the scores).
    if counts[b"_"]:
        if ncols == 2:
            in_ids = np.count_nonzero(ids.view(np.uint8) == ord("_"))
            if in_ids != counts[b"_"]:
                return None
        elif b"_" in b"".join(tokens):
            return None
    try:
        scores = np.array(tokens, dtype=np.float64)
    except ValueError:
        return None
    if not np.isfinite(scores).all():
        return None
    return ids, scores


def _fast_key(path):
    """``(ids, is_bona)`` or None."""
    layout = _layout(path)
    if layout is None:
        return None
    header, _, ncols = layout
    if header is not None:
        if LABEL_COLUMN not in header:
            return None
        id_index, label_index = header.index(ID_COLUMN), header.index(LABEL_COLUMN)
    elif ncols == 2:
        id_index, label_index = 0, 1
    elif ncols == len(PROTOCOL_COLUMNS):
        id_index, label_index = PROTOCOL_ID, PROTOCOL_KEY
    else:
        return None
    columns = _fast_columns(path, [id_index, label_index])
    if columns is None or not columns[id_index]:
        return None
    labels = np.array(columns.pop(label_index))
    is_bona = labels == b"bonafide"
    if np.count_nonzero(is_bona) + np.count_nonzero(labels == b"spoof") != labels.size:
        return None
    return np.array(columns.pop(id_index)), is_bona


def _sort_order(ids):
    """``argsort`` of a bytes array, via big-endian 64-bit words (faster than comparing strings)."""
    width = ids.dtype.itemsize
    words = -(-width // 8)
    padded = np.zeros((ids.size, 8 * words), dtype=np.uint8)
    padded[:, :width] = ids.view(np.uint8).reshape(ids.size, width)
    columns = padded.view(">u8").reshape(ids.size, words)
    if words == 1:
        return np.argsort(columns[:, 0], kind="stable")
    return np.lexsort(columns.T[::-1])


def align_ids(ids, other):
    """Index ``i`` with ``other[i] == ids`` when both hold the same unique ids, else None."""
    if ids.shape != other.shape or ids.size == 0:
        return None
    order = _sort_order(ids)
    sorted_ids = ids[order]
    if np.any(sorted_ids[1:] == sorted_ids[:-1]):
        return None
    if np.array_equal(ids, other):
        return np.arange(ids.size)
    other_order = _sort_order(other)
    if not np.array_equal(sorted_ids, other[other_order]):
        return None
    index = np.empty(ids.size, dtype=np.int64)
    index[order] = other_order
    return index


def _strict_trials(scores_path, key_path):
    scores = read_scores(scores_path)
    key = read_key(key_path)
    check_same_ids(scores, scores_path, key, key_path)
    split_by_label(scores, key, key_path)  # raises on an empty class
    ids = np.array([utt.encode("utf-8") for utt in key])
    values = np.array([scores[utt] for utt in key], dtype=np.float64)
    is_bona = np.array([lab == "bonafide" for lab in key.values()])
    return Trials(ids, values, is_bona)


def read_trials(scores_path, key_path):
    """Scores joined to the key by id, checked as strictly as :func:`read_scores` and
    :func:`read_key` do, in key order; fast for millions of trials."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived tokens: the cyclic collector only costs time here
    try:
        fast_scores = _fast_scores(scores_path)
        fast_key = _fast_key(key_path) if fast_scores is not None else None
    finally:
        if gc_was_enabled:
            gc.enable()
    if fast_scores is not None and fast_key is not None:
        key_ids, is_bona = fast_key
        score_ids, values = fast_scores
        index = align_ids(key_ids, score_ids)
        if index is not None and is_bona.any() and not is_bona.all():
            return Trials(key_ids, values[index], is_bona)
    return _strict_trials(scores_path, key_path)


def read_score_column(path):
    """``(ids, scores)`` of a score file as numpy arrays, in file order, strictly checked."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        fast = _fast_scores(path)
    finally:
        if gc_was_enabled:
            gc.enable()
    if fast is not None:
        ids, values = fast
        if align_ids(ids, ids) is not None:  # no duplicates
            return ids, values
    table = read_scores(path)
    return (np.array([utt.encode("utf-8") for utt in table]),
            np.fromiter(table.values(), dtype=np.float64, count=len(table)))


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
