"""DET and histogram plots (matplotlib is an optional extra; stage 7 works without it)."""

import json

import pytest

from wedefense.bin import evaluate
from wedefense.metrics import plots

SCORES = {"u1": 2.5, "u2": -1.25, "u3": 0.5, "u4": -3.0, "u5": 1.0, "u6": -0.1}
LABELS = {"u1": "bonafide", "u2": "spoof", "u3": "bonafide", "u4": "spoof", "u5": "spoof",
          "u6": "bonafide"}


def _files(tmp_path, name="llr.txt", shift=0.0):
    scores = tmp_path / name
    scores.write_text("filename\tcm-score\n"
                      + "".join(f"{u}\t{s + shift!r}\n" for u, s in SCORES.items()))
    key = tmp_path / "utt2lab"
    key.write_text("".join(f"{u} {lab}\n" for u, lab in LABELS.items()))
    return str(scores), str(key)


def test_stage7_without_matplotlib_still_works(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(plots, "have_matplotlib", lambda: False)
    scores, key = _files(tmp_path)
    out = tmp_path / "r.json"
    evaluate.main(["--scores", scores, "--keys", key, "--output_json", str(out),
                   "--plot_dir", str(tmp_path / "plots")])
    assert json.loads(out.read_text())["plots"] == []
    assert "matplotlib is not installed" in caplog.text


def test_plots_are_written(tmp_path):
    pytest.importorskip("matplotlib")  # only skipped where the optional extra is missing
    scores, key = _files(tmp_path)
    out = tmp_path / "r.json"
    evaluate.main(["--scores", scores, "--keys", key, "--output_json", str(out),
                   "--plot_dir", str(tmp_path / "plots")])
    written = json.loads(out.read_text())["plots"]
    assert [p.rsplit("/", 1)[1] for p in written] == ["det.png", "hist.png"]
    for path in written:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_several_systems_on_one_det(tmp_path):
    pytest.importorskip("matplotlib")
    a, key = _files(tmp_path, "a.txt")
    b, _ = _files(tmp_path, "b.txt", shift=0.3)
    out = tmp_path / "det.pdf"
    plots.main(["--scores", f"A={a}", f"B={b}", "--keys", key, "--out", str(out)])
    assert out.read_bytes().startswith(b"%PDF")
