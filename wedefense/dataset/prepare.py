"""Write a Kaldi-style data dir (wav.scp, utt2lab, lab2utt, utt2dur, utt2spk, utt2attack).

Corpus modules parse their own protocols into :class:`Utterance` records; this module is the one
place that turns records into the files every later stage reads, so all corpora agree on them.
"""

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor

import soundfile

from wedefense.dataset.tables import invert_labels, write_table
from wedefense.utils.errors import InputError


@dataclasses.dataclass
class Utterance:
    utt: str
    wav: str
    label: str
    speaker: str = "-"
    attack: str = "-"
    source: str = ""  # "protocol:line" the record came from, for error messages


def audio_duration(path, source=""):
    """Duration in seconds from the file header only (no decode)."""
    try:
        # Opening the file parses the header; unlike soundfile.info() it skips the extra
        # format queries, which halves the cost per file.
        with soundfile.SoundFile(path) as f:
            frames, sample_rate = f.frames, f.samplerate
    except (RuntimeError, soundfile.LibsndfileError) as e:
        where = f" (listed at {source})" if source else ""
        raise InputError(f"cannot read audio header{where}: {e}", path) from None
    if frames <= 0:
        raise InputError("audio file has no samples", path)
    return frames / sample_rate


# Files per task handed to a worker thread: large enough that scheduling costs vanish next
# to the header reads, small enough that every thread gets work on a few thousand files.
_CHUNK = 512


def durations(utterances, num_workers=8):
    """Header durations for many files, in input order.

    Threads, because libsndfile releases the GIL during file I/O: on a cold cache or a network
    file system the reads overlap; on a warm cache the chunked tasks keep the overhead low.
    See benchmarks/prepare_speed.py for the measurements.
    """
    utterances = list(utterances)
    for u in utterances:
        if not os.path.isfile(u.wav):
            raise InputError(f"audio file for '{u.utt}' not found: {u.wav}",
                             *_split_source(u.source))
    chunks = [utterances[i:i + _CHUNK] for i in range(0, len(utterances), _CHUNK)]

    def read_chunk(chunk):
        return [audio_duration(u.wav, u.source) for u in chunk]

    if num_workers <= 1 or len(chunks) <= 1:
        return [d for chunk in chunks for d in read_chunk(chunk)]
    with ThreadPoolExecutor(max_workers=num_workers) as pool:
        return [d for result in pool.map(read_chunk, chunks) for d in result]


def _split_source(source):
    path, _, line = source.rpartition(":")
    return (path, int(line)) if line.isdigit() else (source or None, None)


def write_data_dir(data_dir, utterances, num_workers=8):
    """Write all tables of one set; each file atomically, so a rerun replaces them whole."""
    utterances = list(utterances)
    seen = {}
    for u in utterances:
        if u.utt in seen:
            raise InputError(f"duplicate utterance id '{u.utt}' (first at {seen[u.utt]})",
                             *_split_source(u.source))
        seen[u.utt] = u.source
    durs = durations(utterances, num_workers)
    os.makedirs(data_dir, exist_ok=True)
    utt2lab = {u.utt: u.label for u in utterances}
    write_table(os.path.join(data_dir, "wav.scp"), ((u.utt, u.wav) for u in utterances))
    write_table(os.path.join(data_dir, "utt2lab"), utt2lab.items())
    write_table(os.path.join(data_dir, "lab2utt"), invert_labels(utt2lab).items())
    write_table(os.path.join(data_dir, "utt2dur"),
                ((u.utt, f"{d:.4f}") for u, d in zip(utterances, durs)))
    write_table(os.path.join(data_dir, "utt2spk"), ((u.utt, u.speaker) for u in utterances))
    write_table(os.path.join(data_dir, "utt2attack"), ((u.utt, _attack(u)) for u in utterances))
    return {"num_utts": len(utterances), "hours": sum(durs) / 3600.0,
            **{lab: len(utts) for lab, utts in invert_labels(utt2lab).items()}}


def _attack(u):
    """utt2attack's value: '-' for bona fide; a spoof without an attack id is 'unknown'."""
    if u.label == "bonafide":
        return "-"
    return "unknown" if u.attack == "-" else u.attack


def format_summary(summary):
    """One line per set of a ``{set: write_data_dir() result}`` dict, for entry scripts."""
    lines = []
    for subset, s in summary.items():
        counts = ", ".join(f"{k}={v}" for k, v in s.items() if k not in ("num_utts", "hours"))
        lines.append(f"{subset}: {s['num_utts']} utterances, {s['hours']:.2f} h ({counts})")
    return "\n".join(lines)
