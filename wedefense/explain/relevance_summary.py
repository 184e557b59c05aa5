"""Where relevance falls: on spoofed vs bona fide time, on speech vs non-speech, per attack."""

import math

import numpy as np

from wedefense.utils.fileio import atomic_open

# a frame is speech when its energy is within this many dB of the utterance's loudest frame
VAD_RANGE_DB = 30.0
COLUMNS = ("attack", "utts", "spoof_time", "relevance_on_spoof", "speech_time",
           "relevance_on_speech")


def energy_vad(wav, sample_rate, frame_shift, frames, range_db=VAD_RANGE_DB):
    """Speech frames ``(frames,)`` bool: frame ``k`` covers ``[k s, (k+1) s)`` seconds of
    ``wav`` and is speech if its energy is within ``range_db`` of the loudest frame's."""
    step = max(1, int(round(frame_shift * sample_rate)))
    wav = np.asarray(wav, dtype=np.float64)
    wav = wav - wav.mean() if len(wav) else wav  # a DC offset is not speech
    padded = np.zeros(frames * step)
    used = min(len(wav), len(padded))
    padded[:used] = wav[:used]
    energy = 10 * np.log10((padded.reshape(frames, step) ** 2).mean(axis=1) + 1e-12)
    return energy > energy.max() - range_db


def time_relevance(values):
    """The positive relevance of each frame (summed over bins for a 2-D map)."""
    values = np.clip(np.asarray(values, dtype=np.float64), 0, None)
    return values.sum(axis=1) if values.ndim == 2 else values


def shares(values, mask):
    """``(fraction of frames in mask, fraction of positive relevance in mask)``; the latter NaN
    when the map has no positive relevance."""
    r = time_relevance(values)
    mask = np.asarray(mask, dtype=bool)[:len(r)]
    if len(mask) < len(r):
        mask = np.concatenate([mask, np.zeros(len(r) - len(mask), dtype=bool)])
    total = r.sum()
    return float(mask.mean()) if len(r) else math.nan, (float(r[mask].sum() / total)
                                                        if total > 0 else math.nan)


def spoof_mask(timestamps, frames, frame_shift):
    """Frames holding any spoofed time of a :class:`~wedefense.dataset.timestamps.Timestamps`."""
    return timestamps.chunk_spoof_mask(0.0, frames * frame_shift, frame_shift)[:frames]


def summarize(rows, attacks=None):
    """Mean shares per attack (plus ``all``) of per-utterance ``rows``, each a dict with
    ``utt``, ``spoof_time``, ``relevance_on_spoof``, ``speech_time``, ``relevance_on_speech``
    (NaN where unknown). ``attacks``: utt -> attack name (``-`` or missing: ``bonafide``)."""
    groups = {"all": rows}
    if attacks:
        for row in rows:
            name = attacks.get(row["utt"], "-")
            groups.setdefault("bonafide" if name == "-" else name, []).append(row)
    table = []
    for name in ["all"] + sorted(k for k in groups if k != "all"):
        members = groups[name]
        entry = {"attack": name, "utts": len(members)}
        for key in COLUMNS[2:]:
            values = [r[key] for r in members if not math.isnan(r[key])]
            entry[key] = float(np.mean(values)) if values else math.nan
        table.append(entry)
    return table


def format_table(table):
    """The summary as aligned text, ``-`` where a value is unknown."""
    def cell(v):
        return "-" if isinstance(v, float) and math.isnan(v) else (
            f"{v:.3f}" if isinstance(v, float) else str(v))
    lines = [[c for c in COLUMNS]] + [[cell(row[c]) for c in COLUMNS] for row in table]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip()
                     for line in lines)


def write_table(path, table):
    """Tab-separated with a header; unknown values as ``nan``."""
    with atomic_open(path) as f:
        f.write("\t".join(COLUMNS) + "\n")
        for row in table:
            f.write("\t".join(str(row[c]) if not isinstance(row[c], float) else f"{row[c]:.4f}"
                              for c in COLUMNS) + "\n")
