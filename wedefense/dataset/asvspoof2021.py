"""ASVspoof 2021 LA and DF (evaluation only): keys and meta-labels -> data/eval.

On-disk layout once the Zenodo archives and the full keys are unpacked in one folder:
    <root>/ASVspoof2021_LA_eval/flac/LA_E_<7 digits>.flac     (ASVspoof2021_LA_eval.tar.gz)
    <root>/ASVspoof2021_DF_eval/flac/DF_E_<7 digits>.flac     (ASVspoof2021_DF_eval_part0{0..3})
        each DF part unpacks to ASVspoof2021_DF_eval/; parts unpacked into their own folders,
        <root>/ASVspoof2021_DF_eval_part0N/ASVspoof2021_DF_eval/flac/, are found too
    <root>/keys/{LA,DF}/CM/trial_metadata.txt    (from LA-keys-full.tar.gz, DF-keys-full.tar.gz)
        also looked up in <root>/{LA,DF}-keys-full/keys/...; ``keys`` names the file directly
The audio archives hold only a list of trial names; keys and meta-labels come from
``trial_metadata.txt``, space separated, one trial a line (asvspoof-challenge/2021, eval-package):
    LA: SPEAKER TRIAL CODEC TRANSMISSION ATTACK KEY TRIM SUBSET
        e.g. ``LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval``
    DF: SPEAKER TRIAL CODEC SOURCE ATTACK KEY TRIM SUBSET VOCODER TASK TEAM GENDER_PAIR LANGUAGE
        e.g. ``LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress
        traditional_vocoder - - - -``
SUBSET is ``eval``, ``progress`` or ``hidden``; the challenge ranked systems on ``eval`` and
published results use it, so that is the default. A bona fide trial's ATTACK (and DF VOCODER) is
``bonafide`` in the released keys; ``-`` is accepted too and both become ``-`` here.

Besides the common tables, data/eval/metadata is a header table of the meta-labels stage 7 breaks
results down by (``evaluate.py --metadata``): LA ``utt codec transmission attack trim subset``,
DF ``utt codec source attack vocoder trim subset`` (the official package's factors are attack and
codec for LA, vocoder and codec for DF; DF's VCC task/team/gender/language columns are left out).
"""

import os

from wedefense.dataset.prepare import Utterance, write_data_dir
from wedefense.dataset.tables import LABELS, iter_lines
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

TRACKS = ("LA", "DF")
COLUMNS = {
    "LA": ("speaker", "trial", "codec", "transmission", "attack", "key", "trim", "subset"),
    "DF": ("speaker", "trial", "codec", "source", "attack", "key", "trim", "subset", "vocoder",
           "task", "team", "gender_pair", "language"),
}
# Columns a bona fide trial carries no value in ('bonafide' or '-' in the keys).
BONAFIDE_EMPTY = ("attack", "vocoder")
BONAFIDE_VALUES = ("bonafide", "-")
SUBSETS = ("eval", "progress", "hidden")
DEFAULT_SUBSETS = ("eval",)


def keys_path(root, track):
    """``trial_metadata.txt`` of ``track`` under ``root`` (the first existing candidate)."""
    candidates = [os.path.join(root, "keys", track, "CM", "trial_metadata.txt"),
                  os.path.join(root, f"{track}-keys-full", "keys", track, "CM",
                               "trial_metadata.txt")]
    return next((p for p in candidates if os.path.isfile(p)), candidates[0])


def flac_dirs(root, track):
    """Folders that may hold the track's eval audio, in lookup order."""
    name = f"ASVspoof2021_{track}_eval"
    dirs = [os.path.join(root, name, "flac")]
    if os.path.isdir(root):
        parts = sorted(d for d in os.listdir(root) if d.startswith(name + "_part"))
        dirs += [os.path.join(root, d, name, "flac") for d in parts]
    return [d for d in dirs if os.path.isdir(d)]


def parse_line(track, fields, path, lineno):
    """One ``trial_metadata.txt`` line -> dict of its columns, checked and normalised."""
    columns = COLUMNS[track]
    if len(fields) != len(columns):
        names = " ".join(c.upper() for c in columns)
        raise InputError(f"expected {len(columns)} columns '{names}' (ASVspoof 2021 {track} "
                         f"keys), got {len(fields)}", path, lineno)
    row = dict(zip(columns, fields))
    key = row["key"]
    if key not in LABELS:
        raise InputError(f"unknown key '{key}' (expected bonafide or spoof)", path, lineno)
    if (key == "bonafide") != (row["attack"] in BONAFIDE_VALUES):
        raise InputError(f"attack '{row['attack']}' contradicts key '{key}' (bona fide trials "
                         "carry 'bonafide' or '-', spoofed ones an attack id)", path, lineno)
    if key == "bonafide":
        for column in BONAFIDE_EMPTY:
            if column in row:
                row[column] = "-"
    if row["subset"] not in SUBSETS:
        raise InputError(f"unknown subset '{row['subset']}' (expected one of "
                         f"{', '.join(SUBSETS)})", path, lineno)
    return row


def read_keys(track, path, subsets=DEFAULT_SUBSETS):
    """``[(row, lineno)]`` of the trials in ``subsets`` (all subsets if None)."""
    if not os.path.isfile(path):
        raise InputError(f"ASVspoof 2021 {track} keys not found (unpack {track}-keys-full.tar.gz "
                         "in the corpus directory, or pass the file)", path)
    rows = []
    for lineno, fields in iter_lines(path):
        row = parse_line(track, fields, path, lineno)
        if subsets is None or row["subset"] in subsets:
            rows.append((row, lineno))
    if not rows:
        wanted = "any subset" if subsets is None else "subset(s) " + ", ".join(subsets)
        raise InputError(f"no trials of {wanted} in the keys", path)
    return rows


METADATA_COLUMNS = {"LA": ("codec", "transmission", "attack", "trim", "subset"),
                    "DF": ("codec", "source", "attack", "vocoder", "trim", "subset")}


def prepare(corpus_dir, data_dir, track, num_workers=8, keys=None, subsets=DEFAULT_SUBSETS):
    """Write ``data_dir/eval``; returns ``{"eval": summary}``."""
    if track not in TRACKS:
        raise ValueError(f"track must be one of {TRACKS}, got {track!r}")
    root = os.path.abspath(corpus_dir)
    path = keys or keys_path(root, track)
    rows = read_keys(track, path, subsets)
    dirs = flac_dirs(root, track)
    if not dirs:
        raise InputError(f"no ASVspoof2021_{track}_eval/flac/ folder (unpack the eval audio in "
                         "the corpus directory)", root)
    listing = [(d, set(os.listdir(d))) for d in dirs]
    utterances = []
    for row, lineno in rows:
        name = row["trial"] + ".flac"
        folder = next((d for d, names in listing if name in names), None)
        if folder is None:
            raise InputError(f"audio of trial '{row['trial']}' not found in "
                             f"{' or '.join(dirs)}", path, lineno)
        utterances.append(Utterance(utt=row["trial"], wav=os.path.join(folder, name),
                                    label=row["key"], speaker=row["speaker"],
                                    attack=row["attack"], source=f"{path}:{lineno}"))
    out = os.path.join(data_dir, "eval")
    summary = write_data_dir(out, utterances, num_workers)
    columns = METADATA_COLUMNS[track]
    with atomic_open(os.path.join(out, "metadata")) as f:
        f.write(" ".join(["utt", *columns]) + "\n")
        for row, _ in rows:
            f.write(" ".join([row["trial"], *(row[c] for c in columns)]) + "\n")
    return {"eval": summary}
