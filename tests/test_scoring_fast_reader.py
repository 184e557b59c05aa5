"""The fast column reader gives exactly what the strict readers give, and defers to them on
anything unusual, so error messages (file and line) are the strict ones."""

import numpy as np
import pytest

from wedefense.metrics import scores_io
from wedefense.metrics.scores_io import (
    _fast_key,
    _fast_scores,
    _strict_trials,
    read_key,
    read_trials,
)
from wedefense.utils.errors import InputError


def _write(path, text):
    path.write_bytes(text.encode())
    return str(path)


def _clean_files(tmp_path, n=50, seed=0, key_layout="tsv"):
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
def test_fast_equals_strict(tmp_path, layout):
    scores_path, key_path, utts, labels, scores = _clean_files(tmp_path, key_layout=layout)
    assert _fast_scores(scores_path) is not None and _fast_key(key_path) is not None
    fast = read_trials(scores_path, key_path)
    strict = _strict_trials(scores_path, key_path)
    for a, b in zip(fast, strict):
        np.testing.assert_array_equal(a, b)
    assert fast.utts() == utts == list(read_key(key_path))
    np.testing.assert_array_equal(fast.scores, scores)


@pytest.mark.parametrize("text", [
    "filename\tcm-score\nu1\t1.0\r\nu2\t2.0\r\n",   # CRLF
    "filename\tcm-score\nu1\t1.0\n\nu2\t2.0\n",      # blank line
    "filename\tcm-score\nu1\t 1.0\nu2\t2.0\n",       # padded field
    "filename\tcm-score\nu1\t1.0\nu2\t2.0",          # no final newline
    "u1  1.0\nu2 2.0\n",                             # Kaldi, double space
    "u1\t1.0\nu2 2.0\n",                             # mixed separators
])
def test_unusual_but_valid_files_go_to_the_strict_reader(tmp_path, text):
    path = _write(tmp_path / "llr.txt", text)
    assert _fast_scores(path) is None
    key = _write(tmp_path / "key", "u1 bonafide\nu2 spoof\n")
    trials = read_trials(path, key)
    assert trials.utts() == ["u1", "u2"]
    np.testing.assert_array_equal(trials.scores, [1.0, 2.0])


@pytest.mark.parametrize("text, line, words", [
    ("filename\tcm-score\nu1\t1.0\nu2\t\n", 3, "bad score"),
    ("filename\tcm-score\nu1\t1.0\nu2\tnan\n", 3, "non-finite"),
    ("filename\tcm-score\nu1\t1.0\nu1\t2.0\n", 3, "duplicate id 'u1'"),
    ("filename\tcm-score\nu1\t1.0\nu2\t2.0\tx\n", 3, "expected 2 tab-separated fields"),
    ("filename\tcm-score\nu1\t1.0\nu2\t2.0\nu3\t0.5\n", 4, "'u3'"),
])
def test_bad_files_get_the_strict_message(tmp_path, text, line, words):
    path = _write(tmp_path / "llr.txt", text)
    key = _write(tmp_path / "key", "u1 bonafide\nu2 spoof\n")
    with pytest.raises(InputError) as info:
        read_trials(path, key)
    assert str(info.value).startswith(f"{path}:{line}:") and words in str(info.value)


def test_protocol_key_errors(tmp_path):
    scores_path, key_path, *_ = _clean_files(tmp_path, key_layout="protocol")
    text = open(key_path).read().replace(" spoof -\n", " fake -\n", 1)
    _write(tmp_path / "key", text)
    line = text.split("\n").index(next(x for x in text.split("\n") if " fake " in x)) + 1
    with pytest.raises(InputError, match=f"{key_path}:{line}: unknown label 'fake'"):
        read_trials(scores_path, key_path)


def test_chunked_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(scores_io, "_CHUNK_BYTES", 64)  # lines straddle chunk borders
    scores_path, key_path, utts, _, scores = _clean_files(tmp_path, n=300, seed=2)
    trials = read_trials(scores_path, key_path)
    assert _fast_scores(scores_path) is not None
    assert trials.utts() == utts
    np.testing.assert_array_equal(trials.scores, scores)
