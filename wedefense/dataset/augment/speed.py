"""Speed perturbation: play the audio ``speed`` times faster (tempo and pitch change together,
as with Kaldi's ``sox speed``), by polyphase resampling."""

from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly


def speed_perturb(wav, speed):
    """``len(wav) / speed`` samples of ``wav`` sped up by ``speed`` (0.9 slower, 1.1 faster)."""
    if speed == 1.0:
        return wav
    ratio = Fraction(speed).limit_denominator(100)
    # treating the samples as if recorded at rate*speed and resampling them back to rate
    return resample_poly(wav, ratio.denominator, ratio.numerator).astype(np.float32)


def speed_classes(classes, speeds):
    """Class names when each non-unit speed is its own copy of every class (WeSpeaker-style
    speaker tripling): ``[c..., c_sp0.9..., c_sp1.1...]``; label ``i`` at the k-th such speed
    becomes ``i + k * len(classes)``."""
    names = list(classes)
    for s in speeds:
        if s != 1.0:
            names += [f"{c}_sp{s:g}" for c in classes]
    return names
