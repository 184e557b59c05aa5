"""Cross-corpus table: one trained model scored on every prepared evaluation set it is given.

A set is a data dir with ``wav.scp`` and ``utt2lab`` (stage 1's output). ``find_sets`` takes data
dirs and roots to search; each set is named by its path relative to the root it was found under
(or its own path when given directly). Every set gets the Track-1 metrics (minDCF, EER, Cllr,
actDCF; ``wedefense.metrics.detection``) and seeded percentile bootstrap intervals
(``wedefense.metrics.bootstrap``): the table people report for generalisation.
"""

import json
import os

import numpy as np

from wedefense.dataset.tables import read_labels, read_table
from wedefense.metrics.bootstrap import METRICS, bootstrap_intervals
from wedefense.metrics.detection import compute_metrics
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

SET_FILES = ("wav.scp", "utt2lab")
COLUMNS = {"min_dcf": "minDCF", "eer": "EER (%)", "cllr": "Cllr", "act_dcf": "actDCF"}


def _is_set(path):
    return all(os.path.isfile(os.path.join(path, f)) for f in SET_FILES)


def find_sets(paths):
    """``[(name, data_dir)]`` for every data dir in ``paths`` or below them, in a stable order;
    an :class:`InputError` for a missing path or when nothing is found."""
    found = []
    for path in paths:
        path = os.path.normpath(str(path))
        if not os.path.isdir(path):
            raise InputError("no such directory", path)
        if _is_set(path):
            found.append((path, path))
            continue
        for root, dirs, _ in os.walk(path):
            dirs.sort()
            if _is_set(root):
                found.append((os.path.relpath(root, path), root))
    if not found:
        raise InputError(f"no evaluation set (a directory with {' and '.join(SET_FILES)}) "
                         f"in {', '.join(map(str, paths))}")
    names = [name for name, _ in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"two sets have the same name {dupes[0]!r}: give the roots separately "
                         f"or the data dirs themselves")
    return found


def split_by_label(scores, key_path):
    """Bona fide and spoof score arrays of ``scores`` ``{utt: llr}`` against a ``utt2lab``;
    every utterance must have both a score and a label."""
    labels = read_labels(key_path)
    missing = [u for u in labels if u not in scores]
    if missing:
        raise InputError(f"{len(missing)} labelled utterance(s) have no score, e.g. "
                         f"'{missing[0]}'", key_path)
    extra = [u for u in scores if u not in labels]
    if extra:
        raise InputError(f"{len(extra)} scored utterance(s) have no label, e.g. '{extra[0]}'",
                         key_path)
    bona = np.array([scores[u] for u, lab in labels.items() if lab == "bonafide"])
    spoof = np.array([scores[u] for u, lab in labels.items() if lab == "spoof"])
    if not bona.size or not spoof.size:
        raise InputError("a set needs both bona fide and spoof utterances", key_path)
    return bona, spoof


def set_row(name, bona, spoof, num_resamples=1000, seed=0, confidence=0.95, **operating_point):
    """One table row: the metrics plus ``intervals`` (``{metric: [low, high]}``, none when
    ``num_resamples`` is 0)."""
    row = {"set": name, **compute_metrics(bona, spoof, **operating_point)}
    if num_resamples > 0:
        boot = bootstrap_intervals(bona, spoof, num_resamples, seed, confidence,
                                   **operating_point)
        row["intervals"] = boot["intervals"]
    return row


def score_sets(detector, sets, **score_args):
    """``{name: {utt: llr}}``: the detector's (a loaded bundle's) scores of each set's wav.scp,
    keyed by the wav.scp ids."""
    out = {}
    for name, data_dir in sets:
        scp = os.path.join(data_dir, "wav.scp")
        ids = list(read_table(scp))
        results = detector.score_files([scp], **score_args)
        scores = {r.utt: r.llr for r in results}
        if sorted(scores) != sorted(ids):
            raise InputError("the scored ids differ from the wav.scp ids", scp)
        out[name] = scores
    return out


def _cell(row, metric):
    scale = 100.0 if metric == "eer" else 1.0
    text = f"{scale * row[metric]:.2f}" if metric == "eer" else f"{row[metric]:.4f}"
    if "intervals" in row:
        low, high = (scale * v for v in row["intervals"][metric])
        text += f" [{low:.2f}, {high:.2f}]" if metric == "eer" else f" [{low:.4f}, {high:.4f}]"
    return text


def markdown_table(rows, model=None, confidence=0.95, first_column="set"):
    lines = []
    if model is not None:
        lines += [f"Model: `{model}`.", ""]
    if any("intervals" in r for r in rows):
        lines += [f"Brackets: {100 * confidence:g}% bootstrap intervals (percentile, "
                  "resampling utterances within each class).", ""]
    lines.append(f"| {first_column} | bona fide | spoof | " + " | ".join(COLUMNS.values()) + " |")
    lines.append("|---|---:|---:|" + "---:|" * len(COLUMNS))
    for r in rows:
        lines.append(f"| {r[first_column]} | {r['num_bonafide']} | {r['num_spoof']} | "
                     + " | ".join(_cell(r, m) for m in METRICS) + " |")
    return "\n".join(lines) + "\n"


def write_table(rows, md_path=None, json_path=None, model=None, confidence=0.95,
                operating_point=None, num_resamples=0, seed=0, first_column="set"):
    """The Markdown table and/or the JSON ``{model, operating_point, bootstrap, <first_column>s:
    rows}`` (``sets``, or ``systems`` for a comparison of systems)."""
    if md_path:
        with atomic_open(md_path) as f:
            f.write(markdown_table(rows, model, confidence, first_column))
    if json_path:
        with atomic_open(json_path) as f:
            json.dump({"model": model, "operating_point": operating_point or {},
                       "bootstrap": {"num_resamples": num_resamples, "seed": seed,
                                     "confidence": confidence},
                       f"{first_column}s": rows}, f, indent=2)
            f.write("\n")
