"""What ``wedefense detect`` and :meth:`Detector.score_files` score: audio files, directories
(searched recursively) and lists (``wav.scp``, ``raw.list``) expanded into utterances with
unique ids. Nothing here reads audio or a model.
"""

import codecs
import collections
import json
import os

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au",
                    ".snd", ".w64", ".caf", ".sph", ".nist")
LIST_EXTENSIONS = (".scp", ".list", ".lst", ".txt")
# bytes read to tell a text list from a binary file when the extension does not say
_SNIFF_BYTES = 8192


def _is_audio(path):
    return path.lower().endswith(AUDIO_EXTENSIONS)


def _is_list(path):
    """A list is named ``*.scp``, ``*.list``, ``*.lst`` or ``*.txt``; a file with an extension
    that is neither a list's nor a known audio one is a list if it starts as UTF-8 text. Anything
    else goes to the audio reader, which reports what it cannot decode (.m4a, .mp4, ...)."""
    lower = path.lower()
    if lower.endswith(LIST_EXTENSIONS):
        return True
    if lower.endswith(AUDIO_EXTENSIONS):
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return False  # the audio reader reports it
    if b"\0" in head:
        return False
    try:  # final=False: a multi-byte character cut by the sample size is not an error
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _read_list(path):
    """Records ``(utt, audio path, None)`` and ``(None, name, error)`` in line order, of a
    ``wav.scp`` (``<utt> <path>`` lines) or a ``raw.list`` (JSON Lines with key and wav)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as e:
        return [(None, path, f"not a UTF-8 text list ({e.reason} at byte {e.start}); a list "
                             "has '<utt> <audio path>' lines")]
    except OSError as e:
        return [(None, path, f"cannot read the list: {e.strerror or e}")]
    records = []
    for lineno, line in enumerate(lines, 1):
        where = f"{path}:{lineno}"
        if line.lstrip().startswith("{"):
            try:
                record = json.loads(line)
                utt, wav = str(record["key"]), str(record["wav"])
            except (ValueError, KeyError, TypeError):
                records.append((None, where, "expected a JSON object with 'key' and 'wav'"))
                continue
            if len(utt.split()) != 1:
                records.append((None, where, f"bad id {utt!r} (one word, no spaces)"))
                continue
            records.append((utt, wav, None))
            continue
        fields = line.split(maxsplit=1)
        if not fields:
            continue
        if len(fields) < 2:
            records.append((None, where, "expected '<utt> <audio path>'"))
            continue
        utt, wav = fields[0], fields[1].strip()
        if wav.endswith("|"):
            records.append((None, utt, f"{where}: piped commands are not supported; convert "
                                       "the audio to files first"))
            continue
        records.append((utt, wav, None))
    if not records:
        records.append((None, path, "no audio files listed"))
    return records


def _as_id(text):
    """Ids are whitespace-free table keys with '/' between folders."""
    return "_".join(text.replace(os.sep, "/").split())


def _id_candidates(path, root):
    """Ever more specific ids of a file found in directory ``root`` (None: named directly)."""
    name = os.path.basename(path)
    shown = os.path.normpath(os.path.relpath(path, root) if root else path)
    shown = shown.replace(os.sep, "/").removeprefix("./")
    candidates = [os.path.splitext(name)[0], name, shown]
    if root:
        folder = os.path.basename(os.path.abspath(root))
        candidates.append(f"{folder}/{shown}")
    candidates.append(os.path.abspath(path))
    return [_as_id(c) for c in candidates]


def _assign_ids(files, reserved):
    """Unique ids of ``files`` ``[(path, root)]``, none of them in ``reserved``.

    Each file starts with its stem; while several files share an id, or an id is reserved,
    each of those files moves on to its next candidate (:func:`_id_candidates`), so the result
    does not depend on the order of the inputs. Only different files whose paths differ in
    whitespace alone can still share an id; later ones get a ``~2``, ``~3`` suffix.
    """
    candidates = [_id_candidates(path, root) for path, root in files]
    level = [0] * len(files)
    while True:
        ids = [c[k] for c, k in zip(candidates, level)]
        counts = collections.Counter(ids)
        moved = False
        for i, utt in enumerate(ids):
            if (counts[utt] > 1 or utt in reserved) and level[i] + 1 < len(candidates[i]):
                level[i] += 1
                moved = True
        if not moved:
            break
    taken, unique = set(reserved), []
    for utt in ids:
        final, n = utt, 1
        while final in taken:
            n += 1
            final = f"{utt}~{n}"
        taken.add(final)
        unique.append(final)
    return unique


def expand_inputs(inputs):
    """All inputs expanded, in input order (a directory's files sorted, a list's in line order),
    as ``[(utt, path, error)]``: ``error`` is None for audio to score, else why ``path`` (or the
    list line) failed, and then ``utt`` is None."""
    records = []  # (utt or None, path, root directory or None, error or None)
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            found = []
            for root, dirs, files in os.walk(item):
                dirs.sort()
                found += [os.path.join(root, f) for f in sorted(files) if _is_audio(f)]
            if not found:
                records.append((None, item, None, "no audio files in this directory (looked "
                                                  f"for {', '.join(AUDIO_EXTENSIONS)})"))
            records += [(None, p, item, None) for p in found]
        elif not os.path.exists(item):
            records.append((None, item, None, "file or directory not found"))
        elif os.path.isfile(item) and _is_list(item):
            records += [(utt, p, None, error) for utt, p, error in _read_list(item)]
        else:  # audio, or something the audio reader will report as unreadable
            records.append((None, item, None, None))

    # a list's ids are the user's, kept as written (a repeat is an error); a file given twice
    # (directly or through a directory) is scored once; the other files get ids around them
    listed, first, files, repeats = set(), {}, [], set()
    for i, (utt, path, _, error) in enumerate(records):
        if error is not None:
            continue
        if utt is not None:
            if utt in listed:
                records[i] = (None, path, None, f"duplicate id '{utt}' (listed twice)")
            listed.add(utt)
            continue
        key = os.path.normcase(os.path.realpath(path))
        if key in first:
            repeats.add(i)
            continue
        first[key] = path
        files.append(i)
    for i, utt in zip(files, _assign_ids([records[i][1:3] for i in files], listed)):
        records[i] = (utt, records[i][1], None, None)
    return [(utt, path, error) for i, (utt, path, _, error) in enumerate(records)
            if i not in repeats]


def collect_inputs(inputs):
    """Expand audio files, directories (searched recursively for audio) and lists (``wav.scp``
    or the loader's ``raw.list``; see :func:`_is_list` for what counts as one) into
    ``(entries [(utt, path)], failures [(input, message)])``, each in input order. A file that
    is neither audio by name nor a list (.m4a, .mp4) is an entry the audio reader rejects.

    Ids: a list's ids are kept as written (a repeated one is a failure). A file gets its name
    without extension when no other input has that id; files that would share an id, or take
    one a list uses, get the first of these that is unique: the file name with its extension
    (``x.wav``, ``x.flac``), its path relative to the directory given (``sub/x.wav``) or as given
    on the command line (``audio/x.wav``), the directory's own name before that (``dA/x.wav``),
    the absolute path. Whitespace in ids becomes ``_``. A file given twice is scored once.
    """
    entries, failures = [], []
    for utt, path, error in expand_inputs(inputs):
        if error is None:
            entries.append((utt, path))
        else:
            failures.append((path, error))
    return entries, failures
