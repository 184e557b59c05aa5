"""Score files and keys in the ASVspoof5 layout (DESIGN.md §3), read strictly.

- Scores (``llr.txt``): a header ``filename<TAB>cm-score`` then ``<utt><TAB><score>`` lines. A
  headerless Kaldi table ``<utt> <score>`` from another toolkit is read as well.
- Keys: a tab-separated file whose header names a ``filename`` and a ``cm-label`` column (an
  ASVspoof5 protocol-like file; other columns are ignored), or a Kaldi ``utt2lab``
  (``<utt> bonafide|spoof``, no header).

The format is told from the first non-empty line: a header contains the field ``filename``.
Every problem is an :class:`InputError` naming the file and, where there is one, the line, so
a metric is never computed on silently mismatched trials.
"""

import math

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


def _parse_score(raw, utt, path, lineno):
    try:
        score = float(raw)
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
        table = read_table(path, value_type=float)
    else:
        table = _read_columns(path, SCORE_COLUMN, _parse_score)
    return _non_empty(table, path, "scores")


def read_key(path):
    """Read a key (ASVspoof5 TSV or Kaldi utt2lab) into an ordered ``{utt: label}`` dict."""
    if _read_header(path) is None:
        table = read_labels(path)
    else:
        table = _read_columns(path, LABEL_COLUMN, _parse_label)
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
