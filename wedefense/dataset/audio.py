"""Audio reading: any format libsndfile decodes, mixed to mono, resampled to the model's rate.

A source is a file path, the bytes of a file (a shard member) or a seekable file object (a
slice of a tar, see :class:`FileSlice`); the format is found from the content, not the name.
"""

import io
import math
import os

import numpy as np
import soundfile

from wedefense.utils.errors import InputError

_SOUNDFILE_ERRORS = (RuntimeError, soundfile.LibsndfileError, EOFError, ValueError, TypeError)


def resample(wav, orig_rate, new_rate):
    """Polyphase resampling (anti-aliased) between integer rates."""
    if orig_rate == new_rate:
        return wav
    g = math.gcd(int(orig_rate), int(new_rate))
    from scipy.signal import resample_poly  # 1 s to import: only when a rate differs

    return resample_poly(wav, new_rate // g, orig_rate // g).astype(np.float32)


def _open_source(source):
    return io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source


def _reason(error):
    """libsndfile's own words, without the repr of the file object it was given."""
    return getattr(error, "error_string", None) or str(error)


def load_audio(source, sample_rate=16000, name=None):
    """Return float32 mono samples in [-1, 1] at ``sample_rate``; InputError if unreadable/empty.

    ``name`` is what an error message calls the source (default: the path).
    """
    name = name if name is not None else source if isinstance(source, (str, os.PathLike)) \
        else "<audio bytes>"
    if isinstance(source, (str, os.PathLike)) and not os.path.isfile(source):
        raise InputError("audio file not found", name)
    try:
        data, sr = soundfile.read(_open_source(source), dtype="float32", always_2d=True)
    except _SOUNDFILE_ERRORS as e:
        raise InputError(f"cannot read audio: {_reason(e)}", name) from None
    if data.shape[0] == 0:
        raise InputError("audio file has no samples", name)
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(wav).all():
        raise InputError("audio has NaN or infinite samples", name)
    return resample(wav, sr, sample_rate)


def audio_info(source, name=None):
    """``(seconds, sample_rate, channels)`` from the header only (no decode)."""
    name = name if name is not None else source if isinstance(source, (str, os.PathLike)) \
        else "<audio bytes>"
    try:
        with soundfile.SoundFile(_open_source(source)) as f:
            frames, sr, channels = f.frames, f.samplerate, f.channels
    except _SOUNDFILE_ERRORS as e:
        raise InputError(f"cannot read audio header: {_reason(e)}", name) from None
    if frames <= 0:
        raise InputError("audio file has no samples", name)
    return frames / sr, sr, channels


class FileSlice(io.RawIOBase):
    """A read-only, seekable window ``[offset, offset + size)`` of a file, e.g. one tar member,
    so soundfile can read a header or decode a member without copying the tar."""

    def __init__(self, path, offset, size):
        super().__init__()
        self._f = open(path, "rb")
        self._offset, self._size, self._pos = offset, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, pos, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = min(max(0, base + pos), self._size)
        return self._pos

    def readinto(self, buffer):
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        self._f.seek(self._offset + self._pos)
        got = self._f.readinto(memoryview(buffer)[:n])
        self._pos += got
        return got

    def read(self, size=-1):
        if size is None or size < 0:
            size = self._size - self._pos
        buf = bytearray(min(size, max(0, self._size - self._pos)))
        n = self.readinto(buf)
        return bytes(buf[:n])

    def close(self):
        if not self.closed:
            self._f.close()
        super().close()
