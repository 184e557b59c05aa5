"""SpoofCeleb (Jung et al., IEEE OJSP 2025): metadata CSVs -> train/dev/eval data dirs.

On-disk layout of the release (Hugging Face ``jungjee/spoofceleb``) once unpacked:
    <root>/spoofceleb/flac/{train,development,evaluation}/<attack>/<speaker>/<name>.flac
    <root>/spoofceleb/metadata/{train,development,evaluation}.csv
Each CSV is comma separated with the header ``file,speaker,attack``; ``file`` is relative to the
split's flac folder, e.g. ``a00/id10318/YYsxcZ5saac-00002-006.flac,id10318,a00``. Attack
``a00`` is bona fide (VoxCeleb1 speech); ``a01``... are the TTS systems.

The utterance id is ``file`` without its extension, '/' replaced by '_' (the same name recurs
under several attacks, so the name alone is not unique).
"""

import os

from wedefense.dataset.prepare import Utterance, write_data_dir
from wedefense.dataset.tables import iter_csv
from wedefense.utils.errors import InputError

SPLITS = {"train": "train", "dev": "development", "eval": "evaluation"}
HEADER = ("file", "speaker", "attack")
BONAFIDE_ATTACK = "a00"


def corpus_dir(root):
    """Accept the folder holding ``spoofceleb/`` or that folder itself."""
    nested = os.path.join(root, "spoofceleb")
    return nested if os.path.isdir(os.path.join(nested, "metadata")) else root


def read_metadata(path, audio_dir):
    """One split's CSV -> list of :class:`Utterance` with audio under ``audio_dir``."""
    rows = iter_csv(path, "SpoofCeleb metadata not found (is the corpus directory the folder "
                          "holding spoofceleb/metadata/?)")
    _, header = next(rows, (1, None))
    if header is None or tuple(header) != HEADER:
        raise InputError(f"expected the header '{','.join(HEADER)}', got {header!r}", path, 1)
    utterances = []
    for lineno, fields in rows:
        if len(fields) != len(HEADER):
            raise InputError(f"expected 3 fields 'file,speaker,attack', got {len(fields)}",
                             path, lineno)
        name, speaker, attack = fields
        stem, ext = os.path.splitext(name)
        if (not stem or not ext or os.path.isabs(name) or ".." in name.split("/")
                or any(c.isspace() for c in name)):
            raise InputError(f"bad file '{name}' (expected e.g. a00/id10318/x.flac)",
                             path, lineno)
        if not speaker or not attack or any(c.isspace() for c in speaker + attack):
            raise InputError(f"empty or blank-containing speaker/attack in '{','.join(fields)}'",
                             path, lineno)
        key = "bonafide" if attack == BONAFIDE_ATTACK else "spoof"
        utterances.append(Utterance(
            utt=stem.replace("/", "_"), wav=os.path.join(audio_dir, name), label=key,
            speaker=speaker, attack="-" if key == "bonafide" else attack,
            source=f"{path}:{lineno}"))
    if not utterances:
        raise InputError("metadata has no entries", path)
    return utterances


def prepare(root, data_dir, num_workers=8):
    """Write ``data_dir/{train,dev,eval}``; returns a per-set summary."""
    base = os.path.abspath(corpus_dir(root))
    summary = {}
    for subset, split in SPLITS.items():
        utterances = read_metadata(os.path.join(base, "metadata", f"{split}.csv"),
                                   os.path.join(base, "flac", split))
        summary[subset] = write_data_dir(os.path.join(data_dir, subset), utterances, num_workers)
    return summary
