"""One uploaded recording -> the JSON answer of ``POST /score``.

The upload is decoded from memory (no file is written). The answer holds the utterance LLR,
decision and p(bona fide) at the detector's operating point, a waveform envelope to draw, and
with ``timeline`` the LLR over time: the model scored on short windows (``timeline_window`` s,
``timeline_hop`` apart) with the stretches below the threshold as spoofed ranges. That timeline
comes from a detector trained on whole utterances; it points at suspicious stretches but is not
a localization model's frame scores. A localization bundle gives those instead, always:
``frames`` (the frame grid's ``starts``, ``ends`` and ``llr``) and ``spoofed`` (``[start, end,
llr]`` of each range below the threshold), as :meth:`Detector.localize` returns them.
"""

import dataclasses

import numpy as np

from wedefense.dataset.audio import load_audio
from wedefense.inference.audio_checks import has_signal
from wedefense.inference.detector import window_bounds
from wedefense.inference.spoofed_ranges import spoofed_ranges
from wedefense.utils.errors import InputError

ENVELOPE_POINTS = 800


@dataclasses.dataclass(frozen=True)
class Limits:
    max_bytes: int = 20 * 1024 * 1024
    max_seconds: float = 60.0
    max_queue: int = 32  # requests waiting for the model; more get 503


class TooLong(InputError):
    """Decoded audio longer than the server accepts."""


def envelope(wav, points=ENVELOPE_POINTS):
    """``(mins, maxs)`` of ``points`` equal slices of ``wav`` (fewer for short audio)."""
    points = max(1, min(points, len(wav)))
    edges = np.linspace(0, len(wav), points + 1).astype(int)
    return (np.minimum.reduceat(wav, edges[:-1]).tolist(),
            np.maximum.reduceat(wav, edges[:-1]).tolist())


class Scorer:
    def __init__(self, detector, limits=Limits(), timeline_window=1.0, timeline_hop=0.25):
        self.detector = detector
        self.limits = limits
        self.timeline_window = max(timeline_window, detector.min_samples / detector.sample_rate)
        self.timeline_hop = timeline_hop

    def info(self):
        d = self.detector
        return {"sample_rate": d.sample_rate, "calibrated": d.calibrated,
                "operating_point": self.operating_point(),
                "limits": dataclasses.asdict(self.limits),
                "timeline": {"window": self.timeline_window, "hop": self.timeline_hop}}

    def operating_point(self):
        d = self.detector
        return {"p_spoof": d.p_spoof, "c_miss": d.c_miss, "c_fa": d.c_fa,
                "threshold": d.threshold}

    def decode(self, data, name="upload"):
        if not data:
            raise InputError("the upload is empty: send the audio file as the request body",
                             name)
        wav = load_audio(bytes(data), self.detector.sample_rate, name=name)
        seconds = len(wav) / self.detector.sample_rate
        if seconds > self.limits.max_seconds:
            raise TooLong(f"audio lasts {seconds:.1f} s; this server accepts at most "
                          f"{self.limits.max_seconds:g} s", name)
        return wav

    def score(self, data, timeline=False, name="upload"):
        d = self.detector
        wav = self.decode(data, name)
        loc = None
        if d.task == "localization":
            loc = d.localize(wav, d.sample_rate)
            llr = loc.llr
        else:
            llr = float(np.mean([w.llr for w in d.score_windows(wav, d.sample_rate)]))
        if not np.isfinite(llr):
            raise InputError("the model gave a non-finite score", name)
        mins, maxs = envelope(wav)
        answer = {"llr": llr, "decision": d.decide(llr), "p_bonafide": d.p_bonafide(llr),
                  "calibrated": d.calibrated, "operating_point": self.operating_point(),
                  "duration": len(wav) / d.sample_rate,
                  "envelope": {"min": mins, "max": maxs}}
        if loc is not None:
            answer["frames"] = {"starts": loc.starts.tolist(), "ends": loc.ends.tolist(),
                                "llr": loc.frame_llr.tolist()}
            answer["spoofed"] = [list(r) for r in loc.spoofed]
        elif timeline:
            answer["timeline"] = self._timeline(wav)
        return answer

    def _timeline(self, wav):
        d = self.detector
        rate = d.sample_rate
        bounds = window_bounds(len(wav), int(round(self.timeline_window * rate)),
                               max(1, int(round(self.timeline_hop * rate))))
        llrs = d._run([wav[s:e] for s, e in bounds])
        # like the detector, give no score to a window without a usable signal (a pause)
        llrs[[not has_signal(wav[s:e]) for s, e in bounds]] = np.nan
        starts = np.array([s for s, _ in bounds]) / rate
        ends = np.array([e for _, e in bounds]) / rate
        # each window's score stands for the time nearer its centre than any other's, so
        # the spoofed ranges tile the time axis instead of overlapping
        centres = (starts + ends) / 2
        edges = np.concatenate([[0.0], (centres[1:] + centres[:-1]) / 2, [len(wav) / rate]])
        lo, hi = edges[:-1], edges[1:]
        ranges = spoofed_ranges(lo, hi, llrs, d.threshold)
        return {"kind": "sliding_window", "window": self.timeline_window,
                "hop": self.timeline_hop, "times": centres.tolist(),
                "llr": [None if np.isnan(v) else float(v) for v in llrs],
                "spoofed_ranges": [{"start": a, "end": b, "llr": m} for a, b, m in ranges]}
