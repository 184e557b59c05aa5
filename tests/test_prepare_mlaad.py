"""MLAAD + M-AILABS preparation on fixture trees in the released layouts, line by line."""

import os
import subprocess
import sys

import pytest

from tests.conftest import write_wav
from tests.recipe_utils import check_data_dir, make_raw_lists, read_lines
from wedefense.dataset import mlaad
from wedefense.utils.errors import InputError

DUR = 0.3


def names_per_set(prefix, count=1):
    """``{set: [names]}``: the first names ``<prefix><i>`` the hash puts in each set."""
    found = {s: [] for s in mlaad.SETS}
    i = 0
    while any(len(v) < count for v in found.values()):
        name = f"{prefix}{i}"
        subset = mlaad.assign(name)
        if len(found[subset]) < count:
            found[subset].append(name)
        i += 1
    return found


def make_trees(root):
    """Fakes: one model per set in two languages; bona fide: one speaker per set (+ a mix book)."""
    models = names_per_set("tts_models_multilingual_vits_")
    speakers = names_per_set("reader_")
    rows = {s: [] for s in mlaad.SETS}
    mailabs = os.path.join(root, "M-AILABS")
    for subset in mlaad.SETS:
        spk = speakers[subset][0]
        locale = "de_DE" if subset != "eval" else "fr_FR"
        for k in range(2):
            folder = os.path.join(mailabs, locale, "by_book", "female", spk, "book_a", "wavs")
            name = f"book_a_{k:02d}_f{k:06d}"
            write_wav(os.path.join(folder, name + ".wav"), DUR, k)
            rows[subset].append({"utt": f"mailabs_{locale}_{spk}_{name}", "label": "bonafide",
                                 "speaker": spk, "attack": "-", "dur": DUR, "lang": locale[:2],
                                 "wav": os.path.join(folder, name + ".wav")})
    fake = os.path.join(root, "MLAAD", "fake")
    for lang in ("de", "pl"):
        for subset in mlaad.SETS:
            model = models[subset][0]
            for k in range(2):
                wav = os.path.join(fake, lang, model, f"clip_{k}.wav")
                write_wav(wav, DUR, k + 5)
                rows[subset].append({"utt": f"mlaad_{lang}_{model}_clip_{k}", "label": "spoof",
                                     "speaker": "-", "attack": model, "dur": DUR, "lang": lang,
                                     "wav": wav})
    # the data dirs list M-AILABS first, then MLAAD in language/model order
    for subset in mlaad.SETS:
        bona = [r for r in rows[subset] if r["label"] == "bonafide"]
        rows[subset] = bona + [r for r in rows[subset] if r["label"] == "spoof"]
    return os.path.join(root, "MLAAD"), mailabs, rows


def test_prepare_line_by_line(tmp_path, repo_env):
    mlaad_dir, mailabs, rows = make_trees(str(tmp_path))
    data = str(tmp_path / "data")
    proc = subprocess.run([sys.executable, "-m", "wedefense.bin.prepare_mlaad", mlaad_dir,
                           mailabs, data], env=repo_env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    make_raw_lists(data, mlaad.SETS, repo_env)
    for subset in mlaad.SETS:
        check_data_dir(os.path.join(data, subset), rows[subset])
        assert read_lines(os.path.join(data, subset, "utt2lang")) == [
            f"{r['utt']} {r['lang']}" for r in rows[subset]]


def test_mix_books_and_fake_folder_given_directly(tmp_path):
    mlaad_dir, mailabs, _ = make_trees(str(tmp_path))
    mix = os.path.join(mailabs, "de_DE", "by_book", "mix", "book_m", "wavs", "m_0001.wav")
    write_wav(mix, DUR, 3)
    items = mlaad.read_mailabs(mailabs)
    utts = {u.utt: u for u, _ in items}
    assert utts["mailabs_de_DE_mix_m_0001"].speaker == "mix"
    assert len(mlaad.read_mlaad(os.path.join(mlaad_dir, "fake"))) == 12


def test_split_is_by_name_and_near_its_shares():
    names = [f"model_{i}" for i in range(4000)]
    sets = [mlaad.assign(n) for n in names]
    assert sets == [mlaad.assign(n) for n in names]
    for subset, share in zip(mlaad.SETS, mlaad.SPLIT):
        assert abs(sets.count(subset) / len(names) - share) < 0.03


def test_one_class_set_and_missing_folders_are_errors(tmp_path):
    mlaad_dir, mailabs, _ = make_trees(str(tmp_path))
    with pytest.raises(InputError, match="MLAAD folder not found"):
        mlaad.prepare(str(tmp_path / "empty"), mailabs, str(tmp_path / "d"))
    os.makedirs(tmp_path / "empty" / "fake")
    with pytest.raises(InputError, match="no MLAAD clips found"):
        mlaad.prepare(str(tmp_path / "empty"), mailabs, str(tmp_path / "d"))
    with pytest.raises(InputError, match="M-AILABS folder not found"):
        mlaad.prepare(mlaad_dir, str(tmp_path / "none"), str(tmp_path / "d"))
    with pytest.raises(InputError, match="clips only: too few TTS models"):
        mlaad.prepare(mlaad_dir, mailabs, str(tmp_path / "d"), split=(1.0, 0.0, 0.0))


def test_blank_in_a_path_is_named(tmp_path):
    mlaad_dir, mailabs, _ = make_trees(str(tmp_path))
    bad = os.path.join(mlaad_dir, "fake", "de", "my model", "x.wav")
    write_wav(bad, DUR, 1)
    with pytest.raises(InputError, match="contains blanks") as err:
        mlaad.prepare(mlaad_dir, mailabs, str(tmp_path / "d"))
    assert bad in str(err.value)
