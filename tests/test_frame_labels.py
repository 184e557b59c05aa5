"""Frame labels for localization training: chunks carry exactly the labels of their span."""

import itertools

import numpy as np
import pytest
import soundfile as sf
import torch

from wedefense.dataset.frame_labels import (
    FrameChunks,
    frame_collate,
    spoof_segments,
    utterance_frame_labels,
)
from wedefense.dataset.timestamps import make_timestamps, read_timestamps
from wedefense.models.frame_loss import IGNORE
from wedefense.utils.errors import InputError

SR = 16000
HOP = 320  # 20 ms


def spliced_fixture(tmp_path, utts):
    """Quiet noise with loud tone bursts at known times; returns (items, timestamps path)."""
    rng = np.random.default_rng(0)
    items, lines = [], []
    for utt, (seconds, bursts) in utts.items():
        wav = 0.001 * rng.standard_normal(int(seconds * SR))
        ranges, t = [], 0.0
        for start, end in bursts:
            a, b = int(round(start * SR)), int(round(end * SR))
            wav[a:b] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(b - a) / SR)
            ranges += ([f"{t:.4f}-{start:.4f}-bonafide"] if start > t else []) + \
                [f"{start:.4f}-{end:.4f}-spoof"]
            t = end
        if t < seconds:
            ranges.append(f"{t:.4f}-{seconds:.4f}-bonafide")
        path = tmp_path / f"{utt}.wav"
        sf.write(path, wav.astype(np.float32), SR)
        items.append({"key": utt, "lab": "spoof" if bursts else "bonafide", "wav": str(path)})
        lines.append(f"{utt} {seconds:.4f} {'spoof' if bursts else 'bonafide'} "
                     + " ".join(ranges))
    (tmp_path / "timestamps").write_text("\n".join(lines) + "\n")
    return items, tmp_path / "timestamps"


def make_localization_set(root, name, n, seed=0):
    """``root/name/{raw.list,utt2lab,timestamps}``: n utterances of 0.8-1.4 s, every other one
    with a tone burst spliced in at a random time."""
    import json

    rng = np.random.default_rng(seed)
    utts = {}
    for i in range(n):
        seconds = 0.8 + 0.2 * (i % 4)
        bursts = []
        if i % 2:
            start = float(rng.uniform(0.05, seconds - 0.4))
            bursts = [(start, start + float(rng.uniform(0.1, 0.3)))]
        utts[f"{name}_{i:03d}"] = (seconds, bursts)
    (root / name).mkdir(parents=True, exist_ok=True)
    items, _ = spliced_fixture(root / name, utts)
    with open(root / name / "raw.list", "w") as lst, open(root / name / "utt2lab", "w") as lab:
        for item in items:
            lst.write(json.dumps(item) + "\n")
            lab.write(f"{item['key']} {item['lab']}\n")


def frame_energy_is_loud(chunk):
    frames = -(-len(chunk) // HOP)
    padded = np.zeros(frames * HOP)
    padded[:len(chunk)] = chunk
    return (padded.reshape(frames, HOP) ** 2).max(axis=1) > 0.01


def test_chunk_labels_coincide_with_the_spliced_bursts(tmp_path):
    # burst edges off the 20 ms grid (0.733 s = frame 36.65): a partly covered frame is spoof
    items, ts = spliced_fixture(tmp_path, {"a": (2.5, [(0.733, 1.217), (1.9, 2.011)]),
                                           "b": (0.9, [(0.3, 0.45)]),
                                           "c": (1.6, [])})
    stream = FrameChunks(items, ["bonafide", "spoof"], SR, read_timestamps(ts), HOP, 0,
                         seed=3)
    seen = {}
    for chunk, labels in itertools.islice(iter(stream), 60):
        chunk = chunk.numpy()
        assert len(labels) == -(-len(chunk) // HOP)
        loud = frame_energy_is_loud(chunk)
        np.testing.assert_array_equal(labels.numpy() == 1, loud)
        seen[len(chunk)] = seen.get(len(chunk), 0) + int(loud.any())
    # full 1 s chunks of the long utterances and the whole short one, some with bursts
    assert set(seen) == {SR, int(0.9 * SR)} and sum(seen.values()) > 10


def test_segments_follow_the_any_part_rule():
    spoof = spoof_segments(make_timestamps(0.1, [(0.03, 0.05)]), int(0.1 * SR), HOP, SR)
    np.testing.assert_array_equal(spoof, [False, True, True, False, False])
    # the last partial segment is included
    assert len(spoof_segments(make_timestamps(0.105), int(0.105 * SR), HOP, SR)) == 6


def test_collate_pads_labels_with_ignore():
    wavs, lengths, labels = frame_collate(HOP)([(torch.ones(1000), torch.tensor([0, 1, 1, 0])),
                                                (torch.ones(500), torch.tensor([1, 0]))])
    assert wavs.shape == (2, 1000) and lengths.tolist() == [1000, 500]
    assert labels.tolist() == [[0, 1, 1, 0], [1, 0, IGNORE, IGNORE]]


def test_bad_lengths_and_missing_labels_are_named(tmp_path):
    with pytest.raises(InputError, match="'u1'.*differ by more than one"):
        utterance_frame_labels({"u1": make_timestamps(1.0)}, ["u1"], [SR + 2 * HOP], HOP, 0)
    items, ts = spliced_fixture(tmp_path, {"a": (1.0, [(0.2, 0.3)])})
    with pytest.raises(InputError, match="no timestamps, e.g. 'x'"):
        FrameChunks(items + [{"key": "x", "lab": "spoof", "wav": items[0]["wav"]}],
                    ["bonafide", "spoof"], SR, read_timestamps(ts), HOP, 0)
    with pytest.raises(InputError, match="speed_perturb"):
        FrameChunks(items, ["bonafide", "spoof"], SR, read_timestamps(ts), HOP, 0,
                    augment={"speed_perturb": {"prob": 0.5}})
