"""Audio that must not get a score: no usable signal, or a file cut short.

A model gives *some* LLR for any input, and for digital silence or a constant (DC) signal that
LLR can be confidently wrong; such audio is reported instead of scored. A WAV file whose data
ends before its header says decodes without error (libsndfile counts only the bytes present), so
the header is read here to tell a truncated file from a short one.
"""

import os
import struct

import numpy as np
import soundfile

# Standard deviation (the mean removed, so DC offsets count as silence) below which audio has
# no usable signal: -80 dBFS, a third of one 16-bit step, so digital silence, constants and
# 1-LSB dither fall under it and any audible recording is far above.
NO_SIGNAL_STD = 1e-4
# a file decoding to less than this fraction of the duration its header declares is truncated
TRUNCATED_FRACTION = 0.99
# a RIFF data size of 0 or 0xFFFFFFFF is a stream written before its length was known
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


def has_signal(wav):
    """False for digital silence, constant values and sub-LSB noise (see ``NO_SIGNAL_STD``)."""
    return len(wav) > 0 and float(np.std(wav, dtype=np.float64)) >= NO_SIGNAL_STD


def _riff_declared_seconds(f):
    """Seconds a RIFF/WAVE header declares (data size / block size / rate), or None."""
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    block_align = rate = None
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            return None
        name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if name == b"fmt ":
            fmt = f.read(size + size % 2)
            if len(fmt) < 16:
                return None
            rate, _, block_align = struct.unpack("<IIH", fmt[4:14])
        elif name == b"data":
            if not (rate and block_align) or size in _UNKNOWN_SIZES:
                return None
            return size / block_align / rate
        else:
            f.seek(size + size % 2, os.SEEK_CUR)


def declared_seconds(path):
    """The duration a file's header declares, or None if it does not say.

    For WAV the data chunk's size (libsndfile reports only what is present); for other formats
    libsndfile's frame count (e.g. FLAC's STREAMINFO total)."""
    try:
        with open(path, "rb") as f:
            seconds = _riff_declared_seconds(f)
        if seconds is not None:
            return seconds
        with soundfile.SoundFile(path) as f:
            return f.frames / f.samplerate if f.frames > 0 else None
    except (OSError, RuntimeError, struct.error):
        return None  # the audio reader reports what is wrong with the file
