"""Stage 7 beyond the four official numbers: breakdowns, bootstrap, extra metrics."""

import json

import numpy as np
import pytest

from wedefense.bin import evaluate
from wedefense.metrics.detection import compute_metrics
from wedefense.metrics.rocch import beyond_official_metrics

# (utt, speaker, codec, attack, key, score)
TRIALS = [
    ("E_01", "-", "bonafide", "bonafide", 2.0), ("E_02", "C01", "bonafide", "bonafide", 0.5),
    ("E_03", "-", "bonafide", "bonafide", 1.0), ("E_04", "C01", "bonafide", "bonafide", -0.3),
    ("E_05", "-", "A11", "spoof", -2.0), ("E_06", "C01", "A11", "spoof", 0.7),
    ("E_07", "-", "A2", "spoof", -1.0), ("E_08", "C01", "A2", "spoof", -0.2),
    ("E_09", "C02", "A2", "spoof", -0.4),
]


def _files(tmp_path):
    scores = tmp_path / "llr.txt"
    scores.write_text("filename\tcm-score\n"
                      + "".join(f"{u}\t{s!r}\n" for u, _, _, _, s in TRIALS))
    protocol = tmp_path / "ASVspoof5.eval.track_1.tsv"
    protocol.write_text("".join(f"E_0001 {u} F {codec} 1 - AC1 {attack} {key} -\n"
                                for u, codec, attack, key, _ in TRIALS))
    return str(scores), str(protocol)


def _classes(rows):
    bona = [s for *_, key, s in rows if key == "bonafide"]
    spoof = [s for *_, key, s in rows if key == "spoof"]
    return bona, spoof


def test_protocol_breakdowns(tmp_path, capsys):
    scores, protocol = _files(tmp_path)
    out = tmp_path / "r.json"
    # The protocol is the key as well as the metadata.
    evaluate.main(["--scores", scores, "--keys", protocol, "--metadata", protocol,
                   "--output_json", str(out)])
    results = json.loads(out.read_text())
    bona, spoof = _classes(TRIALS)
    assert results["eer"] == compute_metrics(bona, spoof)["eer"]
    attack = results["breakdowns"]["attack"]
    assert list(attack) == ["pooled", "A2", "A11"]  # natural order, pooled first
    assert attack["A11"] == compute_metrics(bona, [-2.0, 0.7])
    codec = results["breakdowns"]["codec"]
    assert list(codec) == ["pooled", "-", "C01", "C02"]
    assert codec["C01"] == compute_metrics([0.5, -0.3], [0.7, -0.2])
    assert codec["C02"] == {"num_bonafide": 0, "num_spoof": 1}  # one class: counts only
    printed = capsys.readouterr().out
    assert "n/a (one class only)" in printed and "\nattack " in printed


def test_header_and_kaldi_metadata(tmp_path):
    scores, protocol = _files(tmp_path)
    table = tmp_path / "meta"
    table.write_text("utt codec gender\n" + "".join(f"{u} {c} F\n" for u, c, *_ in TRIALS))
    utt2attack = tmp_path / "utt2attack"
    utt2attack.write_text("".join(f"{u} {'-' if k == 'bonafide' else a}\n"
                                  for u, _, a, k, _ in TRIALS))
    out = tmp_path / "r.json"
    evaluate.main(["--scores", scores, "--keys", protocol, "--metadata", str(table),
                   "--breakdown", "codec", "--output_json", str(out)])
    assert list(json.loads(out.read_text())["breakdowns"]) == ["codec"]
    evaluate.main(["--scores", scores, "--keys", protocol, "--metadata", str(utt2attack),
                   "--output_json", str(out)])
    assert list(json.loads(out.read_text())["breakdowns"]["attack"]) == ["pooled", "A2", "A11"]


def test_bootstrap_and_beyond_official(tmp_path, capsys):
    scores, protocol = _files(tmp_path)
    out = tmp_path / "r.json"
    evaluate.main(["--scores", scores, "--keys", protocol, "--bootstrap", "50",
                   "--bootstrap_seed", "3", "--output_json", str(out)])
    results = json.loads(out.read_text())
    assert results["bootstrap"]["num_resamples"] == 50
    assert set(results["bootstrap"]["intervals"]) == {"min_dcf", "eer", "cllr", "act_dcf"}
    bona, spoof = _classes(TRIALS)
    assert results["beyond_official"] == pytest.approx(beyond_official_metrics(bona, spoof))
    printed = capsys.readouterr().out
    assert "beyond the official package" in printed and "bootstrap intervals" in printed


def _fail(argv, capsys):
    with pytest.raises(SystemExit) as info:
        evaluate.main(argv)
    assert info.value.code != 0
    return capsys.readouterr().err


def test_metadata_errors(tmp_path, capsys):
    scores, protocol = _files(tmp_path)
    out = str(tmp_path / "r.json")
    short = tmp_path / "short"
    short.write_text("utt codec\nE_01 -\n")
    err = _fail(["--scores", scores, "--keys", protocol, "--metadata", str(short),
                 "--output_json", out], capsys)
    assert str(short) in err and "missing from the metadata" in err
    err = _fail(["--scores", scores, "--keys", protocol, "--metadata", protocol,
                 "--breakdown", "colour", "--output_json", out], capsys)
    assert protocol in err and "colour" in err
    broken = tmp_path / "broken"
    broken.write_text("utt codec\nE_01 - extra\n")
    err = _fail(["--scores", scores, "--keys", protocol, "--metadata", str(broken),
                 "--output_json", out], capsys)
    assert f"{broken}:2:" in err
    err = _fail(["--scores", scores, "--keys", protocol, "--bootstrap", "-1",
                 "--output_json", out], capsys)
    assert "--bootstrap" in err
    assert not (tmp_path / "r.json").exists()


def test_empty_class_in_key(tmp_path, capsys):
    scores, _ = _files(tmp_path)
    key = tmp_path / "key"
    key.write_text("".join(f"{u} spoof\n" for u, *_ in TRIALS))
    err = _fail(["--scores", scores, "--keys", str(key), "--output_json",
                 str(tmp_path / "r.json")], capsys)
    assert str(key) in err and "no bona fide trials" in err


def test_large_random_file_fast_path_agrees(tmp_path):
    rng = np.random.default_rng(0)
    n = 5000
    utts = [f"T_{i:07d}" for i in range(n)]
    is_bona = rng.random(n) < 0.2
    values = rng.normal(size=n) + is_bona
    (tmp_path / "llr.txt").write_text("filename\tcm-score\n" + "".join(
        f"{u}\t{float(v)!r}\n" for u, v in zip(utts[::-1], values[::-1])))
    (tmp_path / "key").write_text("".join(
        f"{u} {'bonafide' if b else 'spoof'}\n" for u, b in zip(utts, is_bona)))
    out = tmp_path / "r.json"
    evaluate.main(["--scores", str(tmp_path / "llr.txt"), "--keys", str(tmp_path / "key"),
                   "--output_json", str(out)])
    want = compute_metrics(values[is_bona], values[~is_bona])
    got = json.loads(out.read_text())
    for name in want:
        assert got[name] == want[name]


def test_det_curve_as_data(tmp_path):
    scores, protocol = _files(tmp_path)
    det = tmp_path / "det.tsv"
    evaluate.main(["--scores", scores, "--keys", protocol, "--det_curve", str(det),
                   "--output_json", str(tmp_path / "r.json")])
    lines = det.read_text().splitlines()
    assert lines[0] == "threshold\tpmiss\tpfa"
    assert len(lines) == 1 + len(TRIALS) + 1
    assert lines[1] == "-inf\t0.0\t1.0" and lines[-1].endswith("\t1.0\t0.0")
