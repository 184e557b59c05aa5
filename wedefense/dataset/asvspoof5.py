"""ASVspoof 5 (Track 1): parse the protocols into train/dev/eval data dirs.

On-disk layout once the Zenodo archives are unpacked in one folder:
    <root>/flac_T/T_<10 digits>.flac         (flac_T_a{a..e}.tar)
    <root>/flac_D/D_<10 digits>.flac         (flac_D_a{a..c}.tar)
    <root>/flac_E_eval/E_<10 digits>.flac    (flac_E_a{a..j}.tar)
    ASVspoof5.train.tsv, ASVspoof5.dev.track_1.tsv, ASVspoof5.eval.track_1.tsv
        (from ASVspoof5_protocols.tar.gz; looked up in <root> and in <root>/ASVspoof5_protocols)
Protocol lines are space separated despite the .tsv name, with ten columns
(``wedefense.dataset.asvspoof5_protocol``): SPEAKER_ID FLAC_FILE_NAME SPEAKER_GENDER CODEC CODEC_Q
CODEC_SEED ATTACK_TAG ATTACK_LABEL KEY TMP. An illustrative (made-up) line:
``T_0001 T_0000000001 F - - - - bonafide bonafide -``.
ATTACK_LABEL is A01-A32 or 'bonafide'; CODEC is C01-C11 or '-' (uncoded).

Besides the common tables, each data dir gets the per-condition metadata the scorer needs:
``utt2codec`` (CODEC), ``utt2codec_q`` (CODEC_Q) and ``protocol.tsv``, the set's protocol lines
verbatim, for tools (such as the official evaluation package) that read the original file.
"""

import os
import shutil

from wedefense.dataset.asvspoof5_protocol import COLUMNS, column_count_error
from wedefense.dataset.prepare import Utterance, write_data_dir
from wedefense.dataset.tables import LABELS, iter_lines, write_table
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_path

SETS = ("train", "dev", "eval")
PROTOCOL_NAMES = {
    "train": "ASVspoof5.train.tsv",
    "dev": "ASVspoof5.dev.track_1.tsv",
    "eval": "ASVspoof5.eval.track_1.tsv",
}
FLAC_DIRS = {"train": "flac_T", "dev": "flac_D", "eval": "flac_E_eval"}
PROTOCOL_SUBDIR = "ASVspoof5_protocols"


def protocol_path(root, subset, protocol_dir=None):
    """The protocol of ``subset``: in ``protocol_dir`` if given, else in ``root`` or its
    ``ASVspoof5_protocols`` folder (whichever holds it)."""
    name = PROTOCOL_NAMES[subset]
    if protocol_dir:
        return os.path.join(protocol_dir, name)
    for folder in (root, os.path.join(root, PROTOCOL_SUBDIR)):
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return os.path.join(root, name)


def read_protocol(path, audio_dir):
    """Protocol file -> ``(utterances, codec, codec_q)``; the dicts map utt -> column value."""
    utterances, codec, codec_q = [], {}, {}
    for lineno, fields in iter_lines(path):
        if len(fields) != len(COLUMNS):
            raise column_count_error(len(fields), path, lineno)
        speaker, utt, _, cod, cod_q, _, _, attack, key, _ = fields
        if key not in LABELS:
            raise InputError(f"unknown KEY '{key}' (expected bonafide or spoof)", path, lineno)
        if (key == "bonafide") != (attack == "bonafide"):
            raise InputError(f"ATTACK_LABEL '{attack}' contradicts KEY '{key}'", path, lineno)
        utterances.append(Utterance(utt=utt, wav=os.path.join(audio_dir, utt + ".flac"),
                                    label=key, speaker=speaker,
                                    attack="-" if key == "bonafide" else attack,
                                    source=f"{path}:{lineno}"))
        codec[utt] = cod
        codec_q[utt] = cod_q
    if not utterances:
        raise InputError("protocol has no entries", path)
    return utterances, codec, codec_q


def prepare(corpus_dir, data_dir, num_workers=8, protocol_dir=None):
    """Write ``data_dir/{train,dev,eval}``; returns a per-set summary."""
    root = os.path.abspath(corpus_dir)
    summary = {}
    for subset in SETS:
        proto = protocol_path(root, subset, protocol_dir)
        if not os.path.isfile(proto):
            raise InputError("ASVspoof 5 protocol not found (is the corpus directory the folder "
                             f"holding {FLAC_DIRS[subset]}/ and the protocols?)", proto)
        utterances, codec, codec_q = read_protocol(proto, os.path.join(root, FLAC_DIRS[subset]))
        out = os.path.join(data_dir, subset)
        summary[subset] = write_data_dir(out, utterances, num_workers)
        write_table(os.path.join(out, "utt2codec"), codec.items())
        write_table(os.path.join(out, "utt2codec_q"), codec_q.items())
        with atomic_path(os.path.join(out, "protocol.tsv")) as tmp:
            shutil.copyfile(proto, tmp)
    return summary
