"""Tiny corpora in the real on-disk layouts of the localization corpora, built at test time.

PartialSpoof v1.2: database/{train,dev,eval}/con_wav/*.wav, the CM protocols and
database/segment_labels/<set>_seglab_<r>.npy (a pickled dict utt -> array of '1' bona fide /
'0' spoof per r-second segment, the last partial segment included).
LlamaPartialSpoof v1.0: label_R01TTS.0.{a,b}.txt (``<utt> <dur> <bonafide|spoof>
<start>-<end>-<label> ...``) beside the unpacked archives R01TTS.0.{a,b}/<utt>.wav.
"""

import math
import os

import numpy as np

from tests.conftest import make_partialspoof_tree, write_wav

# (speaker, utt, attack, key, dur, spoofed ranges in seconds)
PARTIALSPOOF_ROWS = {
    "train": [("LA_0079", "CON_T_0000001", "-", "bonafide", 1.0, []),
              ("LA_0079", "CON_T_0000002", "A01", "spoof", 1.5, [(0.30, 0.72)]),
              ("LA_0080", "CON_T_0000003", "A02", "spoof", 0.8, [(0.0, 0.25), (0.6, 0.8)])],
    "dev": [("LA_0069", "CON_D_0000001", "-", "bonafide", 1.2, []),
            ("LA_0069", "CON_D_0000002", "A03", "spoof", 0.93, [(0.41, 0.655)])],
    "eval": [("LA_0039", "CON_E_0000001", "-", "bonafide", 1.1, []),
             ("LA_0039", "CON_E_0000002", "A05", "spoof", 1.3, [(0.5, 1.3)])],
}


def seglab(dur, spoofed, resolution, num_segments=None):
    """PartialSpoof's rule: a segment is spoof ('0') if any part of it is spoof."""
    n = num_segments or math.ceil(round(dur / resolution, 6))
    values = np.full(n, "1", dtype="<U1")
    for start, end in spoofed:
        first = int(math.floor(round(start / resolution, 6)))
        last = int(math.ceil(round(end / resolution, 6)))
        values[first:last] = "0"
    return values


def make_partialspoof_loc_tree(root, rows=None, resolutions=(0.01, 0.02, 0.64)):
    """The PartialSpoof layout with segment labels; returns the rows it wrote."""
    rows = rows or PARTIALSPOOF_ROWS
    make_partialspoof_tree(root, {s: [r[:5] for r in rs] for s, rs in rows.items()})
    folder = os.path.join(root, "database", "segment_labels")
    os.makedirs(folder, exist_ok=True)
    for subset, rs in rows.items():
        for r in resolutions:
            labels = {utt: seglab(dur, spoofed, r) for _, utt, _, _, dur, spoofed in rs}
            np.save(os.path.join(folder, f"{subset}_seglab_{r}.npy"), labels, allow_pickle=True)
    return rows


# (part, utt, dur, spoofed ranges); ids as in the released label files
LLAMAPARTIALSPOOF_ROWS = [
    ("a", "dev-clean_1272_128104_000005_000014", 1.2, []),
    ("a", "dev01-cosyvoice-full_1272_128104_000005_000014", 0.9, [(0.0, 0.9)]),
    ("a", "dev01-cosyvoice-partial-cf_1272_141231_000002_000001", 1.4, [(0.38, 0.81)]),
    ("b", "test02-xtts-partial-cp_2300_131720_000010_000003", 1.1, [(0.2, 0.5), (0.7, 0.95)]),
]


def label_line(utt, dur, spoofed):
    """One line of the LlamaPartialSpoof label text format."""
    cuts, ranges, t = [], [], 0.0
    for start, end in spoofed:
        if start > t:
            ranges.append((t, start, "bonafide"))
        ranges.append((start, end, "spoof"))
        t = end
    if t < dur:
        ranges.append((t, dur, "bonafide"))
    cuts = " ".join(f"{s:.4f}-{e:.4f}-{lab}" for s, e, lab in ranges)
    return f"{utt} {dur:.4f} {'spoof' if spoofed else 'bonafide'} {cuts}"


def make_llamapartialspoof_tree(root, rows=None):
    rows = rows or LLAMAPARTIALSPOOF_ROWS
    lines = {}
    for i, (part, utt, dur, spoofed) in enumerate(rows):
        write_wav(os.path.join(root, f"R01TTS.0.{part}", utt + ".wav"), dur, i)
        lines.setdefault(part, []).append(label_line(utt, dur, spoofed))
    for part, part_lines in lines.items():
        with open(os.path.join(root, f"label_R01TTS.0.{part}.txt"), "w") as f:
            f.write("\n".join(part_lines) + "\n")
    return rows
