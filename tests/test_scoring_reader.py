"""The one parser of score files and keys (wedefense.metrics.scores_io): it reads what a plain
line-by-line transcription of the definition reads, and names the first line that breaks it."""

import re

import numpy as np
import pytest

from wedefense.metrics import scores_io
from wedefense.metrics.scores_io import (
    _SCORE_TOKEN,
    align_ids,
    find_line,
    read_key,
    read_score_column,
    read_scores,
    read_trials,
)
from wedefense.utils.errors import InputError


def _write(path, text):
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def _split(line, tab):
    return [f.strip(" \r\x0b\x0c") for f in line.split("\t")] if tab else line.split()


def _line_by_line(path, column):
    """The module docstring's definition, one line at a time with str methods."""
    rows, header, tab = [], None, False
    for line in open(path, encoding="utf-8").read().split("\n"):
        if not line.strip(" \t\r\x0b\x0c"):
            continue
        if header is None:
            if "filename" in line.split():
                tab = "\t" in line
                header = _split(line, tab)
                continue
            protocol = ["speaker", "filename", *"abcdef", "cm-label", "tmp"]
            header = protocol if len(line.split()) == 10 else ["filename", column]
        fields = _split(line, tab)
        rows.append((fields[header.index("filename")], fields[header.index(column)]))
    return rows


def _files(tmp_path, n=50, seed=0, key_layout="tsv"):
    rng = np.random.default_rng(seed)
    utts = [f"E_{i:06d}" for i in range(n)]
    labels = ["bonafide" if b else "spoof" for b in rng.random(n) < 0.3]
    labels[0], labels[1] = "bonafide", "spoof"
    scores = rng.normal(size=n)
    perm = rng.permutation(n)
    score_text = "filename\tcm-score\n" + "".join(
        f"{utts[i]}\t{float(scores[i])!r}\n" for i in perm)
    if key_layout == "tsv":
        key_text = "speaker\tfilename\tcm-label\n" + "".join(
            f"S\t{u}\t{lab}\n" for u, lab in zip(utts, labels))
    elif key_layout == "kaldi":
        key_text = "".join(f"{u} {lab}\n" for u, lab in zip(utts, labels))
    else:  # ASVspoof5 protocol
        key_text = "".join(
            f"E_0001 {u} F C01 1 - AC1 {'bonafide' if lab == 'bonafide' else 'A17'} {lab} -\n"
            for u, lab in zip(utts, labels))
    return (_write(tmp_path / "llr.txt", score_text), _write(tmp_path / "key", key_text),
            utts, labels, scores)


@pytest.mark.parametrize("layout", ["tsv", "kaldi", "protocol"])
def test_reads_what_the_definition_reads(tmp_path, layout):
    scores_path, key_path, utts, labels, scores = _files(tmp_path, key_layout=layout)
    trials = read_trials(scores_path, key_path)
    assert trials.utts() == utts
    np.testing.assert_array_equal(trials.scores, scores)
    assert [("bonafide" if b else "spoof") for b in trials.is_bona] == labels
    assert list(read_key(key_path).items()) == _line_by_line(key_path, "cm-label")
    assert [(u, repr(s)) for u, s in read_scores(scores_path).items()] == \
        _line_by_line(scores_path, "cm-score")


@pytest.mark.parametrize("text", [
    "filename\tcm-score\nu1\t1.0\r\nu2\t2.0\r\n",        # CRLF
    "filename\tcm-score\nu1\t1.0\n\nu2\t2.0\n",           # blank line
    "\n \nfilename\tcm-score\nu1\t1.0\n\t\t\nu2\t2.0\n",  # blank lines, one of tabs only
    "filename\tcm-score\nu1\t 1.0\n u2 \t2.0\n",          # padded fields
    "filename\tcm-score\nu1\t1.0\nu2\t2.0",               # no final newline
    "u1  1.0\nu2 2.0\n",                                  # Kaldi, double space
    "u1\t1.0\n  u2 2.0  \n\n",                            # mixed separators, padding
    "filename cm-score\nu1 1.0\nu2   2.0\n",              # a header without a tab
])
def test_unusual_but_valid_files(tmp_path, text):
    path = _write(tmp_path / "llr.txt", text)
    key = _write(tmp_path / "key", "u1 bonafide\nu2 spoof\n")
    trials = read_trials(path, key)
    assert trials.utts() == ["u1", "u2"]
    np.testing.assert_array_equal(trials.scores, [1.0, 2.0])
    assert read_scores(path) == {"u1": 1.0, "u2": 2.0}


@pytest.mark.parametrize("text, line, words", [
    ("filename\tcm-score\nu1\t1.0\nu2\t\n", 3, "bad score ''"),
    ("filename\tcm-score\nu1\t1.0\nu2\tnan\n", 3, "non-finite"),
    ("filename\tcm-score\nu1\t1.0\nu1\t2.0\n", 3, "duplicate id 'u1'"),
    ("filename\tcm-score\nu1\t1.0\nu2\t2.0\tx\n", 3, "expected 2 tab-separated fields"),
    ("filename\tcm-score\nu1\t1.0\n\tx\n", 3, "empty id"),
    ("u1 1.0\n\n\nu2 2.0 x\n", 4, "expected 2 fields"),              # blank lines counted
    ("u1 1.0\n\n\nu2 1_0\n", 4, "bad score '1_0'"),
    ("u1 1.0\nu2 2.0\nu3\x00 1\n", 3, "NUL"),
    (b"u1 1.0\nu2 2.0\n\xff 1\n", 3, "not UTF-8"),
    # The first offending line wins, whatever is wrong with it.
    ("u1 1.0\nu2 x\nu3\n", 2, "bad score 'x'"),
    ("u1 1.0\nu2\nu3 x\n", 2, "expected 2 fields"),
    ("u1 1.0\nu1 2.0\nu3 x\n", 2, "duplicate id 'u1'"),
    ("u1 1.0\nu2 inf\nu2 2.0\n", 2, "non-finite"),
    ("u1 1.0\nu2 2.0\nu1 x\n", 3, "duplicate id 'u1'"),
])
def test_bad_files_name_the_first_bad_line(tmp_path, text, line, words):
    path = _write(tmp_path / "llr.txt", text)
    key = _write(tmp_path / "key", "u1 bonafide\nu2 spoof\n")
    for read in (read_scores, read_score_column, lambda p: read_trials(p, key)):
        with pytest.raises(InputError) as info:
            read(path)
        assert str(info.value).startswith(f"{path}:{line}:") and words in str(info.value)


def test_a_stray_id_is_named_with_its_line(tmp_path):
    path = _write(tmp_path / "llr.txt", "filename\tcm-score\nu1\t1.0\nu2\t2.0\nu3\t0.5\n")
    key = _write(tmp_path / "key", "u1 bonafide\nu2 spoof\n")
    with pytest.raises(InputError, match=f"{re.escape(path)}:4: 1 id.*'u3'"):
        read_trials(path, key)


@pytest.mark.parametrize("layout, bad, words", [
    ("protocol", " spoof -\n", "unknown label 'fake'"),
    ("protocol", " -\n", "expected 10 columns (speaker filename"),
    ("tsv", "\tspoof\n", "unknown label 'fake'"),
    ("kaldi", " spoof\n", "unknown label 'fake'"),
])
def test_key_errors(tmp_path, layout, bad, words):
    scores_path, key_path, *_ = _files(tmp_path, key_layout=layout)
    lines = open(key_path).read().split("\n")
    index = next(i for i, x in enumerate(lines) if i > 1 and x.endswith(bad.rstrip("\n")))
    lines[index] = lines[index][:-len(bad.rstrip("\n"))] + bad.rstrip("\n").replace(
        "spoof", "fake") + (" x" if bad == " -\n" else "")
    _write(tmp_path / "key", "\n".join(lines))
    with pytest.raises(InputError) as info:
        read_trials(scores_path, key_path)
    assert str(info.value).startswith(f"{key_path}:{index + 1}: ") and words in str(info.value)


@pytest.mark.parametrize("chunk", [64, 200])
def test_blocks_keep_line_numbers(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(scores_io, "_CHUNK_BYTES", chunk)  # lines straddle block borders
    scores_path, key_path, utts, _, scores = _files(tmp_path, n=300, seed=2)
    trials = read_trials(scores_path, key_path)
    assert trials.utts() == utts
    np.testing.assert_array_equal(trials.scores, scores)
    lines = open(scores_path).read().split("\n")
    lines.insert(100, "")
    lines[250] = lines[250].split("\t")[0] + "\tx"
    _write(tmp_path / "llr.txt", "\r\n".join(lines))
    with pytest.raises(InputError, match=f"{re.escape(scores_path)}:251: bad score 'x'"):
        read_trials(scores_path, key_path)
    with pytest.raises(InputError, match=f"{re.escape(scores_path)}:251: bad score 'x'"):
        read_scores(scores_path)


TOKENS = ["1", "-1.5", "+.5", "5.", "2e-3", "2E+3", "1e-400", "1e400", "inf", "-Infinity", "nan",
          "1_5", "1__5", "_1", "1.5.2", "1e", "e1", ".", "+", "--1", "0x10", "1.5f", "١", "½",
          "1,5", "1e5.5", "infinit", "nan(1)", "1.5e+_3"]


@pytest.mark.parametrize("token", TOKENS)
def test_scores_are_what_the_token_pattern_says(tmp_path, token):
    path = _write(tmp_path / "llr.txt", f"u1 0.5\nu2 {token}\n")
    if _SCORE_TOKEN.fullmatch(token) is None:
        with pytest.raises(InputError, match=f":2: bad score '{re.escape(token)}'"):
            read_scores(path)
    elif not np.isfinite(float(token)):
        with pytest.raises(InputError, match=":2: non-finite"):
            read_scores(path)
    else:
        assert read_scores(path)["u2"] == float(token)


@pytest.mark.parametrize("ids", [
    [f"E_{i:010d}" for i in range(200)],                   # packs into one 64-bit key
    [f"utt-{i}-" + "x" * (i % 7) + chr(97 + i % 26) * 30 for i in range(200)],  # does not
])
def test_align_ids(ids):
    rng = np.random.default_rng(0)
    a = np.array([u.encode() for u in ids])
    perm = rng.permutation(len(ids))
    b = a[perm]
    index = align_ids(a, b)
    np.testing.assert_array_equal(b[index], a)
    assert align_ids(a, np.concatenate((b[:-1], b[:1]))) is None   # a repeated id
    c = b.copy()
    c[5] = b"stray"
    assert align_ids(a, c) is None


def test_find_line(tmp_path):
    path = _write(tmp_path / "k",
                  "\nspeaker\tfilename\tcm-label\nu1\tu2\tspoof\nu2\tu1\tbonafide\n")
    assert find_line(path, "u1") == 4 and find_line(path, "u3") is None
    path = _write(tmp_path / "p", "S1 u1 F - - - - bonafide bonafide -\nu1 u2 F - - - AC1 A01 "
                                  "spoof -\n")
    assert find_line(path, "u2") == 2


def test_a_long_label_is_named_whole(tmp_path):
    key = _write(tmp_path / "key", "u1 bonafide\nu2 bonafide_but_longer\n")
    with pytest.raises(InputError, match=":2: unknown label 'bonafide_but_longer' for 'u2'"):
        read_key(key)
