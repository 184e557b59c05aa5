"""ASVspoof 2019 logical access (LA): parse the CM protocols into train/dev/eval data dirs.

On-disk layout of the released ``LA.zip`` once unpacked:
    <root>/LA/ASVspoof2019_LA_{train,dev,eval}/flac/LA_{T,D,E}_<7 digits>.flac
    <root>/LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.train.trn.txt
                                           ASVspoof2019.LA.cm.dev.trl.txt
                                           ASVspoof2019.LA.cm.eval.trl.txt
Protocol lines, space separated: ``SPEAKER_ID AUDIO_FILE_NAME - SYSTEM_ID KEY``, e.g.
``LA_0079 LA_T_1138215 - - bonafide``; SYSTEM_ID is A01-A19 for spoofs and '-' for bona fide,
the third column is unused in LA, KEY is bonafide or spoof.
"""

import os

from wedefense.dataset.prepare import Utterance, write_data_dir
from wedefense.dataset.tables import LABELS, iter_lines
from wedefense.utils.errors import InputError

SETS = ("train", "dev", "eval")
PROTOCOL_NAMES = {
    "train": "ASVspoof2019.LA.cm.train.trn.txt",
    "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
    "eval": "ASVspoof2019.LA.cm.eval.trl.txt",
}


def la_dir(root):
    """Accept the folder holding ``LA/`` or ``LA/`` itself."""
    nested = os.path.join(root, "LA")
    return nested if os.path.isdir(nested) else root


def protocol_path(la, subset):
    return os.path.join(la, "ASVspoof2019_LA_cm_protocols", PROTOCOL_NAMES[subset])


def flac_dir(la, subset):
    return os.path.join(la, f"ASVspoof2019_LA_{subset}", "flac")


def parse_protocol_line(fields, path, lineno):
    """``(speaker, utt, attack, key)`` of one CM protocol line; attack is '-' for bona fide."""
    if len(fields) != 5:
        raise InputError("expected 5 columns 'SPEAKER_ID AUDIO_FILE_NAME - SYSTEM_ID KEY', "
                         f"got {len(fields)}", path, lineno)
    speaker, utt, _, system, key = fields
    if key not in LABELS:
        raise InputError(f"unknown key '{key}' (expected bonafide or spoof)", path, lineno)
    if (key == "bonafide") != (system == "-"):
        raise InputError(f"system id '{system}' contradicts key '{key}' "
                         "(bona fide lines carry '-', spoof lines an attack id)", path, lineno)
    return speaker, utt, system, key


def read_protocol(path, audio_dir, ext=".flac"):
    """Protocol file -> list of :class:`Utterance` with audio under ``audio_dir``."""
    utterances = []
    for lineno, fields in iter_lines(path):
        speaker, utt, attack, key = parse_protocol_line(fields, path, lineno)
        utterances.append(Utterance(utt=utt, wav=os.path.join(audio_dir, utt + ext), label=key,
                                    speaker=speaker, attack=attack, source=f"{path}:{lineno}"))
    if not utterances:
        raise InputError("protocol has no entries", path)
    return utterances


def prepare(corpus_dir, data_dir, num_workers=8):
    """Write ``data_dir/{train,dev,eval}``; returns a per-set summary."""
    la = os.path.abspath(la_dir(corpus_dir))
    summary = {}
    for subset in SETS:
        proto = protocol_path(la, subset)
        if not os.path.isfile(proto):
            raise InputError("ASVspoof 2019 LA protocol not found (is the corpus directory the "
                             "folder holding LA/?)", proto)
        utterances = read_protocol(proto, flac_dir(la, subset))
        summary[subset] = write_data_dir(os.path.join(data_dir, subset), utterances, num_workers)
    return summary
