"""Waveform augmentation for training, each kind applied with its own probability.

Config (the ``augment`` section; every kind optional, absent or prob 0 means off)::

    augment:
      speed_perturb: {prob: 0.3, speeds: [0.9, 1.0, 1.1], as_classes: false}
      reverb: {prob: 0.2, rir_scp: data/rirs/wav.scp}
      noise: {prob: 0.3, noise_scp: data/musan/wav.scp,
              types: {noise: {snr: [0, 15]}, music: {snr: [5, 15]},
                      speech: {snr: [13, 20], count: [3, 7]}}}
      rawboost: {prob: 0.5, algo: 5}
      codec: {prob: 0.2, codecs: [mulaw_8k, alaw_8k, gsm_8k, mp3_mid, vorbis_mid, opus_low]}

Order: speed perturbation on the whole utterance (it changes its length), then on the training
chunk: reverb, noise, RawBoost, codec. SpecAugment works on features: see ``spec_augment``.
"""

import numpy as np

from wedefense.dataset.augment.codec import CodecSimulator
from wedefense.dataset.augment.noise import NoiseAdder
from wedefense.dataset.augment.rawboost import RawBoost
from wedefense.dataset.augment.reverb import Reverberator
from wedefense.dataset.augment.speed import speed_perturb

KNOWN = ("speed_perturb", "reverb", "noise", "rawboost", "codec")


class Augmenter:
    """Built lazily in each DataLoader worker (noise and RIR lists are opened there)."""

    def __init__(self, config, sample_rate=16000, num_classes=2):
        config = config or {}
        unknown = set(config) - set(KNOWN)
        if unknown:
            raise ValueError(f"unknown augmentation(s) {sorted(unknown)}; known: "
                             f"{', '.join(KNOWN)}")
        self.config = {k: dict(v) for k, v in config.items() if v and v.get("prob", 0) > 0}
        self.sample_rate = sample_rate
        self.num_classes = num_classes
        sp = self.config.get("speed_perturb", {})
        self.speeds = list(sp.get("speeds", [0.9, 1.0, 1.1]))
        self.speed_as_classes = bool(sp.get("as_classes", False))
        self._chunk_ops = None

    def _build(self):
        ops = []
        for kind in ("reverb", "noise", "rawboost", "codec"):
            if kind not in self.config:
                continue
            args = dict(self.config[kind])
            prob = args.pop("prob")
            if kind == "reverb":
                op = Reverberator(args["rir_scp"], self.sample_rate)
            elif kind == "noise":
                op = NoiseAdder(args.get("noise_scp"), args.get("types"), self.sample_rate)
            elif kind == "rawboost":
                op = RawBoost(sample_rate=self.sample_rate, **args)
            else:
                op = CodecSimulator(args.get("codecs"), self.sample_rate)
            ops.append((prob, op))
        return ops

    @property
    def active(self):
        return bool(self.config)

    def utterance(self, wav, label, rng):
        """Speed perturbation; with ``as_classes`` the label moves to that speed's class copy."""
        if "speed_perturb" not in self.config or rng.random() >= self.config[
                "speed_perturb"]["prob"]:
            return wav, label
        k = int(rng.integers(len(self.speeds)))
        speed = self.speeds[k]
        if self.speed_as_classes and speed != 1.0:
            copy = sum(1 for s in self.speeds[:k] if s != 1.0) + 1
            label += copy * self.num_classes
        return speed_perturb(wav, speed), label

    def chunk(self, wav, rng):
        if self._chunk_ops is None:
            self._chunk_ops = self._build()
        for prob, op in self._chunk_ops:
            if rng.random() < prob:
                wav = op(wav, rng)
        return np.clip(wav, -1.0, 1.0).astype(np.float32, copy=False)
