"""LlamaPartialSpoof (Luong et al., ICASSP 2025; Zenodo record 14214149): an evaluation corpus.

On-disk layout once the archives are unpacked:
    <root>/label_R01TTS.0.a.txt   <root>/R01TTS.0.a/<utt>.wav   bona fide, full and crossfade fakes
    <root>/label_R01TTS.0.b.txt   <root>/R01TTS.0.b/<utt>.wav   cut/paste and overlap/add fakes
Label lines are the timestamp format ``<utt> <dur> <bonafide|spoof> <start>-<end>-<label> ...``.
Both parts go to one data dir ``eval`` (a part whose label file is absent is skipped).

Ids carry their metadata: ``dev-clean_1272_128104_000005_000014`` (bona fide LibriTTS) or
``dev01-cosyvoice-partial-cf_1272_...``: the second '_' field is the LibriTTS speaker, and for a
spoof the first field (set, TTS system, full/partial, splice method) is its attack id.
"""

import os

from wedefense.dataset import timestamps
from wedefense.dataset.prepare import Utterance, write_data_dir
from wedefense.dataset.tables import iter_lines, read_table
from wedefense.utils.errors import InputError

PARTS = ("a", "b")
SUBSET = "eval"
# Label durations and audio headers may differ by rounding; more than one 20 ms frame is a
# label file that does not belong to this audio.
DURATION_TOLERANCE = 0.02


def label_path(root, part):
    return os.path.join(root, f"label_R01TTS.0.{part}.txt")


def audio_dir(root, part):
    return os.path.join(root, f"R01TTS.0.{part}")


def speaker_and_attack(utt, label):
    fields = utt.split("_")
    speaker = fields[1] if len(fields) > 1 else "-"
    return speaker, (fields[0] if label == "spoof" else "-")


def read_part(root, part):
    """One label file -> (utterances, {utt: Timestamps}); ``None`` if it is absent."""
    path = label_path(root, part)
    if not os.path.isfile(path):
        return None
    table = timestamps.read_timestamps(path)
    utterances = []
    for lineno, fields in iter_lines(path):
        utt = fields[0]
        label = table[utt].label
        speaker, attack = speaker_and_attack(utt, label)
        utterances.append(Utterance(utt=utt, wav=os.path.join(audio_dir(root, part), utt + ".wav"),
                                    label=label, speaker=speaker, attack=attack,
                                    source=f"{path}:{lineno}"))
    return utterances, table


def prepare(corpus_dir, data_dir, num_workers=8):
    """Write ``data_dir/eval`` (the usual tables plus ``timestamps``); returns its summary."""
    root = os.path.abspath(corpus_dir)
    utterances, table = [], {}
    for part in PARTS:
        read = read_part(root, part)
        if read is not None:
            utterances += read[0]
            table.update(read[1])
    if not utterances:
        raise InputError("no LlamaPartialSpoof label file found (expected label_R01TTS.0.a.txt "
                         "and/or label_R01TTS.0.b.txt in the corpus directory)", root)
    out = os.path.join(data_dir, SUBSET)
    summary = write_data_dir(out, utterances, num_workers)
    utt2dur = read_table(os.path.join(out, "utt2dur"), float)
    for u in utterances:
        if abs(table[u.utt].duration_s - utt2dur[u.utt]) > DURATION_TOLERANCE:
            raise InputError(f"'{u.utt}': label duration {table[u.utt].duration_s:.4f} s differs "
                             f"from its audio's {utt2dur[u.utt]:.4f} s", u.source)
    timestamps.write_timestamps(os.path.join(out, "timestamps"),
                                {u.utt: table[u.utt] for u in utterances})
    return {SUBSET: summary}
