"""In-the-Wild (Mueller et al., Interspeech 2022): an evaluation-only corpus -> data/eval.

On-disk layout of ``release_in_the_wild.zip`` once unpacked:
    <root>/release_in_the_wild/<n>.wav       (0.wav, 1.wav, ...)
    <root>/release_in_the_wild/meta.csv
``meta.csv`` is comma separated with the header ``file,speaker,label``; ``label`` is
``bona-fide`` or ``spoof``; speaker names contain spaces (``Alec Guinness``).

The utterance id is the file name without ``.wav``. The corpus names no attack systems, so
``utt2attack`` holds '-' for bona fide and ``unknown`` for every spoof; ``utt2spk`` holds the
speaker name with runs of whitespace replaced by '_' (Kaldi tables split on spaces).
"""

import os

from wedefense.dataset.prepare import Utterance, write_data_dir
from wedefense.dataset.tables import iter_csv
from wedefense.utils.errors import InputError

RELEASE_DIR = "release_in_the_wild"
META = "meta.csv"
HEADER = ("file", "speaker", "label")
LABEL_MAP = {"bona-fide": "bonafide", "spoof": "spoof"}
SPOOF_ATTACK = "unknown"


def release_dir(root):
    """Accept the folder holding ``release_in_the_wild/`` or that folder itself."""
    nested = os.path.join(root, RELEASE_DIR)
    return nested if os.path.isfile(os.path.join(nested, META)) else root


def read_meta(path):
    """``meta.csv`` -> list of :class:`Utterance` with audio beside it."""
    audio_dir = os.path.dirname(path)
    rows = iter_csv(path, "In-the-Wild meta.csv not found (is the corpus directory the folder "
                          f"holding {RELEASE_DIR}/?)")
    _, header = next(rows, (1, None))
    if header is None or tuple(header) != HEADER:
        raise InputError(f"expected the header '{','.join(HEADER)}', got {header!r}", path, 1)
    utterances = []
    for lineno, fields in rows:
        if len(fields) != len(HEADER):
            raise InputError(f"expected 3 fields 'file,speaker,label', got {len(fields)}",
                             path, lineno)
        name, speaker, label = fields
        if label not in LABEL_MAP:
            raise InputError(f"unknown label '{label}' (expected bona-fide or spoof)",
                             path, lineno)
        utt, ext = os.path.splitext(name)
        if not utt or not ext or os.sep in name or any(c.isspace() for c in name):
            raise InputError(f"bad file name '{name}' (expected e.g. '0.wav')", path, lineno)
        key = LABEL_MAP[label]
        utterances.append(Utterance(
            utt=utt, wav=os.path.join(audio_dir, name), label=key,
            speaker="_".join(speaker.split()) or "-",
            attack="-" if key == "bonafide" else SPOOF_ATTACK, source=f"{path}:{lineno}"))
    if not utterances:
        raise InputError("meta.csv has no entries", path)
    return utterances


def prepare(corpus_dir, data_dir, num_workers=8):
    """Write ``data_dir/eval``; returns ``{"eval": summary}``."""
    meta = os.path.join(os.path.abspath(release_dir(corpus_dir)), META)
    utterances = read_meta(meta)
    return {"eval": write_data_dir(os.path.join(data_dir, "eval"), utterances, num_workers)}
