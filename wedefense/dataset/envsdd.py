"""EnvSDD / ESDD 2026 (environmental sound deepfakes): challenge CSVs -> train/dev/eval/test.

On-disk layout, as the challenge baseline (github.com/apple-yinhan/EnvSDD, get_jsons.py) reads it:
    <root>/development/real_audio/<dataset>/<wav>                       (Zenodo 15220951)
    <root>/development/fake_audio/<TTA|ATA>/<generator>/<dataset>/<wav>  one copy per generator
    <root>/dev_track2/<wav>, <root>/eval_track{1,2}/<wav>               (Zenodo 16684355)
    <root>/test_track{1,2}/<wav>                                        (Zenodo 15241138)
    <root>/metadata/<name>.csv   (or <root>/<name>.csv): the repository's metadata/ CSVs
CSVs are comma separated with a header line; columns by position:
    dev_track1.csv        wav, dataset, ..., usage (train|validation); each row is one real clip
                          and, under the same name, its fake of every generator folder
    dev_track2.csv        wav, label (real|fake), usage      (the black-box data of Track 2)
    eval_track{1,2}.csv   wav, label
    test_track{1,2}.csv   wav, source wav, source dataset, fake type (real = bona fide), generator
Track 1 (unseen generators): train/dev = dev_track1 by usage, eval/test = eval/test_track1.
Track 2 (black-box, low resource): train/dev add dev_track2 by usage; eval/test are the track 2
sets. ``real`` is bona fide, ``fake`` spoof. Ids carry their folder (``real_<dataset>_<name>``,
``TTA_audiogen_<dataset>_<name>``, ``bb_<name>`` for dev_track2) since names recur.
"""

import os

from wedefense.dataset.prepare import Utterance, write_data_dir
from wedefense.dataset.tables import iter_csv
from wedefense.utils.errors import InputError

TRACKS = (1, 2)
SETS = ("train", "dev", "eval", "test")
LABEL_MAP = {"real": "bonafide", "fake": "spoof"}
USAGE_MAP = {"train": "train", "validation": "dev"}
AUDIO_EXTS = (".wav", ".flac")


def csv_path(root, name):
    """``<root>/metadata/<name>.csv`` if present, else ``<root>/<name>.csv``."""
    nested = os.path.join(root, "metadata", f"{name}.csv")
    return nested if os.path.isfile(nested) else os.path.join(root, f"{name}.csv")


def read_rows(path, min_fields, names=1):
    """``[(lineno, fields)]`` after the header, each with at least ``min_fields`` fields; the
    first ``names`` fields (file and folder names) must be non-empty, blank-free, not paths."""
    rows_in = iter_csv(path, "EnvSDD metadata CSV not found (copy the metadata/ folder of "
                             "github.com/apple-yinhan/EnvSDD into the corpus directory)")
    _, header = next(rows_in, (1, None))
    if not header or header[0].lower().endswith(AUDIO_EXTS):
        raise InputError(f"expected a header line first, got {header!r}", path, 1)
    rows = []
    for lineno, fields in rows_in:
        if len(fields) < min_fields:
            raise InputError(f"expected at least {min_fields} fields, got {len(fields)}",
                             path, lineno)
        for value in fields[:names]:
            if not value or any(c.isspace() for c in value) or "/" in value:
                raise InputError(f"bad field '{value}' (empty, blank or a path)", path, lineno)
        rows.append((lineno, fields))
    if not rows:
        raise InputError("no rows after the header", path)
    return rows


def _label(value, path, lineno):
    if value not in LABEL_MAP:
        raise InputError(f"unknown label '{value}' (expected real or fake)", path, lineno)
    return LABEL_MAP[value]


def _usage(value, path, lineno):
    if value not in USAGE_MAP:
        raise InputError(f"unknown usage '{value}' (expected train or validation)", path, lineno)
    return USAGE_MAP[value]


def generators(dev_dir):
    """``[(type, generator)]`` folders under development/fake_audio, sorted."""
    fake = os.path.join(dev_dir, "fake_audio")
    if not os.path.isdir(fake):
        raise InputError("no fake_audio/ folder (unpack the EnvSDD development set)", fake)
    found = [(kind, gen) for kind in sorted(os.listdir(fake))
             if os.path.isdir(os.path.join(fake, kind))
             for gen in sorted(os.listdir(os.path.join(fake, kind)))
             if os.path.isdir(os.path.join(fake, kind, gen))]
    if not found:
        raise InputError("no <TTA|ATA>/<generator>/ folders", fake)
    return found


def read_dev_track1(root):
    """``{"train": [...], "dev": [...]}`` from dev_track1.csv and the development folders."""
    path = csv_path(root, "dev_track1")
    rows = read_rows(path, 3, names=2)
    dev_dir = os.path.join(root, "development")
    gens = generators(dev_dir)
    out = {"train": [], "dev": []}
    for lineno, fields in rows:
        name, dataset, usage = fields[0], fields[1], fields[-1]
        subset = _usage(usage, path, lineno)
        stem = os.path.splitext(name)[0]
        source = f"{path}:{lineno}"
        out[subset].append(Utterance(
            utt=f"real_{dataset}_{stem}", label="bonafide", speaker=dataset, source=source,
            wav=os.path.join(dev_dir, "real_audio", dataset, name)))
        for kind, gen in gens:
            out[subset].append(Utterance(
                utt=f"{kind}_{gen}_{dataset}_{stem}", label="spoof", speaker=dataset,
                attack=f"{kind}-{gen}", source=source,
                wav=os.path.join(dev_dir, "fake_audio", kind, gen, dataset, name)))
    return out


def read_dev_track2(root):
    """The black-box part of Track 2's train/dev, from dev_track2.csv."""
    path = csv_path(root, "dev_track2")
    out = {"train": [], "dev": []}
    for lineno, fields in read_rows(path, 3):
        name = fields[0]
        label = _label(fields[1], path, lineno)
        out[_usage(fields[2], path, lineno)].append(Utterance(
            utt=f"bb_{os.path.splitext(name)[0]}", label=label, source=f"{path}:{lineno}",
            wav=os.path.join(root, "dev_track2", name)))
    return out


def read_labelled(root, name):
    """eval_track<N>: ``wav,label`` rows, audio in ``<root>/<name>/``."""
    path = csv_path(root, name)
    return [Utterance(utt=os.path.splitext(fields[0])[0], label=_label(fields[1], path, lineno),
                      wav=os.path.join(root, name, fields[0]), source=f"{path}:{lineno}")
            for lineno, fields in read_rows(path, 2)]


def read_test(root, name):
    """test_track<N>: ``wav,source wav,source dataset,fake type,generator`` rows."""
    path = csv_path(root, name)
    utterances = []
    for lineno, fields in read_rows(path, 5):
        kind, gen = fields[3], fields[4]
        bona = kind == "real"
        if not bona and (not kind or not gen or any(c.isspace() for c in kind + gen)):
            raise InputError(f"a fake needs a fake type and a generator, got '{kind}', '{gen}'",
                             path, lineno)
        utterances.append(Utterance(
            utt=os.path.splitext(fields[0])[0], label="bonafide" if bona else "spoof",
            speaker="_".join(fields[2].split()) or "-", attack="-" if bona else f"{kind}-{gen}",
            wav=os.path.join(root, name, fields[0]), source=f"{path}:{lineno}"))
    return utterances


def prepare(corpus_dir, data_dir, track=1, sets=SETS, num_workers=8):
    """Write ``data_dir/<set>`` for ``sets``; returns a per-set summary."""
    if track not in TRACKS:
        raise ValueError(f"track must be 1 or 2, got {track!r}")
    root = os.path.abspath(corpus_dir)
    wanted = [s for s in SETS if s in sets]
    utterances = {}
    if "train" in wanted or "dev" in wanted:
        utterances.update(read_dev_track1(root))
        if track == 2:
            for subset, extra in read_dev_track2(root).items():
                utterances[subset] += extra
    if "eval" in wanted:
        utterances["eval"] = read_labelled(root, f"eval_track{track}")
    if "test" in wanted:
        utterances["test"] = read_test(root, f"test_track{track}")
    return {s: write_data_dir(os.path.join(data_dir, s), utterances[s], num_workers)
            for s in wanted}
