"""validate_data.py: a clean data dir passes; each kind of problem is named with file and line."""

import os

import pytest

from tests.conftest import write_wav
from wedefense.bin import validate_data


def make_dir(root, n=4):
    d = root / "data"
    d.mkdir()
    wav_lines, lab_lines, dur_lines = [], [], []
    for i in range(n):
        path = root / "wav" / f"u{i}.wav"
        write_wav(str(path), 0.5, i)
        wav_lines.append(f"u{i} {path}")
        lab_lines.append(f"u{i} {'bonafide' if i % 2 == 0 else 'spoof'}")
        dur_lines.append(f"u{i} 0.5000")
    (d / "wav.scp").write_text("\n".join(wav_lines) + "\n")
    (d / "utt2lab").write_text("\n".join(lab_lines) + "\n")
    (d / "utt2dur").write_text("\n".join(dur_lines) + "\n")
    (d / "lab2utt").write_text("bonafide u0 u2\nspoof u1 u3\n")
    return d


def run(d, capsys, *args):
    with pytest.raises(SystemExit) as e:
        validate_data.main([str(d), *args])
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code, out.out + out.err


def test_clean_dir_passes_with_summary(tmp_path, capsys):
    code, out = run(make_dir(tmp_path), capsys, "--decode", "--expect_rate", "16000")
    assert code in (0, None)
    assert "4 utterances" in out and "bonafide 2" in out and "16000 Hz: 4" in out and "OK" in out


def test_problems_are_named_and_fail(tmp_path, capsys):
    d = make_dir(tmp_path, n=6)
    with open(d / "wav.scp", "a") as f:
        f.write(f"u1 {tmp_path}/wav/u1.wav\n")  # duplicate, line 7
    with open(d / "utt2lab", "a") as f:
        f.write("ghost spoof\n")  # not in wav.scp, line 7
    open(tmp_path / "wav" / "u2.wav", "wb").close()  # empty file
    os.remove(tmp_path / "wav" / "u3.wav")
    (tmp_path / "wav" / "u4.wav").write_bytes(b"RIFF garbage")
    lines = (d / "utt2dur").read_text().splitlines()
    lines[5] = "u5 2.0"
    (d / "utt2dur").write_text("\n".join(lines) + "\n")
    write_wav(str(tmp_path / "wav" / "u0.wav"), 0.5, 0, sample_rate=8000)
    code, out = run(d, capsys, "--expect_rate", "16000")
    assert code == 1
    assert "wav.scp:7: duplicate id 'u1'" in out
    assert "utt2lab:7: id 'ghost' is missing from" in out
    assert "wav.scp:3: 'u2'" in out and "wav.scp:4: 'u3'" in out and "not found" in out
    assert "wav.scp:5: 'u4'" in out
    assert "utt2dur:6: 'u5' is 0.500 s long, not 2.0" in out
    assert "wav.scp:1: 'u0' is at 8000 Hz, not 16000" in out
    assert "lab2utt" in out  # u4, u5, ghost are not in lab2utt


def test_attacks_must_match_labels(tmp_path, capsys):
    d = make_dir(tmp_path)  # u0, u2 bona fide; u1, u3 spoof
    (d / "utt2attack").write_text("u0 -\nu1 -\nu2 A01\nu3 unknown\n")
    code, out = run(d, capsys)
    assert code == 1
    assert "utt2attack:2: attack '-' of 'u1' contradicts its label 'spoof'" in out
    assert "utt2attack:3: attack 'A01' of 'u2' contradicts its label 'bonafide'" in out
    assert "utt2attack:4" not in out


def test_missing_required_file(tmp_path, capsys):
    d = make_dir(tmp_path)
    os.remove(d / "utt2lab")
    code, out = run(d, capsys)
    assert code == 1 and "utt2lab: required file not found" in out
