"""Where an utterance is spoofed: timestamp tables, PartialSpoof segment labels and RTTM.

Formats (README.md, "Localization formats and metrics"):

- ``data/<set>/timestamps``, the LlamaPartialSpoof / partialspoof-metrics label text format, one
  line per utterance: ``<utt> <dur> <bonafide|spoof> <start>-<end>-<label> ...`` in seconds, e.g.
  ``u1 1.9740 spoof 0.0000-0.8510-bonafide 0.8510-1.1910-spoof 1.1910-1.9740-bonafide``. As in
  the LlamaPartialSpoof label files (4 decimals), the ranges are sorted, contiguous and cover
  exactly ``[0, dur]``; the utterance label is ``spoof`` iff some range is.
- PartialSpoof ``database/segment_labels/<set>_seglab_<r>.npy``: ``np.save`` of a dict utterance ->
  array of ``'1'`` (bona fide) / ``'0'`` (spoof), one per segment ``[k r, (k+1) r)``, the last
  partial segment included. Read here with a restricted unpickler (DESIGN.md §10), never
  ``np.load(allow_pickle=True)``, which would run any code a crafted file carries.
- RTTM: ``SPEAKER <utt> 1 <start> <duration> <NA> <NA> <label> <NA> <NA>``; we write the spoofed
  ranges with label ``spoof``; on reading, ``spoof`` lines count and ``bonafide`` lines are ignored.

Times are compared in integer microsecond ticks, so that a boundary printed as 0.3200 falls exactly
on the 0.32 s segment edge instead of on either side of it by a float rounding.
"""

import math
import pickle
from dataclasses import dataclass

import numpy as np

from wedefense.dataset.tables import LABELS, iter_lines
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

TICKS_PER_SECOND = 1_000_000
# PartialSpoof's official segment-label resolutions (seconds).
SEGLAB_RESOLUTIONS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)


def to_ticks(seconds):
    """Seconds (a number or an array) -> integer microsecond ticks, rounded to the nearest."""
    if np.ndim(seconds):
        return np.rint(np.asarray(seconds, dtype=np.float64) * TICKS_PER_SECOND).astype(np.int64)
    return int(round(float(seconds) * TICKS_PER_SECOND))


def format_seconds(ticks):
    """Ticks as seconds with 4 decimals (the LlamaPartialSpoof style), more only if needed."""
    text = f"{ticks / TICKS_PER_SECOND:.6f}"
    return text[:-2] if text.endswith("00") else text


@dataclass(frozen=True)
class Timestamps:
    """One utterance's reference: its duration and its spoofed ranges, in ticks.

    ``spoof`` is an ``(n, 2)`` int64 array of sorted, disjoint, non-adjacent ``[start, end)``
    ranges inside ``[0, duration]``; everything else is bona fide.
    """

    duration: int
    spoof: np.ndarray

    @property
    def label(self):
        return "spoof" if len(self.spoof) else "bonafide"

    @property
    def duration_s(self):
        return self.duration / TICKS_PER_SECOND

    def spoof_seconds(self):
        """The spoofed ranges as a list of ``(start_s, end_s)`` floats."""
        return [(int(a) / TICKS_PER_SECOND, int(b) / TICKS_PER_SECOND) for a, b in self.spoof]

    def ranges(self):
        """All ranges covering ``[0, duration]`` as ``(start, end, label)`` ticks, in order."""
        out, cursor = [], 0
        for a, b in self.spoof.tolist():
            if a > cursor:
                out.append((cursor, a, "bonafide"))
            out.append((a, b, "spoof"))
            cursor = b
        if cursor < self.duration or not out:
            out.append((cursor, self.duration, "bonafide"))
        return out

    def spoof_mask(self, resolution):
        """Segment labels at ``resolution`` seconds: True where segment ``[k r, (k+1) r)`` holds
        any spoofed time; ``ceil(duration / r)`` segments, the last partial one included."""
        return self.chunk_spoof_mask(0.0, self.duration_s, resolution)

    def chunk_spoof_mask(self, start, end, resolution):
        """Frame labels for the chunk ``[start, end)`` seconds cut from the audio: frame k covers
        ``[start + k r, start + (k+1) r)`` (the last one cut at ``end``) and is True if it
        overlaps any spoofed time. Training cuts labels with its audio chunks through this."""
        t0, t1, step = to_ticks(start), to_ticks(end), to_ticks(resolution)
        if step <= 0:
            raise ValueError(f"resolution must be positive, got {resolution}")
        if t1 < t0:
            raise ValueError(f"chunk end {end} is before its start {start}")
        count = -(-(t1 - t0) // step)
        mask = np.zeros(count, dtype=bool)
        for a, b in self.spoof.tolist():
            a, b = max(a, t0), min(b, t1)
            if a >= b:
                continue
            # frames k with t0 + k step < b and t0 + (k+1) step > a
            mask[(a - t0) // step:-(-(b - t0) // step)] = True
        return mask


def make_timestamps(duration, spoof_ranges=(), where="timestamps"):
    """A :class:`Timestamps` from a duration and ``(start, end)`` spoofed ranges in seconds.

    Adjacent or overlapping input ranges are merged; ranges are clipped to ``[0, duration]``
    only if they stick out by less than a tick, otherwise it is an error naming ``where``.
    """
    total = to_ticks(duration)
    if not total > 0:
        raise InputError(f"duration must be positive, got {duration}", where)
    ticks = sorted((to_ticks(a), to_ticks(b)) for a, b in spoof_ranges)
    merged = []
    for a, b in ticks:
        if a < 0 or b > total or a >= b:
            raise InputError(f"range {a / TICKS_PER_SECOND}-{b / TICKS_PER_SECOND} is empty or "
                             f"outside [0, {duration}]", where)
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return Timestamps(total, np.array(merged, dtype=np.int64).reshape(-1, 2))


def _parse_seconds(raw, what, path, lineno):
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"bad {what} '{raw}'", path, lineno) from None
    if not math.isfinite(value):
        raise InputError(f"non-finite {what} '{raw}'", path, lineno)
    return to_ticks(value)


def parse_timestamps_line(fields, path="timestamps", lineno=None):
    """``(utt, Timestamps)`` from the fields of one timestamp-table line (strict)."""
    if len(fields) < 4:
        raise InputError("expected '<utt> <dur> <bonafide|spoof> <start>-<end>-<label> ...', "
                         f"got {len(fields)} field(s)", path, lineno)
    utt, raw_dur, utt_label = fields[:3]
    duration = _parse_seconds(raw_dur, "duration", path, lineno)
    if duration <= 0:
        raise InputError(f"duration of '{utt}' must be positive, got {raw_dur}", path, lineno)
    if utt_label not in LABELS:
        raise InputError(f"unknown label '{utt_label}' for '{utt}' (expected one of "
                         f"{', '.join(LABELS)})", path, lineno)
    spoof, cursor = [], 0
    for item in fields[3:]:
        parts = item.split("-")
        if len(parts) != 3:
            raise InputError(f"range '{item}' of '{utt}' is not <start>-<end>-<label>",
                             path, lineno)
        a = _parse_seconds(parts[0], "range start", path, lineno)
        b = _parse_seconds(parts[1], "range end", path, lineno)
        if parts[2] not in LABELS:
            raise InputError(f"unknown label '{parts[2]}' in range '{item}' of '{utt}' "
                             f"(expected one of {', '.join(LABELS)})", path, lineno)
        if b > duration:
            raise InputError(f"range '{item}' of '{utt}' ends after the duration {raw_dur}",
                             path, lineno)
        if a >= b:
            raise InputError(f"range '{item}' of '{utt}' is empty or reversed", path, lineno)
        if a < cursor:
            raise InputError(f"range '{item}' of '{utt}' overlaps or precedes the one before "
                             "(ranges must be sorted and disjoint)", path, lineno)
        if a > cursor:
            raise InputError(f"gap before range '{item}' of '{utt}': the ranges must cover "
                             f"[0, {raw_dur}] without holes", path, lineno)
        if parts[2] == "spoof":
            if spoof and spoof[-1][1] == a:
                spoof[-1][1] = b
            else:
                spoof.append([a, b])
        cursor = b
    if cursor != duration:
        raise InputError(f"the ranges of '{utt}' end at {format_seconds(cursor)}, not at the "
                         f"duration {raw_dur}", path, lineno)
    ts = Timestamps(duration, np.array(spoof, dtype=np.int64).reshape(-1, 2))
    if ts.label != utt_label:
        raise InputError(f"'{utt}' is labelled {utt_label} but its ranges say {ts.label}",
                         path, lineno)
    return utt, ts


def read_timestamps(path):
    """Read a timestamp table into an ordered ``{utt: Timestamps}`` dict (strict)."""
    table = {}
    for lineno, fields in iter_lines(path):
        utt, ts = parse_timestamps_line(fields, path, lineno)
        if utt in table:
            raise InputError(f"duplicate id '{utt}'", path, lineno)
        table[utt] = ts
    if not table:
        raise InputError("no utterances in the file", path)
    return table


def format_timestamps_line(utt, ts):
    ranges = " ".join(f"{format_seconds(a)}-{format_seconds(b)}-{lab}"
                      for a, b, lab in ts.ranges())
    return f"{utt} {format_seconds(ts.duration)} {ts.label} {ranges}"


def write_timestamps(path, table):
    """Write ``{utt: Timestamps}`` as a timestamp table, atomically."""
    with atomic_open(path) as f:
        for utt, ts in table.items():
            f.write(format_timestamps_line(utt, ts) + "\n")


# --- RTTM -------------------------------------------------------------------------------------

def read_rttm(path, durations):
    """Spoofed ranges from an RTTM file as ``{utt: Timestamps}`` for every utterance of
    ``durations`` (``{utt: seconds}``, e.g. utt2dur): an utterance without ``spoof`` lines is
    bona fide. Overlapping or adjacent spoof lines are merged (RTTM allows them)."""
    spans = {}
    for lineno, fields in iter_lines(path):
        if len(fields) < 8 or fields[0] != "SPEAKER":
            raise InputError("expected 'SPEAKER <utt> <chan> <start> <duration> <NA> <NA> "
                             "<label> ...'", path, lineno)
        utt, label = fields[1], fields[7]
        if label not in LABELS:
            raise InputError(f"unknown label '{label}' for '{utt}'", path, lineno)
        start = _parse_seconds(fields[3], "start", path, lineno)
        length = _parse_seconds(fields[4], "duration", path, lineno)
        if start < 0 or length <= 0:
            raise InputError(f"bad range start={fields[3]} duration={fields[4]} for '{utt}'",
                             path, lineno)
        if utt not in durations:
            raise InputError(f"'{utt}' has no duration (missing from the utt2dur given)",
                             path, lineno)
        if start + length > to_ticks(durations[utt]):
            raise InputError(f"range of '{utt}' ends after its duration {durations[utt]}",
                             path, lineno)
        if label == "spoof":
            spans.setdefault(utt, []).append((start / TICKS_PER_SECOND,
                                              (start + length) / TICKS_PER_SECOND))
    return {utt: make_timestamps(dur, spans.get(utt, ()), f"{path}: '{utt}'")
            for utt, dur in durations.items()}


def write_rttm(path, table):
    """Write the spoofed ranges of ``{utt: Timestamps}`` as RTTM, atomically."""
    with atomic_open(path) as f:
        for utt, ts in table.items():
            for a, b in ts.spoof.tolist():
                f.write(f"SPEAKER {utt} 1 {format_seconds(a)} {format_seconds(b - a)} "
                        "<NA> <NA> spoof <NA> <NA>\n")


# --- PartialSpoof segment labels --------------------------------------------------------------

# What a seglab pickle may name: numpy's array reconstruction and nothing else. Dicts, lists and
# strings are pickle opcodes and need no lookup; everything else is refused before it is called.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol-2 pickles spell bytes this way
}


class _SeglabUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct
        if name == "encode":
            import codecs
            return codecs.encode
        return getattr(np, name)


def _load_npy_object(path):
    """The object held by an ``np.save``-d .npy file, unpickled without running code."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    with f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        except ValueError as e:
            raise InputError(f"not a .npy file ({e})", path) from None
        if dtype.kind != "O" or shape != ():
            raise InputError(f"expected a pickled dict (a 0-d object array), got dtype "
                             f"{dtype} shape {shape}", path)
        try:
            array = _SeglabUnpickler(f).load()
        except Exception as e:  # a crafted or damaged pickle: say why, run nothing
            raise InputError(f"cannot read the segment labels safely ({e})", path) from None
    if isinstance(array, np.ndarray) and array.dtype == object and array.shape == ():
        array = array.item()
    return array


def read_seglab(path):
    """PartialSpoof ``<set>_seglab_<r>.npy`` -> ``{utt: bool array}``, True = spoof segment."""
    table = _load_npy_object(path)
    if not isinstance(table, dict):
        raise InputError(f"expected a dict utterance -> labels, got {type(table).__name__}",
                         path)
    out = {}
    for utt, labels in table.items():
        values = np.asarray(labels).reshape(-1)
        if values.dtype.kind in "SU":
            text = values.astype(str)
            bad = ~np.isin(text, ("0", "1"))
            spoof = text == "0"
        elif values.dtype.kind in "iub":
            bad = ~np.isin(values, (0, 1))
            spoof = values == 0
        else:
            raise InputError(f"labels of '{utt}' have dtype {values.dtype}, expected '0'/'1'",
                             path)
        if bad.any():
            raise InputError(f"unknown segment label {values[np.flatnonzero(bad)[0]].item()!r} for "
                             f"'{utt}' (expected '1' bona fide or '0' spoof)", path)
        if values.size == 0:
            raise InputError(f"no segment labels for '{utt}'", path)
        out[str(utt)] = spoof
    return out


def check_length(utt, count, duration, resolution, where):
    """Raise unless ``count`` segments of ``resolution`` s match ``duration`` s within one."""
    expected = -(-to_ticks(duration) // to_ticks(resolution))
    if abs(count - expected) > 1:
        raise InputError(f"'{utt}' has {count} labels at {resolution} s but its audio of "
                         f"{duration} s needs {expected}", where)


def mask_to_timestamps(spoof_mask, resolution, duration=None, utt="?", where="labels"):
    """Segment labels (True = spoof) at ``resolution`` -> :class:`Timestamps`.

    Without ``duration`` the utterance is taken to last ``len(mask) * r``; with it, the lengths
    must agree within one segment and the ranges are cut at (or the last one stretched to) it.
    """
    mask = np.asarray(spoof_mask, dtype=bool)
    step = to_ticks(resolution)
    if duration is None:
        total = mask.size * step
    else:
        check_length(utt, mask.size, duration, resolution, where)
        total = to_ticks(duration)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.view(np.int8), [0]))))
    starts, ends = edges[0::2] * step, edges[1::2] * step
    if ends.size and edges[-1] == mask.size:
        ends[-1] = total  # the last segment is the partial one: it ends with the audio
    keep = starts < total
    ranges = np.stack([starts[keep], np.minimum(ends[keep], total)], axis=1)
    return Timestamps(total, ranges.astype(np.int64).reshape(-1, 2))


def seglab_to_timestamps(path, resolution, durations=None):
    """Read a PartialSpoof seglab file into ``{utt: Timestamps}``.

    ``durations`` (``{utt: seconds}``, from utt2dur) checks each label length against its audio
    and places the end exactly; without it the duration is ``segments * resolution``.
    """
    table = read_seglab(path)
    out = {}
    for utt, mask in table.items():
        duration = None
        if durations is not None:
            if utt not in durations:
                raise InputError(f"'{utt}' has segment labels but no duration", path)
            duration = durations[utt]
        out[utt] = mask_to_timestamps(mask, resolution, duration, utt, path)
    return out


def read_reference(path, durations=None, resolution=None):
    """Reference labels from any of the three formats, told by the file name and content:
    ``*.npy`` (PartialSpoof seglab; the resolution is taken from ``_seglab_<r>.npy`` unless
    given), RTTM (first field ``SPEAKER``; needs ``durations``) or a timestamp table."""
    name = str(path)
    if name.endswith(".npy"):
        if resolution is None:
            stem = name.rsplit("_seglab_", 1)
            try:
                resolution = float(stem[1][:-len(".npy")]) if len(stem) == 2 else None
            except ValueError:
                resolution = None
            if resolution is None:
                raise InputError("cannot tell the resolution of these segment labels: name "
                                 "the file <set>_seglab_<r>.npy", path)
        return seglab_to_timestamps(path, resolution, durations)
    for _, fields in iter_lines(path):
        if fields[0] == "SPEAKER":
            if durations is None:
                raise InputError("RTTM labels need the utterance durations (utt2dur)", path)
            return read_rttm(path, durations)
        break
    return read_timestamps(path)
