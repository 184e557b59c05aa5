"""Per-attack and per-condition tables of the Track-1 metrics, pooled row first.

The metadata is an ASVspoof5 Track-1 protocol (10 space-separated columns, no header, named in
:mod:`wedefense.dataset.asvspoof5_protocol`), a table with a
header line ``utt <column> <column> …``, or a headerless Kaldi table ``<utt> <value>`` whose
column takes its name from the file (``utt2attack`` -> ``attack``).

A column is broken down one of two ways, decided by the bona fide trials:
- attack-like (every bona fide trial has the same value, e.g. ``bonafide`` or ``-``): one row per
  spoof value, that value's spoof trials against *all* bona fide trials;
- condition-like (e.g. a codec, applied to both classes): one row per value, the bona fide and
  spoof trials of that value; a value with one class only gets a row with counts and no metrics.
"""

import os
import re

from wedefense.dataset import asvspoof5_protocol as protocol
from wedefense.dataset.tables import iter_lines
from wedefense.metrics.detection import compute_metrics
from wedefense.metrics.scores_io import find_line
from wedefense.utils.errors import InputError

POOLED = "pooled"
HEADER_IDS = ("utt", "filename")


def natural_key(name):
    """Sort A2 before A10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", name)]


def read_metadata(path):
    """``(columns, {utt: {column: value}})`` from any of the layouts above."""
    table, columns, is_protocol = {}, None, False
    for lineno, fields in iter_lines(path):
        if columns is None:
            is_protocol = protocol.looks_like_protocol(fields)
            if is_protocol:
                columns = [c for c in protocol.COLUMNS if c != "filename"]
            elif fields[0] in HEADER_IDS:
                columns = fields[1:]
                if not columns or len(set(columns)) != len(columns):
                    raise InputError("the header needs distinct column names after the id",
                                     path, lineno)
                continue
            else:
                base = os.path.basename(path)
                columns = [base[4:] if base.startswith("utt2") and len(base) > 4 else "value"]
        if is_protocol:
            if len(fields) != len(protocol.COLUMNS):
                raise protocol.column_count_error(len(fields), path, lineno)
            utt = fields[protocol.ID]
            values = fields[:protocol.ID] + fields[protocol.ID + 1:]
        else:
            if len(fields) != len(columns) + 1:
                raise InputError(f"expected {len(columns) + 1} fields (utt "
                                 f"{' '.join(columns)}), got {len(fields)}", path, lineno)
            utt, values = fields[0], fields[1:]
        if utt in table:
            raise InputError(f"duplicate id '{utt}'", path, lineno)
        table[utt] = dict(zip(columns, values))
    if not table:
        raise InputError("no rows in the file", path)
    return columns, table


def default_columns(columns):
    """ASVspoof5 protocols: attack and codec; any other table: all its columns."""
    if list(columns) == [c for c in protocol.COLUMNS if c != "filename"]:
        return ["attack", "codec"]
    return list(columns)


def breakdown(utts, scores, is_bona, metadata, column, metadata_path, **operating_point):
    """``{row: metrics or None}`` for one column, pooled first (see the module docstring)."""
    values = []
    for utt in utts:
        row = metadata.get(utt)
        if row is None:
            raise InputError(f"scored trial '{utt}' is missing from the metadata", metadata_path)
        values.append(row[column])
    bona_values = {v for v, b in zip(values, is_bona) if b}
    rows = {POOLED: compute_metrics(scores[is_bona], scores[~is_bona], **operating_point)}
    if POOLED in values:
        utt = next(u for u, v in zip(utts, values) if v == POOLED)
        raise InputError(f"'{POOLED}' is reserved for the pooled row", metadata_path,
                         find_line(metadata_path, utt))
    bona = scores[is_bona]
    groups = {}
    for value, score, b in zip(values, scores.tolist(), is_bona.tolist()):
        groups.setdefault(value, ([], []))[0 if b else 1].append(score)
    attack_like = len(bona_values) == 1
    for value in sorted(groups, key=natural_key):
        group_bona, group_spoof = groups[value]
        if attack_like:
            if not group_spoof:
                continue  # the bona fide value itself
            rows[value] = compute_metrics(bona, group_spoof, **operating_point)
        elif group_bona and group_spoof:
            rows[value] = compute_metrics(group_bona, group_spoof, **operating_point)
        else:
            rows[value] = {"num_bonafide": len(group_bona), "num_spoof": len(group_spoof)}
    return rows
