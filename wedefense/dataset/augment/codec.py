"""Codec simulation: encode and decode through a lossy format libsndfile writes.

Telephony codecs (mu-law, A-law, GSM 6.10) also pass through 8 kHz, the band they are used at.
MP3, Ogg Vorbis and Ogg Opus take several quality levels (libsndfile's compression level 0..1:
higher is a lower bitrate). A codec this libsndfile cannot write is skipped with a logged note.
"""

import functools
import io
import logging

import numpy as np
import soundfile

from wedefense.dataset.audio import resample

logger = logging.getLogger(__name__)

# name -> (container, subtype, rate (None: the model's), compression level, CBR for MP3)
CODECS = {
    "mulaw_8k": ("WAV", "ULAW", 8000, None),
    "alaw_8k": ("WAV", "ALAW", 8000, None),
    "gsm_8k": ("WAV", "GSM610", 8000, None),
    "g721_8k": ("WAV", "G721_32", 8000, None),
    "mp3_high": ("MP3", "MPEG_LAYER_III", None, 0.1),
    "mp3_mid": ("MP3", "MPEG_LAYER_III", None, 0.5),
    "mp3_low": ("MP3", "MPEG_LAYER_III", None, 0.9),
    "vorbis_high": ("OGG", "VORBIS", None, 0.1),
    "vorbis_mid": ("OGG", "VORBIS", None, 0.5),
    "vorbis_low": ("OGG", "VORBIS", None, 0.9),
    "opus_high": ("OGG", "OPUS", None, 0.1),
    "opus_mid": ("OGG", "OPUS", None, 0.5),
    "opus_low": ("OGG", "OPUS", None, 0.9),
}


def encode_decode(wav, sample_rate, codec):
    """``wav`` after a round trip through ``codec`` (a CODECS name), same length and rate."""
    fmt, subtype, rate, level = CODECS[codec]
    rate = rate or sample_rate
    x = np.clip(resample(wav.astype(np.float32), sample_rate, rate), -1.0, 1.0)
    buf = io.BytesIO()
    kwargs = {} if level is None else {"compression_level": level}
    if fmt == "MP3":
        kwargs["bitrate_mode"] = "CONSTANT"
    soundfile.write(buf, x, rate, format=fmt, subtype=subtype, **kwargs)
    buf.seek(0)
    y, _ = soundfile.read(buf, dtype="float32")
    y = resample(y, rate, sample_rate)
    # encoders add delay and padding: keep the input's length
    if len(y) < len(wav):
        y = np.pad(y, (0, len(wav) - len(y)))
    return y[:len(wav)].astype(np.float32)


@functools.lru_cache(maxsize=None)
def supported(codec, sample_rate=16000):
    """Whether this libsndfile can round-trip ``codec`` (tried once on a short tone)."""
    tone = (0.1 * np.sin(np.arange(sample_rate // 10) * 0.05)).astype(np.float32)
    try:
        encode_decode(tone, sample_rate, codec)
        return True
    except Exception as e:  # noqa: BLE001 - any failure means "not available here"
        logger.info("codec %s is not supported by libsndfile %s here (%s); skipping it", codec,
                    soundfile.__libsndfile_version__, e)
        return False


class CodecSimulator:
    def __init__(self, codecs=None, sample_rate=16000):
        names = list(codecs or CODECS)
        unknown = [c for c in names if c not in CODECS]
        if unknown:
            raise ValueError(f"unknown codec(s) {unknown}; known: {', '.join(CODECS)}")
        self.sample_rate = sample_rate
        self.codecs = [c for c in names if supported(c, sample_rate)]
        if not self.codecs:
            raise ValueError(f"none of the codecs {names} is supported by this libsndfile")

    def __call__(self, wav, rng):
        codec = self.codecs[int(rng.integers(len(self.codecs)))]
        return encode_decode(wav, self.sample_rate, codec)
