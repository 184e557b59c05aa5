"""WebDataset-style shards (README.md, "Data at scale"): plain tars holding ``<key>.lab`` and
``<key>.<ext>`` (the original audio bytes) for each utterance, consecutive members.

Writing is atomic per tar (temporary name, then rename), so an interrupted run leaves whole tars
or none. Reading is either streaming (training: one sequential pass, nothing indexed) or indexed
(validation/extraction: member offsets, so any utterance is read alone, in list order).
"""

import io
import logging
import os
import tarfile

from wedefense.utils.errors import InputError

logger = logging.getLogger(__name__)

SHARD_NAME = "shards_{:09d}.tar"


def split_member_name(name):
    """``key.ext`` -> ``(key, ext)``; the extension is what follows the last dot. A name with
    path components keeps them in the key (see :func:`unsafe_member_name`), so that it is
    refused, not read as another utterance's member."""
    key, dot, ext = name.rpartition(".")
    return (key, ext.lower()) if dot and "/" not in ext else (name, "")


def unsafe_member_name(name):
    """Why a member name is refused, or None: our tars hold flat ``<key>.<ext>`` names, and a
    name with path components ('../x.lab', '/abs.lab', 'dir/x.wav') is not one of them."""
    if "/" in name or "\\" in name or name.startswith(".."):
        return f"'{name}' has path components (refused; members are named '<key>.<ext>')"
    return None


def _tarinfo(name, size):
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0  # same input, same bytes: shards can be compared and cached
    info.uname = info.gname = ""
    return info


def check_key(key, source=None):
    """Raise :class:`InputError` (naming ``source``) unless ``key`` can name tar members."""
    if "/" in key or not key or key.startswith("."):
        raise InputError(f"utterance id '{key}' cannot be a tar member name", source)
    if "." in key:
        # WebDataset splits a member name at its first dot: 'spk1.utt1.wav' would be read as
        # key 'spk1' with a field 'utt1.wav', merging every 'spk1.*' utterance into one sample
        raise InputError(f"utterance id '{key}' contains '.', which WebDataset readers take as "
                         "the end of the key; rename it (e.g. '.' -> '_')", source)


def write_shard(path, records):
    """Write ``records`` (``(key, label, audio_path)``) to the tar ``path`` atomically.

    Returns the audio bytes written. A key that cannot name tar members (see :func:`check_key`;
    'spk1/utt1' and 'spk2/utt1' would both read back as 'utt1'), a repeated key, or a missing or
    empty audio file is an error naming it, and leaves no tar.
    """
    records = list(records)
    seen = set()
    for key, _label, _audio_path in records:
        check_key(key, path)
        if key in seen:  # consecutive members of one key read back as one sample
            raise InputError(f"utterance id '{key}' appears twice", path)
        seen.add(key)
    tmp = f"{path}.tmp{os.getpid()}"
    audio_bytes = 0
    try:
        with open(tmp, "wb") as raw, tarfile.open(fileobj=raw, mode="w",
                                                   format=tarfile.USTAR_FORMAT) as tar:
            for key, label, audio_path in records:
                ext = os.path.splitext(audio_path)[1].lstrip(".").lower() or "wav"
                try:
                    with open(audio_path, "rb") as f:
                        data = f.read()
                except OSError as e:
                    raise InputError(f"cannot read audio of '{key}': {e.strerror}",
                                     audio_path) from None
                if not data:
                    raise InputError(f"audio file of '{key}' is empty", audio_path)
                lab = label.encode("utf-8")
                tar.addfile(_tarinfo(f"{key}.lab", len(lab)), io.BytesIO(lab))
                tar.addfile(_tarinfo(f"{key}.{ext}", len(data)), io.BytesIO(data))
                audio_bytes += len(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return audio_bytes


def _group(members):
    """Group consecutive ``(key, ext, payload)`` into ``(key, {ext: payload})``."""
    key, group = None, {}
    for k, ext, payload in members:
        if k != key and group:
            yield key, group
            group = {}
        key = k
        group[ext] = payload
    if group:
        yield key, group


def _audio_of(group):
    exts = [e for e in group if e != "lab"]
    return (exts[0], group[exts[0]]) if len(exts) == 1 else (None, None)


def _problem(key, group, label):
    """Why sample ``key`` (``group``: ``{ext: payload}``, ``label``: its bytes) cannot be used,
    or None."""
    unsafe = unsafe_member_name(key)
    if unsafe:
        return unsafe
    if label is None or _audio_of(group)[0] is None:
        return f"needs one .lab and one audio member, has {sorted(group)}"
    try:
        label.decode("utf-8")
    except UnicodeDecodeError:
        return "label member is not UTF-8 text"
    return None


def _label_text(label):
    return label.decode("utf-8").strip()


def iter_shard(path):
    """Stream ``(key, label, ext, audio_bytes, problem)`` from one tar in a single sequential
    read, one tuple per sample (consecutive members of one key).

    ``problem`` is None for a usable sample; else it says why the sample is broken (a missing or
    non-UTF-8 label, no or several audio members, a member name with path components) and the
    caller skips and counts it. A truncated or corrupt tar raises after the good samples
    before the damage (``tarfile.TarError``, ``OSError``, ``EOFError``).
    """
    with open(path, "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
        def members():
            for m in tar:
                if m.isfile():
                    key, ext = split_member_name(m.name)
                    yield key, ext, tar.extractfile(m).read()
        for key, group in _group(members()):
            lab = group.get("lab")
            problem = _problem(key, group, lab)
            if problem:
                yield key, None, None, None, problem
                continue
            ext, audio = _audio_of(group)
            yield key, _label_text(lab), ext, audio, None


def index_shard(path):
    """Per utterance ``{"key", "lab", "shard", "offset", "size", "ext"}``, from the tar headers
    (the audio is not read). A broken sample (see :func:`iter_shard`) is skipped with a warning
    naming it; the warning of each tar counts them."""
    try:
        tar = tarfile.open(path, mode="r:")
    except (tarfile.TarError, OSError) as e:
        raise InputError(f"cannot open shard: {e}", path) from None
    items, skipped = [], 0
    with tar:
        try:
            members = [(*split_member_name(m.name), m) for m in tar.getmembers() if m.isfile()]
        except (tarfile.TarError, OSError, EOFError) as e:
            raise InputError(f"corrupt or truncated shard: {e}", path) from None
        for key, group in _group(members):
            lab = tar.extractfile(group["lab"]).read() if "lab" in group else None
            problem = _problem(key, group, lab)
            if problem:
                skipped += 1
                logger.warning("%s: skipping sample '%s' (%d skipped in this shard): %s",
                               path, key, skipped, problem)
                continue
            ext, member = _audio_of(group)
            items.append({"key": key, "lab": _label_text(lab), "shard": path,
                          "offset": member.offset_data, "size": member.size, "ext": ext})
    return items


def read_shard_list(path):
    """Tar paths of a ``shard.list`` (one per line); a missing tar is an error naming the line."""
    shards = []
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise InputError("list file not found", path) from None
    with f:
        for lineno, line in enumerate(f, 1):
            tar = line.strip()
            if not tar:
                continue
            if tar.startswith("{"):
                raise InputError("a JSON line in a shard list: is this a raw.list? "
                                 "(pass --data_type raw)", path, lineno)
            if not os.path.isfile(tar):
                raise InputError(f"shard not found: {tar}", path, lineno)
            shards.append(tar)
    if not shards:
        raise InputError("list is empty", path)
    return shards
