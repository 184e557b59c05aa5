"""The built-in demo corpus: synthetic bona fide and vocoded speech in PartialSpoof's layout.

Stage 0 of the demo recipe, so the whole pipeline runs in minutes without downloading anything::

    <root>/database/{train,dev,eval}/con_wav/CON_{T,D,E}_0000001.wav   16 kHz mono PCM_16
    <root>/database/protocols/PartialSpoof_LA_cm_protocols/PartialSpoof.LA.cm.<set>.trl.txt
    <root>/.demo_corpus.json   parameters of a completed corpus (written last)

Bona fide utterances come from a source-filter synthesizer; spoofs are new utterances of the same
kind resynthesised by a vocoder (:mod:`wedefense.dataset.speech_synth`). Like ASVspoof, every split
has attacks A01 (Griffin-Lim from mel), A02 (LPC) and A03 (channel vocoder); eval adds A04
(harmonic-plus-noise), which training never sees. Speakers are disjoint between splits.

Both classes then pass through the same random room, noise, level, silence padding and DC offset,
drawn independently of the label, so none of those is a shortcut. The default class balance is
half bona fide: equal error rates and a plain cross-entropy need no class weighting on a toy set;
``bonafide_fraction`` gives an ASVspoof-like imbalance (e.g. 0.1) instead.

With ``task="localization"`` the spoofs are partial instead (:func:`synthesize_partial`): bona
fide speech with one to three stretches of 0.1-1.5 s replaced by the same content through one
attack's vocoder (:mod:`wedefense.dataset.splice` hides the joins), labelled like PartialSpoof::

    <root>/database/segment_labels/<set>_seglab_<r>.npy   r in RESOLUTIONS (seconds)

each a pickled dict utt -> array of '1' (bona fide) / '0' (spoof) strings, one per segment of r
seconds (the last, partial one included), a segment being spoof if any part of it is.
Loading them needs ``allow_pickle``; read them with :mod:`wedefense.dataset.timestamps`, which
does not unpickle arbitrary objects.

Each utterance is a pure function of ``(seed, split, index)``, so a corpus is byte-identical for a
seed whatever the number of workers. Like lhotse's ``prepare``, a complete corpus with the same
parameters is reused; anything else is regenerated.
"""

import json
import logging
import multiprocessing
import os
import re
import time
import wave

import numpy as np

from wedefense.dataset.partialspoof import SETS, protocol_path
from wedefense.dataset.speech_synth import (
    SAMPLE_RATE,
    VOCODERS,
    background_noise,
    draw_speaker,
    simulate_channel,
    synthesize_bonafide,
)
from wedefense.dataset.splice import draw_stretches, splice
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

# Bump when the synthesis changes, so corpora stamped by older code are regenerated.
GENERATOR_VERSION = 1
STAMP = ".demo_corpus.json"
DEFAULT_COUNTS = {"train": 800, "dev": 300, "eval": 400}
DEFAULT_BONAFIDE_FRACTION = 0.5
TASKS = ("detection", "localization")
# Localization: enough for a small CPU frame model; most utterances partly spoofed, as in
# PartialSpoof, but enough bona fide ones for an utterance EER.
LOCALIZATION_COUNTS = {"train": 400, "dev": 100, "eval": 200}
LOCALIZATION_BONAFIDE_FRACTION = 0.25
RESOLUTIONS = ("0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64")  # PartialSpoof's
SEEN_ATTACKS = ("A01", "A02", "A03")
UNSEEN_ATTACKS = ("A04",)
# Per split: utterance-id letter, number of speakers, attacks.
_SPLITS = {
    "train": ("T", 10, SEEN_ATTACKS),
    "dev": ("D", 6, SEEN_ATTACKS),
    "eval": ("E", 8, SEEN_ATTACKS + UNSEEN_ATTACKS),
}
_SPLIT_CODES = {name: code for code, name in enumerate(SETS)}
# Our wavs, and the temp files an interrupted atomic write leaves beside them.
_OWN_FILE = re.compile(r"^(CON_[TDE]_\d{7}\.wav|\.CON_[TDE]_\d{7}\.wav\..+\.tmp)$")
_OWN_LABELS = re.compile(r"^\.?(train|dev|eval)_seglab_0\.\d+\.npy(\..+\.tmp)?$")

logger = logging.getLogger(__name__)


def database_dir(root):
    return os.path.join(os.fspath(root), "database")


def wav_dir(root, split):
    return os.path.join(database_dir(root), split, "con_wav")


def seglab_path(root, split, resolution):
    return os.path.join(database_dir(root), "segment_labels", f"{split}_seglab_{resolution}.npy")


def _speaker_numbers(split):
    """Speakers are numbered consecutively over the splits, so no two splits share one."""
    start = 1
    for name in SETS:
        count = _SPLITS[name][1]
        if name == split:
            return list(range(start, start + count))
        start += count
    raise KeyError(split)


def speaker_voice(seed, number, shifted=False):
    """The voice of speaker ``DEMO_<number>`` in the corpus of ``seed`` (``shifted``: drawn
    from other voice ranges)."""
    return draw_speaker(np.random.default_rng([seed, 1, number]), shifted)


def _plan(split, num_utts, seed, bonafide_fraction):
    """``(speaker number, utt, attack)`` per utterance of one split, in id order."""
    letter, _, attacks = _SPLITS[split]
    rng = np.random.default_rng([seed, 2, _SPLIT_CODES[split]])
    num_bonafide = int(round(num_utts * bonafide_fraction))
    entries = ["-"] * num_bonafide + [attacks[i % len(attacks)]
                                      for i in range(num_utts - num_bonafide)]
    entries = [entries[i] for i in rng.permutation(num_utts)]
    numbers = _speaker_numbers(split)
    speakers = [numbers[i % len(numbers)] for i in rng.permutation(num_utts)]
    return [(number, f"CON_{letter}_{index + 1:07d}", attack)
            for index, (number, attack) in enumerate(zip(speakers, entries))]


def plan_split(split, num_utts, seed=0, bonafide_fraction=DEFAULT_BONAFIDE_FRACTION):
    """Protocol rows ``(speaker, utt, attack, key)`` of one split, in id order.

    Attacks share the spoofed utterances evenly; labels and speakers are shuffled over the ids
    so that neither follows the utterance number.
    """
    return [(f"DEMO_{number:04d}", utt, attack, "bonafide" if attack == "-" else "spoof")
            for number, utt, attack in _plan(split, num_utts, seed, bonafide_fraction)]


def synthesize_utterance(seed, split, index, speaker_number, attack, shifted=False):
    """Waveform (float, [-1, 1]) of one corpus utterance; a pure function of its arguments.
    ``shifted``: other voices and another channel than the default corpus.

    Content, vocoder and channel draw from separate streams, so the channel of an utterance does
    not depend on how much randomness its vocoder consumed.
    """
    streams = np.random.SeedSequence([seed, 3, _SPLIT_CODES[split], index]).spawn(3)
    content_rng, vocoder_rng, channel_rng = (np.random.default_rng(s) for s in streams)
    dry = synthesize_bonafide(content_rng, speaker_voice(seed, speaker_number, shifted))
    if attack != "-":
        dry = VOCODERS[attack](dry, vocoder_rng)
    return simulate_channel(dry, channel_rng, shifted=shifted)


def partial_sources(seed, split, index, speaker_number, attack):
    """``(host, donor, stretches, channel_rng)`` of one localization utterance, before splicing.

    The donor is the host through ``attack``'s vocoder (None for bona fide), so it is the same
    speaker saying the same thing, time aligned; ``stretches`` are nominal join centres.
    """
    streams = np.random.SeedSequence([seed, 4, _SPLIT_CODES[split], index]).spawn(4)
    content_rng, vocoder_rng, splice_rng, channel_rng = (np.random.default_rng(s)
                                                         for s in streams)
    host = synthesize_bonafide(content_rng, speaker_voice(seed, speaker_number))
    if attack == "-":
        return host, None, [], channel_rng
    donor = VOCODERS[attack](host, vocoder_rng)
    return host, donor, draw_stretches(splice_rng, len(host), SAMPLE_RATE), channel_rng


def synthesize_partial(seed, split, index, speaker_number, attack):
    """``(waveform, spoofed sample ranges)`` of one localization utterance; a pure function."""
    host, donor, stretches, channel_rng = partial_sources(seed, split, index, speaker_number,
                                                          attack)
    dry, ranges = (host, []) if donor is None else splice(host, donor, stretches)
    wav, lead = simulate_channel(dry, channel_rng, return_offset=True)
    return wav, [(lead + start, lead + end) for start, end in ranges]


def segment_labels(ranges, num_samples, hop):
    """'1'/'0' per ``hop`` samples: '0' where any sample of the segment is in ``ranges``."""
    labels = np.full(-(-num_samples // hop), "1", dtype="<U1")
    for start, end in ranges:
        labels[start // hop:(end - 1) // hop + 1] = "0"
    return labels


def write_wav(path, samples):
    """16-bit PCM mono WAV written atomically; the stdlib writer keeps the bytes reproducible."""
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2")
    with atomic_open(path, "wb") as f, wave.open(f, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return len(pcm)


def _make_one(job):
    path, seed, split, index, speaker_number, attack, shifted = job
    return write_wav(path, synthesize_utterance(seed, split, index, speaker_number, attack,
                                                shifted))


def _make_partial(job):
    path, seed, split, index, speaker_number, attack, _ = job
    wav, ranges = synthesize_partial(seed, split, index, speaker_number, attack)
    return write_wav(path, wav), ranges


def _write_segment_labels(root, split, utts, results):
    """One ``<split>_seglab_<r>.npy`` per resolution, in PartialSpoof's pickled-dict format."""
    for resolution in RESOLUTIONS:
        hop = int(round(float(resolution) * SAMPLE_RATE))
        table = {utt: segment_labels(ranges, length, hop)
                 for utt, (length, ranges) in zip(utts, results)}
        with atomic_open(seglab_path(root, split, resolution), "wb") as f:
            np.save(f, table, allow_pickle=True)


def augmentation_rir(rng):
    """A room impulse response for augmentation: exponentially decaying noise after a direct
    path, RT60 0.2-1.0 s and 0-12 dB direct-to-reverberant ratio (wider than any corpus room)."""
    rt60 = rng.uniform(0.2, 1.0)
    t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    tail = rng.standard_normal(len(t)) * np.exp(-6.91 * t / rt60)
    tail[:int(rng.uniform(0.002, 0.02) * SAMPLE_RATE)] = 0.0
    tail *= 10.0 ** (-rng.uniform(0.0, 12.0) / 20.0) / np.sqrt(np.sum(tail * tail))
    tail[0] += 1.0
    return tail / np.max(np.abs(tail))


def write_noise_and_rirs(out_dir, seed=0, num_noises=30, num_rirs=30, noise_seconds=10.0):
    """Synthetic stand-ins for MUSAN noise and RIRS_NOISES, for the demo's noise + reverb
    config: ``<out_dir>/{noise,rirs}/*.wav`` and ``<out_dir>/{noise,rirs}/wav.scp`` (absolute
    paths; noise ids ``noise-<n>``, MUSAN's type prefix). Noises are coloured (white to brown),
    some with mains hum; returns the two wav.scp paths."""
    paths = []
    for kind, count in (("noise", num_noises), ("rirs", num_rirs)):
        folder = os.path.abspath(os.path.join(os.fspath(out_dir), kind))
        os.makedirs(folder, exist_ok=True)
        lines = []
        for i in range(count):
            rng = np.random.default_rng([seed, 5, kind == "rirs", i])
            if kind == "noise":
                audio = background_noise(rng, int(noise_seconds * SAMPLE_RATE))
                audio *= 0.1 / np.sqrt(np.mean(audio ** 2))
            else:
                audio = augmentation_rir(rng)
            name = f"{'noise' if kind == 'noise' else 'rir'}-{i + 1:04d}"
            write_wav(os.path.join(folder, name + ".wav"), audio)
            lines.append(f"{name} {os.path.join(folder, name + '.wav')}\n")
        scp = os.path.join(folder, "wav.scp")
        with atomic_open(scp) as f:
            f.writelines(lines)
        paths.append(scp)
    return tuple(paths)


def _read_stamp(root):
    try:
        with open(os.path.join(root, STAMP), encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _is_complete(root, stamp, params):
    """True when ``root`` holds the corpus that ``params`` describe, every file in place."""
    if stamp is None or stamp.get("params") != params:
        return False
    for split in SETS:
        proto = protocol_path(database_dir(root), split)
        if not os.path.isfile(proto):
            return False
        with open(proto, encoding="utf-8") as f:
            rows = [line.split() for line in f if line.strip()]
        if any(len(row) != 5 for row in rows):
            return False
        utts = [row[1] for row in rows]
        if len(utts) != params[f"num_{split}"] or not all(
                os.path.isfile(os.path.join(wav_dir(root, split), u + ".wav")) for u in utts):
            return False
        if params.get("task") == "localization" and not all(
                os.path.isfile(seglab_path(root, split, r)) for r in RESOLUTIONS):
            return False
    return True


def _remove_stale_files(directory, keep, own=_OWN_FILE):
    """Drop files of an earlier, different corpus and temp files of an interrupted run."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if own.match(name) and name not in keep:
            os.unlink(os.path.join(directory, name))


def _with_paths(root, stamp, reused):
    summary = {"root": os.path.abspath(root), "reused": reused, **stamp}
    for split, info in summary["splits"].items():
        info["protocol"] = protocol_path(database_dir(summary["root"]), split)
        info["wav_dir"] = wav_dir(summary["root"], split)
    return summary


def generate_demo_corpus(root, seed=0, num_train=None, num_dev=None, num_eval=None,
                         bonafide_fraction=None, num_workers=2, task="detection",
                         shifted=False):
    """Write the demo corpus under ``root`` (or reuse a complete one); return a summary dict.

    ``task`` is ``detection`` (whole utterances bona fide or vocoded) or ``localization``
    (partially spoofed utterances and segment labels); sizes and the bona fide share left None
    take the task's defaults. The summary has ``params``, ``reused`` and per split ``num_utts``,
    ``num_bonafide``, ``num_spoof``, ``attacks`` (count per attack), ``speakers``, ``seconds``,
    ``protocol`` and ``wav_dir``; localization adds ``spoofed_seconds`` and ``stretches``.
    ``shifted`` (detection only) draws other voices and another channel than the default: a
    test set for generalisation (its eval split, with another ``seed`` for other content).
    """
    if task not in TASKS:
        raise InputError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    localization = task == "localization"
    if shifted and localization:
        raise InputError("shifted is for the detection corpus only")
    defaults = LOCALIZATION_COUNTS if localization else DEFAULT_COUNTS
    counts = {split: defaults[split] if given is None else given
              for split, given in (("train", num_train), ("dev", num_dev), ("eval", num_eval))}
    if bonafide_fraction is None:
        bonafide_fraction = (LOCALIZATION_BONAFIDE_FRACTION if localization
                             else DEFAULT_BONAFIDE_FRACTION)
    for split, count in counts.items():
        if int(count) != count or count < 1:
            raise InputError(f"num_{split} must be a positive integer, got {count}")
    if int(seed) != seed or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed}")
    if not 0.0 <= bonafide_fraction <= 1.0:
        raise InputError(f"bonafide_fraction must be in [0, 1], got {bonafide_fraction}")
    params = {"generator_version": GENERATOR_VERSION, "seed": int(seed),
              "bonafide_fraction": float(bonafide_fraction), "sample_rate": SAMPLE_RATE,
              **{f"num_{split}": int(count) for split, count in counts.items()}}
    if localization:  # detection stamps stay as they were, so old corpora are still reused
        params["task"] = task
    if shifted:  # likewise: the default stamp keeps its keys
        params["shifted"] = True
    root = os.fspath(root)
    stamp = _read_stamp(root)
    if _is_complete(root, stamp, params):
        logger.info("demo corpus in %s is complete, reusing it", root)
        return _with_paths(root, stamp, reused=True)
    if stamp is not None:  # a stamp must never describe a corpus being rewritten
        os.unlink(os.path.join(root, STAMP))

    jobs = []
    for split in SETS:
        os.makedirs(wav_dir(root, split), exist_ok=True)
        for index, (number, utt, attack) in enumerate(
                _plan(split, counts[split], params["seed"], bonafide_fraction)):
            jobs.append((os.path.join(wav_dir(root, split), utt + ".wav"), params["seed"], split,
                         index, number, attack, bool(shifted)))
    start = time.perf_counter()
    logger.info("synthesising %d utterances into %s with %d worker(s)", len(jobs), root,
                num_workers)
    make = _make_partial if localization else _make_one
    if num_workers > 1:
        with multiprocessing.Pool(num_workers) as pool:
            results = pool.map(make, jobs, chunksize=8)
    else:
        results = [make(job) for job in jobs]
    logger.info("synthesised in %.1f s", time.perf_counter() - start)

    splits, offset = {}, 0
    labels_dir = os.path.dirname(seglab_path(root, "train", RESOLUTIONS[0]))
    for split in SETS:
        rows = plan_split(split, counts[split], params["seed"], bonafide_fraction)
        done = results[offset:offset + len(rows)]
        offset += len(rows)
        lengths = [r[0] for r in done] if localization else done
        with atomic_open(protocol_path(database_dir(root), split)) as f:
            for speaker, utt, attack, key in rows:
                f.write(f"{speaker} {utt} - {attack} {key}\n")
        if localization:
            _write_segment_labels(root, split, [row[1] for row in rows], done)
        _remove_stale_files(wav_dir(root, split), {utt + ".wav" for _, utt, _, _ in rows})
        attacks = _SPLITS[split][2]
        splits[split] = {
            "num_utts": len(rows),
            "num_bonafide": sum(key == "bonafide" for *_, key in rows),
            "num_spoof": sum(key == "spoof" for *_, key in rows),
            "attacks": {a: sum(row[2] == a for row in rows) for a in attacks},
            "speakers": len({row[0] for row in rows}),
            "seconds": round(sum(lengths) / SAMPLE_RATE, 3),
        }
        if localization:
            splits[split]["spoofed_seconds"] = round(
                sum(e - s for _, ranges in done for s, e in ranges) / SAMPLE_RATE, 3)
            splits[split]["stretches"] = sum(len(ranges) for _, ranges in done)
    if not localization:  # labels of an earlier localization corpus would describe other audio
        _remove_stale_files(labels_dir, set(), _OWN_LABELS)
    stamp = {"params": params, "splits": splits}
    with atomic_open(os.path.join(root, STAMP)) as f:
        json.dump(stamp, f, indent=1)
    return _with_paths(root, stamp, reused=False)
