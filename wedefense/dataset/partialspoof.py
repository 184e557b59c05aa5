"""PartialSpoof: parse the CM protocols and prepare train/dev/eval data dirs.

On-disk layout (also what the demo corpus writes):
    <db>/database/{train,dev,eval}/con_wav/<utt>.wav
    <db>/database/protocols/PartialSpoof_LA_cm_protocols/PartialSpoof.LA.cm.<set>.trl.txt
Protocol lines: ``SPEAKER UTT - ATTACK KEY`` (ATTACK '-' for bona fide; KEY bonafide|spoof).
"""

import os

from wedefense.dataset import timestamps
from wedefense.dataset.prepare import Utterance, write_data_dir
from wedefense.dataset.tables import LABELS, iter_lines, read_labels, read_table
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


# Localization labels ---------------------------------------------------------------------------
# The official segment labels: database/segment_labels/<set>_seglab_<r>.npy, a pickled dict
# utt -> array of '1' (bona fide) / '0' (spoof) per r-second segment, the last partial one
# included (read safely by wedefense.dataset.timestamps). The finest file becomes the timestamp
# table every later stage reads; coarser labels are derived from it.

def segment_label_files(db, subset):
    """``{resolution: path}`` of the ``<subset>_seglab_<r>.npy`` files under segment_labels/."""
    folder = os.path.join(db, "segment_labels")
    prefix = f"{subset}_seglab_"
    found = {}
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.startswith(prefix) and name.endswith(".npy"):
                try:
                    found[float(name[len(prefix):-4])] = os.path.join(folder, name)
                except ValueError:
                    continue
    return dict(sorted(found.items()))


def prepare_timestamps(corpus_dir, data_dir):
    """Write ``data_dir/<set>/timestamps`` from the finest segment labels, for the utterances
    stage 1 put in ``data_dir/<set>`` (durations from its utt2dur, labels from its utt2lab)."""
    db = os.path.abspath(database_dir(corpus_dir))
    tables, written = {}, {}
    for subset in SETS:  # all sets checked before any is written
        files = segment_label_files(db, subset)
        if not files:
            raise InputError(f"no segment labels {subset}_seglab_<r>.npy (PartialSpoof v1.2 "
                             "ships them in database/segment_labels/)",
                             os.path.join(db, "segment_labels"))
        resolution, path = next(iter(files.items()))
        seglab = timestamps.read_seglab(path)
        out = os.path.join(data_dir, subset)
        utt2dur = read_table(os.path.join(out, "utt2dur"), float)
        utt2lab = read_labels(os.path.join(out, "utt2lab"))
        table = {}
        for utt, dur in utt2dur.items():
            if utt not in seglab:
                raise InputError(f"no segment labels for '{utt}'", path)
            ts = timestamps.mask_to_timestamps(seglab[utt], resolution, dur, utt, path)
            if ts.label != utt2lab[utt]:
                raise InputError(f"'{utt}' is {utt2lab[utt]} in the protocol but its segment "
                                 f"labels say {ts.label}", path)
            table[utt] = ts
        tables[out] = table
        written[subset] = (resolution, len(table))
    for out, table in tables.items():
        timestamps.write_timestamps(os.path.join(out, "timestamps"), table)
    return written
