"""PartialSpoof: parse the CM protocols and prepare train/dev/eval data dirs.

On-disk layout (also what the demo corpus writes):
    <db>/database/{train,dev,eval}/con_wav/<utt>.wav
    <db>/database/protocols/PartialSpoof_LA_cm_protocols/PartialSpoof.LA.cm.<set>.trl.txt
Protocol lines: ``SPEAKER UTT - ATTACK KEY`` (ATTACK '-' for bona fide; KEY bonafide|spoof).
"""

import os

from wedefense.dataset.prepare import Utterance, write_data_dir
from wedefense.dataset.tables import LABELS, iter_lines
from wedefense.utils.errors import InputError

SETS = ("train", "dev", "eval")


def database_dir(root):
    """Accept either the corpus root or its ``database`` folder."""
    nested = os.path.join(root, "database")
    return nested if os.path.isdir(os.path.join(nested, "protocols")) else root


def protocol_path(db, subset):
    return os.path.join(db, "protocols", "PartialSpoof_LA_cm_protocols",
                        f"PartialSpoof.LA.cm.{subset}.trl.txt")


def read_protocol(path, wav_dir):
    """Protocol file -> list of :class:`Utterance` with audio paths under ``wav_dir``."""
    utterances = []
    for lineno, fields in iter_lines(path):
        if len(fields) != 5:
            raise InputError("expected 5 columns 'SPEAKER UTT - ATTACK KEY', "
                             f"got {len(fields)}", path, lineno)
        speaker, utt, _, attack, key = fields
        if key not in LABELS:
            raise InputError(f"unknown key '{key}' (expected bonafide or spoof)", path, lineno)
        utterances.append(Utterance(utt=utt, wav=os.path.join(wav_dir, utt + ".wav"), label=key,
                                    speaker=speaker, attack=attack if key == "spoof" else "-",
                                    source=f"{path}:{lineno}"))
    if not utterances:
        raise InputError("protocol has no entries", path)
    return utterances


def prepare(corpus_dir, data_dir, num_workers=8):
    """Write ``data_dir/{train,dev,eval}``; returns a per-set summary."""
    db = os.path.abspath(database_dir(corpus_dir))
    summary = {}
    for subset in SETS:
        proto = protocol_path(db, subset)
        if not os.path.isfile(proto):
            raise InputError("PartialSpoof protocol not found (is the corpus directory right?)",
                             proto)
        utterances = read_protocol(proto, os.path.join(db, subset, "con_wav"))
        summary[subset] = write_data_dir(os.path.join(data_dir, subset), utterances, num_workers)
    return summary
