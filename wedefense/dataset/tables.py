"""Kaldi-style text tables (wav.scp, utt2lab, utt2dur, ...) and corpus CSV metadata: strict reading,
atomic writing.

Every reader reports problems as :class:`InputError` naming the file and the line, so a typo
in a data dir stops a recipe with a pointer to it instead of a silently wrong result.
"""

import csv
import math

from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

LABELS = ("bonafide", "spoof")


def iter_lines(path):
    """Yield ``(line_number, fields)`` for each non-empty line, fields split on whitespace."""
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    with f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if fields:
                yield lineno, fields


def iter_csv(path, missing):
    """The rows of a CSV file as ``(line_number, fields)``, every field stripped: the first row
    (the header, even when blank), then every row that is not blank. ``missing`` is the error
    message when the file does not exist (say where the corpus keeps it)."""
    try:
        f = open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise InputError(missing, path) from None
    with f:
        reader = csv.reader(f)
        first = True
        for row in reader:
            fields = [x.strip() for x in row]
            if first or "".join(fields):
                yield reader.line_num, fields
            first = False


def read_table(path, value_type=str, rest=False):
    """Read ``<key> <value>`` lines into an ordered dict; duplicates and bad values are errors.

    With ``rest=True`` the value is the rest of the line (a path with spaces, a list of ids).
    """
    table = {}
    for lineno, fields in iter_lines(path):
        if len(fields) < 2 or (len(fields) > 2 and not rest):
            raise InputError(f"expected '<key> <value>', got {len(fields)} field(s)", path, lineno)
        key = fields[0]
        if key in table:
            raise InputError(f"duplicate id '{key}'", path, lineno)
        raw = " ".join(fields[1:]) if rest else fields[1]
        try:
            value = value_type(raw)
        except ValueError:
            raise InputError(f"bad value '{raw}' for '{key}'", path, lineno) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"non-finite value '{raw}' for '{key}'", path, lineno)
        table[key] = value
    return table


def read_labels(path, labels=LABELS):
    """Read utt2lab, checking every label is one of ``labels``."""
    table = {}
    for lineno, fields in iter_lines(path):
        if len(fields) != 2:
            raise InputError(f"expected '<utt> <label>', got {len(fields)} field(s)", path, lineno)
        utt, lab = fields
        if utt in table:
            raise InputError(f"duplicate id '{utt}'", path, lineno)
        if labels is not None and lab not in labels:
            raise InputError(f"unknown label '{lab}' (expected one of {', '.join(labels)})",
                             path, lineno)
        table[utt] = lab
    return table


def write_table(path, items):
    """Write ``(key, value)`` pairs as ``key value`` lines, atomically."""
    with atomic_open(path) as f:
        for key, value in items:
            if isinstance(value, (list, tuple)):
                value = " ".join(str(v) for v in value)
            f.write(f"{key} {value}\n")


def invert_labels(utt2lab):
    """utt2lab -> lab2utt, labels in first-seen order, utterances in input order."""
    lab2utt = {}
    for utt, lab in utt2lab.items():
        lab2utt.setdefault(lab, []).append(utt)
    return lab2utt


def check_same_keys(a, path_a, b, path_b):
    """Raise naming the first id that is in one table and not the other."""
    for key in a:
        if key not in b:
            raise InputError(f"id '{key}' is missing from {path_b}", path_a)
    for key in b:
        if key not in a:
            raise InputError(f"id '{key}' is missing from {path_a}", path_b)
