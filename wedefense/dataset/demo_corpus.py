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
    draw_speaker,
    simulate_channel,
    synthesize_bonafide,
)
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

# Bump when the synthesis changes, so corpora stamped by older code are regenerated.
GENERATOR_VERSION = 1
STAMP = ".demo_corpus.json"
DEFAULT_COUNTS = {"train": 800, "dev": 300, "eval": 400}
DEFAULT_BONAFIDE_FRACTION = 0.5
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

logger = logging.getLogger(__name__)


def database_dir(root):
    return os.path.join(os.fspath(root), "database")


def wav_dir(root, split):
    return os.path.join(database_dir(root), split, "con_wav")


def _speaker_numbers(split):
    """Speakers are numbered consecutively over the splits, so no two splits share one."""
    start = 1
    for name in SETS:
        count = _SPLITS[name][1]
        if name == split:
            return list(range(start, start + count))
        start += count
    raise KeyError(split)


def speaker_voice(seed, number):
    """The voice of speaker ``DEMO_<number>`` in the corpus of ``seed``."""
    return draw_speaker(np.random.default_rng([seed, 1, number]))


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


def synthesize_utterance(seed, split, index, speaker_number, attack):
    """Waveform (float, [-1, 1]) of one corpus utterance; a pure function of its arguments.

    Content, vocoder and channel draw from separate streams, so the channel of an utterance does
    not depend on how much randomness its vocoder consumed.
    """
    streams = np.random.SeedSequence([seed, 3, _SPLIT_CODES[split], index]).spawn(3)
    content_rng, vocoder_rng, channel_rng = (np.random.default_rng(s) for s in streams)
    dry = synthesize_bonafide(content_rng, speaker_voice(seed, speaker_number))
    if attack != "-":
        dry = VOCODERS[attack](dry, vocoder_rng)
    return simulate_channel(dry, channel_rng)


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
    path, seed, split, index, speaker_number, attack = job
    return write_wav(path, synthesize_utterance(seed, split, index, speaker_number, attack))


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
    return True


def _remove_stale_files(directory, keep):
    """Drop wavs of an earlier, different corpus and temp files of an interrupted run."""
    for name in os.listdir(directory):
        if _OWN_FILE.match(name) and name not in keep:
            os.unlink(os.path.join(directory, name))


def _with_paths(root, stamp, reused):
    summary = {"root": os.path.abspath(root), "reused": reused, **stamp}
    for split, info in summary["splits"].items():
        info["protocol"] = protocol_path(database_dir(summary["root"]), split)
        info["wav_dir"] = wav_dir(summary["root"], split)
    return summary


def generate_demo_corpus(root, seed=0, num_train=DEFAULT_COUNTS["train"],
                         num_dev=DEFAULT_COUNTS["dev"], num_eval=DEFAULT_COUNTS["eval"],
                         bonafide_fraction=DEFAULT_BONAFIDE_FRACTION, num_workers=2):
    """Write the demo corpus under ``root`` (or reuse a complete one); return a summary dict.

    The summary has ``params``, ``reused`` and per split ``num_utts``, ``num_bonafide``,
    ``num_spoof``, ``attacks`` (count per attack), ``speakers``, ``seconds``, ``protocol`` and
    ``wav_dir``.
    """
    counts = {"train": num_train, "dev": num_dev, "eval": num_eval}
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
                         index, number, attack))
    start = time.perf_counter()
    logger.info("synthesising %d utterances into %s with %d worker(s)", len(jobs), root,
                num_workers)
    if num_workers > 1:
        with multiprocessing.Pool(num_workers) as pool:
            lengths = pool.map(_make_one, jobs, chunksize=8)
    else:
        lengths = [_make_one(job) for job in jobs]
    logger.info("synthesised in %.1f s", time.perf_counter() - start)

    splits, offset = {}, 0
    for split in SETS:
        rows = plan_split(split, counts[split], params["seed"], bonafide_fraction)
        seconds = sum(lengths[offset:offset + len(rows)]) / SAMPLE_RATE
        offset += len(rows)
        with atomic_open(protocol_path(database_dir(root), split)) as f:
            for speaker, utt, attack, key in rows:
                f.write(f"{speaker} {utt} - {attack} {key}\n")
        _remove_stale_files(wav_dir(root, split), {utt + ".wav" for _, utt, _, _ in rows})
        attacks = _SPLITS[split][2]
        splits[split] = {
            "num_utts": len(rows),
            "num_bonafide": sum(key == "bonafide" for *_, key in rows),
            "num_spoof": sum(key == "spoof" for *_, key in rows),
            "attacks": {a: sum(row[2] == a for row in rows) for a in attacks},
            "speakers": len({row[0] for row in rows}),
            "seconds": round(seconds, 3),
        }
    stamp = {"params": params, "splits": splits}
    with atomic_open(os.path.join(root, STAMP)) as f:
        json.dump(stamp, f, indent=1)
    return _with_paths(root, stamp, reused=False)
