"""MLAAD (Müller et al., IJCNN 2024) spoofs with M-AILABS bona fide speech -> train/dev/eval.

MLAAD's clips were synthesised from M-AILABS transcripts, and its authors train and test
detectors with M-AILABS as the bona fide class. On-disk layouts once unpacked:
    <mlaad>/fake/<language>/<tts model>/<clip>.wav
    <mailabs>/<locale>/by_book/<gender>/<speaker>/<book>/wavs/<clip>.wav   (locale e.g. de_DE)
    <mailabs>/<locale>/by_book/mix/<book>/wavs/<clip>.wav     (several readers: speaker 'mix')
Neither corpus ships a train/dev/eval protocol, so this module fixes one: every TTS model folder
name and every M-AILABS speaker is assigned to a set by a hash of its name (``SPLIT``), so a
model (in all its languages) and a speaker are in one set only, eval attacks are unseen in
training, and adding a model in a new MLAAD version leaves the other assignments unchanged.

Ids: ``mlaad_<language>_<model>_<clip>``, ``mailabs_<locale>_<speaker>_<clip>``. utt2attack holds
the TTS model folder; each set also gets ``utt2lang`` (MLAAD language folder; the M-AILABS
locale's language part), for per-language scores in stage 7.
"""

import hashlib
import os

from wedefense.dataset.prepare import Utterance, write_data_dir
from wedefense.dataset.tables import write_table
from wedefense.utils.errors import InputError

SETS = ("train", "dev", "eval")
# Share of model folders / speakers per set, in SETS order.
SPLIT = (0.7, 0.1, 0.2)


def assign(name, split=SPLIT):
    """The set of a model folder or speaker: a stable hash of its name mapped onto ``split``."""
    x = int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:8], 16) / 2 ** 32
    edge = 0.0
    for subset, share in zip(SETS, split):
        edge += share
        if x < edge:
            return subset
    return SETS[-1]


def _checked(path):
    if any(c.isspace() for c in path):
        raise InputError("file path contains blanks (Kaldi tables split on them); rename it",
                         path)
    return path


def _wavs(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".wav"))


def fake_dir(root):
    """Accept the folder holding ``fake/`` or ``fake/`` itself."""
    nested = os.path.join(root, "fake")
    return nested if os.path.isdir(nested) else root


def read_mlaad(root):
    """``[(utterance, language)]`` of every MLAAD clip, in folder order."""
    fake = fake_dir(os.path.abspath(root))
    if not os.path.isdir(fake):
        raise InputError("MLAAD folder not found (expected <dir>/fake/<language>/<model>/)", fake)
    out = []
    for lang in sorted(os.listdir(fake)):
        lang_dir = os.path.join(fake, lang)
        if not os.path.isdir(lang_dir):
            continue
        for model in sorted(os.listdir(lang_dir)):
            model_dir = os.path.join(lang_dir, model)
            if not os.path.isdir(model_dir):
                continue
            for name in _wavs(model_dir):
                wav = _checked(os.path.join(model_dir, name))
                out.append((Utterance(utt=f"mlaad_{lang}_{model}_{name[:-4]}", wav=wav,
                                      label="spoof", attack=model), lang))
    if not out:
        raise InputError("no MLAAD clips found (expected fake/<language>/<model>/*.wav)", fake)
    return out


def read_mailabs(root):
    """``[(utterance, language)]`` of every M-AILABS clip under ``<locale>/by_book/``."""
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise InputError("M-AILABS folder not found", root)
    out = []
    for locale in sorted(os.listdir(root)):
        by_book = os.path.join(root, locale, "by_book")
        if not os.path.isdir(by_book):
            continue
        for folder, dirs, _ in os.walk(by_book):
            dirs.sort()
            if os.path.basename(folder) != "wavs":
                continue
            parts = os.path.relpath(folder, by_book).split(os.sep)
            # <gender>/<speaker>/<book>/wavs, or mix/<book>/wavs for multi-reader books
            speaker = parts[1] if len(parts) == 4 else parts[0]
            for name in _wavs(folder):
                wav = _checked(os.path.join(folder, name))
                out.append((Utterance(utt=f"mailabs_{locale}_{speaker}_{name[:-4]}", wav=wav,
                                      label="bonafide", speaker=speaker),
                            locale.split("_")[0]))
    if not out:
        raise InputError("no M-AILABS clips found (expected <locale>/by_book/.../wavs/*.wav)",
                         root)
    return out


def prepare(mlaad_dir, mailabs_dir, data_dir, num_workers=8, split=SPLIT):
    """Write ``data_dir/{train,dev,eval}``; returns a per-set summary."""
    sets = {s: [] for s in SETS}
    for utt, lang in read_mailabs(mailabs_dir):
        sets[assign(utt.speaker, split)].append((utt, lang))
    for utt, lang in read_mlaad(mlaad_dir):
        sets[assign(utt.attack, split)].append((utt, lang))
    summary = {}
    for subset, items in sets.items():
        labels = {u.label for u, _ in items}
        if labels != {"bonafide", "spoof"}:
            raise InputError(f"the {subset} set would hold {' and '.join(sorted(labels)) or 'no'} "
                             "clips only: too few TTS models or speakers for the split",
                             mlaad_dir)
        out = os.path.join(data_dir, subset)
        summary[subset] = write_data_dir(out, [u for u, _ in items], num_workers)
        write_table(os.path.join(out, "utt2lang"), ((u.utt, lang) for u, lang in items))
    return summary
