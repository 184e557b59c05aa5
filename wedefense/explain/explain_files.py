"""Relevance maps of every utterance in a ``wav.scp``: maps, pictures, an index and a summary.

    <out_dir>/maps/<utt>.npy     the map, (frames, bins) or (frames,) float32
    <out_dir>/png/<utt>.png      spectrogram, map and labelled spoofed ranges
    <out_dir>/index.tsv          utt, map, png, llr, frames, bins, frame_shift, shares
    <out_dir>/summary.tsv        relevance on spoofed / speech time per attack (also printed)
"""

import logging
import math
import os

import numpy as np
import torch

from wedefense.dataset.audio import load_audio
from wedefense.dataset.tables import read_table
from wedefense.explain import relevance, relevance_summary
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open, atomic_path

INDEX_COLUMNS = ("utt", "map", "png", "llr", "frames", "bins", "frame_shift", "spoof_time",
                 "relevance_on_spoof", "speech_time", "relevance_on_speech")


def _safe_name(utt):
    return utt.replace("/", "_").replace(os.sep, "_")


def explain_files(model_path, wav_scp, out_dir, target="spoof", method="gradcam",
                  timestamps=None, utt2attack=None, pictures=True, checkpoint=None,
                  sample_rate=None):
    """Explain every utterance of ``wav_scp``; returns the summary table (list of dicts)."""
    from wedefense.dataset.timestamps import read_reference

    if target not in relevance.TARGETS:
        raise InputError(f"unknown target class '{target}' (use bonafide or spoof)")
    if method not in relevance.METHODS:
        raise InputError(f"unknown method '{method}' (known: {', '.join(relevance.METHODS)})")
    wavs = read_table(wav_scp, rest=True)
    if not wavs:
        raise InputError("no utterances listed", wav_scp)
    labels = read_reference(timestamps) if timestamps else {}
    attacks = read_table(utt2attack) if utt2attack else None
    model = relevance.load_llr_model(model_path, checkpoint)
    if sample_rate is None:
        sample_rate = _model_rate(model_path)
    kwargs = {}
    if method == "gradcam" and not relevance.is_ssl(model):
        kwargs["time_axis"] = relevance.conv_time_axis(model, sample_rate)
    for sub in ("maps", "png") if pictures else ("maps",):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    rows = []
    for utt, path in wavs.items():
        wav = load_audio(path, sample_rate, name=path)
        rmap = relevance.explain(model, wav, sample_rate, method, target, **kwargs)
        frames = rmap.values.shape[0]
        speech = relevance_summary.energy_vad(wav, sample_rate, rmap.frame_shift, frames)
        row = {"utt": utt, "llr": rmap.llr, "frames": frames,
               "bins": rmap.values.shape[1] if rmap.values.ndim == 2 else 1,
               "frame_shift": rmap.frame_shift}
        row["speech_time"], row["relevance_on_speech"] = relevance_summary.shares(
            rmap.values, speech)
        ranges = []
        if utt in labels:
            mask = relevance_summary.spoof_mask(labels[utt], frames, rmap.frame_shift)
            row["spoof_time"], row["relevance_on_spoof"] = relevance_summary.shares(
                rmap.values, mask)
            ranges = labels[utt].spoof_seconds()
        else:
            row["spoof_time"] = row["relevance_on_spoof"] = math.nan
        name = _safe_name(utt)
        row["map"] = os.path.join("maps", name + ".npy")
        with atomic_path(os.path.join(out_dir, row["map"])) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, rmap.values)
        row["png"] = "-"
        if pictures:
            from wedefense.explain.relevance_figures import plot_relevance

            row["png"] = os.path.join("png", name + ".png")
            title = (f"{utt}  LLR {rmap.llr:+.2f}  {method} for '{target}'"
                     + (f"  ({attacks.get(utt, '-')})" if attacks else ""))
            plot_relevance(os.path.join(out_dir, row["png"]), wav, sample_rate, rmap, title,
                           ranges, speech)
        rows.append(row)
    _write_index(os.path.join(out_dir, "index.tsv"), rows)
    table = relevance_summary.summarize(rows, attacks)
    relevance_summary.write_table(os.path.join(out_dir, "summary.tsv"), table)
    logging.info("explained %d utterances into %s", len(rows), out_dir)
    return table


def _model_rate(model_path):
    import json

    from wedefense.utils.config import load_yaml

    manifest = os.path.join(model_path, "bundle.json")
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as f:
            return int(json.load(f)["sample_rate"])
    config = load_yaml(os.path.join(model_path, "config.yaml"))
    return int(config.get("dataset_args", {}).get("sample_rate", 16000))


def _write_index(path, rows):
    with atomic_open(path) as f:
        f.write("\t".join(INDEX_COLUMNS) + "\n")
        for row in rows:
            f.write("\t".join(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c])
                              for c in INDEX_COLUMNS) + "\n")


def limit_threads():
    """One thread per process: on a shared, loaded CPU more threads only wait for each other
    on these small per-utterance graphs."""
    torch.set_num_threads(1)
