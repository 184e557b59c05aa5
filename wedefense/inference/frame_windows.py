"""Long audio through a frame model: windows on the frame grid, stitched without double counting.

A frame model scores frame ``k`` = samples ``[k h, (k + 1) h)`` of its input (``h`` the hop, the
last frame partial). Audio longer than a window is cut into windows that start on that grid, so a
window's frame ``j`` *is* the file's frame ``start / h + j``. Each window keeps only its core: the
frames at least ``context`` frames away from a cut (the file's own start and end need no margin),
and the cores tile the file's frames exactly once. With a context as wide as the model's
receptive field the stitched scores are those of one pass over the whole file.
"""

import math
from typing import List, NamedTuple

import numpy as np


class FrameWindow(NamedTuple):
    start: int        # first sample of the window (a multiple of the hop)
    end: int          # one past its last sample
    keep_first: int   # the file frames this window contributes: [keep_first, keep_last)
    keep_last: int


def num_frames(num_samples, hop):
    """Frames of ``num_samples`` samples, the last partial one included."""
    return -(-int(num_samples) // int(hop))


def plan_windows(num_samples, hop, window_frames, context_frames) -> List[FrameWindow]:
    """Windows of at most ``window_frames`` frames covering ``num_samples`` samples, whose kept
    frame ranges tile ``[0, num_frames)`` in order, each kept frame at least
    ``context_frames`` frames from a cut. One window if the audio fits in one."""
    hop, window_frames, context_frames = int(hop), int(window_frames), int(context_frames)
    if hop <= 0 or context_frames < 0:
        raise ValueError(f"need a positive hop and a non-negative context, got {hop}, "
                         f"{context_frames}")
    core = window_frames - 2 * context_frames
    if core <= 0:
        raise ValueError(f"a window of {window_frames} frames leaves no core frames with "
                         f"{context_frames} frames of context on each side")
    total = num_frames(num_samples, hop)
    if total <= window_frames:
        return [FrameWindow(0, int(num_samples), 0, total)]
    windows = []
    for keep_first in range(0, total, core):
        keep_last = min(total, keep_first + core)
        first = max(0, keep_first - context_frames)
        last = min(total, first + window_frames)
        first = max(0, last - window_frames)  # the last window keeps its full length
        windows.append(FrameWindow(first * hop, min(int(num_samples), last * hop),
                                   keep_first, keep_last))
    return windows


def stitch(windows, window_scores, hop):
    """Concatenate each window's kept frames: ``window_scores[i]`` holds window ``i``'s frame
    values (one per window frame) -> one array over the file's frames."""
    parts = []
    for w, scores in zip(windows, window_scores):
        offset = w.start // hop
        expected = num_frames(w.end - w.start, hop)
        if len(scores) != expected:
            raise ValueError(f"window {w.start}-{w.end} has {len(scores)} frame scores, "
                             f"expected {expected}")
        parts.append(np.asarray(scores)[w.keep_first - offset:w.keep_last - offset])
    return np.concatenate(parts)


def context_frames_for(seconds, hop, sample_rate):
    """Frames of context for ``seconds`` of it (rounded up)."""
    return int(math.ceil(seconds * sample_rate / hop))
