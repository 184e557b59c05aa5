"""Frame labels for localization training: audio chunks with the labels of exactly their span.

The labels come from the set's timestamp table ``data/<set>/timestamps`` (DESIGN.md §9; the
file beside the set's ``raw.list``; read by :mod:`wedefense.dataset.timestamps`).
A frame (segment) ``[k h, (k + 1) h)`` of ``h`` samples is spoof if any part of it lies in a
spoofed range (PartialSpoof's rule). Chunks start on a frame boundary of the utterance, so
chunk frame ``j`` *is* utterance segment ``start / h + j`` and its label is that segment's:
labels are cut with the audio, never shifted against it. An utterance shorter than the chunk
is taken whole (no tiling: a repeated copy would need repeated labels); the collate pads audio
with zeros and labels with ``IGNORE``, which the loss skips.
"""

import os

import numpy as np
import torch

from wedefense.dataset.pipeline import TrainChunks
from wedefense.models.frame_loss import IGNORE
from wedefense.utils.errors import InputError

TIMESTAMPS = "timestamps"


def timestamps_path(list_path):
    """The timestamp table of a set: ``timestamps`` beside its ``raw.list``."""
    return os.path.join(os.path.dirname(os.path.abspath(list_path)), TIMESTAMPS)


def spoof_segments(timestamps, num_samples, hop, sample_rate=16000):
    """Boolean ``(ceil(num_samples / hop),)``: segment ``k`` spoof if any spoofed time of
    ``timestamps`` (a :class:`~wedefense.dataset.timestamps.Timestamps`) lies in samples
    ``[k hop, (k + 1) hop)``."""
    mask = timestamps.chunk_spoof_mask(0.0, num_samples / sample_rate, hop / sample_rate)
    return mask[:-(-num_samples // hop)]


def check_label_length(utt, duration, num_samples, hop, sample_rate):
    """Label and audio lengths may differ by at most one segment (rounding of ``dur``)."""
    if abs(duration * sample_rate - num_samples) > hop:
        raise InputError(f"'{utt}': labelled duration {duration:.3f} s and audio length "
                         f"{num_samples / sample_rate:.3f} s differ by more than one "
                         f"{hop / sample_rate:g} s segment")


def frame_label_indices(spoof, bonafide_index):
    """Boolean spoof segments -> class indices."""
    return np.where(spoof, 1 - bonafide_index, bonafide_index).astype(np.int64)


class FrameChunks(TrainChunks):
    """:class:`TrainChunks` that yields ``(chunk (n,), frame labels (ceil(n / hop),))``.

    ``timestamps``: ``{utt: Timestamps}`` of the training set; ``chunk_samples`` is rounded
    down to whole frames. A sample whose labels do not fit its audio is skipped and logged.
    """

    def __init__(self, items, classes, chunk_samples, timestamps, hop_samples, bonafide_index,
                 **kwargs):
        super().__init__(items, classes, chunk_samples, **kwargs)
        if self.sharded:
            raise InputError("localization training reads a raw.list (the timestamp table "
                             "gives the labels); shard lists are not supported")
        if "speed_perturb" in (self.augment.config or {}):  # resolve() says so earlier too
            raise InputError("augment.speed_perturb changes the time axis and so would move "
                             "audio against its frame labels: not for localization training")
        missing = [it["key"] for it in self.items if it["key"] not in timestamps]
        if missing:
            raise InputError(f"{len(missing)} training utterance(s) have no timestamps, e.g. "
                             f"'{missing[0]}'")
        self.timestamps = timestamps
        self.hop = int(hop_samples)
        self.chunk_frames = max(1, chunk_samples // self.hop)
        self.bonafide_index = bonafide_index

    def _make_sample(self, key, wav, label, rng):
        ts = self.timestamps[key]
        check_label_length(key, ts.duration_s, len(wav), self.hop, self.sample_rate)
        total = -(-len(wav) // self.hop)
        frames = min(self.chunk_frames, total)
        first = int(rng.integers(0, total - frames + 1))
        chunk = wav[first * self.hop:(first + frames) * self.hop]
        spoof = spoof_segments(ts, len(wav), self.hop, self.sample_rate)
        labels = frame_label_indices(spoof[first:first + frames], self.bonafide_index)
        if self.augment.active:
            augmented = self.augment.chunk(chunk, rng)
            if len(augmented) == len(chunk):  # an augmentation that changes length would
                chunk = augmented             # move audio against its labels
        labels = labels[:-(-len(chunk) // self.hop)]
        return (torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32)),
                torch.from_numpy(labels))


def frame_collate(hop):
    """Batch ``[(chunk, labels)]`` -> ``(wavs (B, N), lengths (B,), labels (B, ceil(N/hop)))``;
    padding is zero audio and ``IGNORE`` labels."""
    def collate(batch):
        lengths = torch.tensor([len(w) for w, _ in batch], dtype=torch.long)
        wavs = torch.zeros(len(batch), int(lengths.max()))
        labels = torch.full((len(batch), -(-int(lengths.max()) // hop)), IGNORE,
                            dtype=torch.long)
        for i, (w, lab) in enumerate(batch):
            wavs[i, :len(w)] = w
            labels[i, :len(lab)] = lab
        return wavs, lengths, labels
    return collate


def utterance_frame_labels(timestamps, keys, lengths, hop, bonafide_index, sample_rate=16000):
    """Class-index labels ``[(ceil(n / hop),)]`` of whole utterances of ``lengths`` samples
    (validation and scoring); a missing utterance or a length mismatch is an error."""
    out = []
    for key, n in zip(keys, lengths):
        if key not in timestamps:
            raise InputError(f"utterance '{key}' has no timestamps")
        check_label_length(key, timestamps[key].duration_s, int(n), hop, sample_rate)
        out.append(frame_label_indices(spoof_segments(timestamps[key], int(n), hop, sample_rate),
                                       bonafide_index))
    return out
