"""Frame LLRs -> the spoofed time ranges a user reads: ``(start_s, end_s, llr)``.

A frame is spoofed where its LLR is below the threshold (by default the Bayes threshold
``-ln(beta)`` of the toolkit's operating point, the same decision detection takes for a whole
utterance). Consecutive spoofed frames merge into one range. A range's LLR is the minimum over its
frames: the strongest evidence inside it, the same score the segment and utterance metrics give a
stretch of frames (a mean would let a long weak tail dilute a clearly fake word).

No minimum duration and no gap filling: either would change the decisions the metrics measured,
and PartialSpoof's spoofed segments can be as short as a single 20 ms frame.
"""

import numpy as np

from wedefense.dataset.timestamps import make_timestamps, write_rttm, write_timestamps
from wedefense.metrics.detection import bayes_threshold


def spoofed_ranges(starts, ends, llr, threshold=None):
    """Merged spoofed ranges ``[(start_s, end_s, min_llr), ...]`` of one utterance's frames.

    ``starts``/``ends`` are frame times in seconds (contiguous frames merge; a gap between two
    spoofed frames keeps them apart); ``threshold`` defaults to :func:`bayes_threshold`.
    """
    if threshold is None:
        threshold = bayes_threshold()
    starts, ends = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    llr = np.asarray(llr, dtype=np.float64)
    spoof = llr < threshold
    if not spoof.any():
        return []
    idx = np.flatnonzero(spoof)
    # a new range begins where the previous spoofed frame is not the frame just before
    # or does not end where this one starts
    breaks = np.ones(idx.size, dtype=bool)
    breaks[1:] = (np.diff(idx) != 1) | ~np.isclose(starts[idx[1:]], ends[idx[:-1]],
                                                   rtol=0, atol=5e-7)
    first = np.flatnonzero(breaks)
    last = np.append(first[1:], idx.size) - 1
    lows = np.minimum.reduceat(llr[idx], first)
    return [(float(starts[idx[a]]), float(ends[idx[b]]), float(m))
            for a, b, m in zip(first, last, lows)]


def scores_to_timestamps(frame_scores, threshold=None):
    """``{utt: Timestamps}`` of the predicted spoofed ranges of every utterance of a
    :class:`~wedefense.metrics.frame_scores.FrameScores`; an utterance lasts to its last frame."""
    table = {}
    for utt, starts, ends, llr in frame_scores.items():
        ranges = spoofed_ranges(starts, ends, llr, threshold)
        table[utt] = make_timestamps(ends[-1], [(a, b) for a, b, _ in ranges], utt)
    return table


def write_spoofed_ranges(frame_scores, threshold=None, timestamps_path=None, rttm_path=None):
    """Write the predicted spoofed ranges as a timestamp table and/or RTTM; returns them."""
    table = scores_to_timestamps(frame_scores, threshold)
    if timestamps_path is not None:
        write_timestamps(timestamps_path, table)
    if rttm_path is not None:
        write_rttm(rttm_path, table)
    return table
