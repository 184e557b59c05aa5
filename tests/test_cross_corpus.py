"""wedefense.bin.cross_corpus: one bundle scored on every data dir found, one table."""

import json
import os

import numpy as np
import pytest

from tests.conftest import write_wav
from tests.test_bundle import make_exp_dir
from wedefense.bin import cross_corpus
from wedefense.inference import bundle as bundle_io
from wedefense.inference.detector import Detector
from wedefense.metrics.cross_corpus import find_sets, markdown_table, set_row, split_by_label
from wedefense.metrics.detection import compute_metrics
from wedefense.utils.errors import InputError


def make_data_dir(path, n, seed):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "wav.scp"), "w") as scp, \
            open(os.path.join(path, "utt2lab"), "w") as lab:
        for i in range(n):
            utt = f"{os.path.basename(path)}_{i:02d}"
            wav = os.path.join(path, "wav", f"{utt}.wav")
            write_wav(wav, 0.3 + 0.05 * (i % 3), seed * 100 + i)
            scp.write(f"{utt} {wav}\n")
            lab.write(f"{utt} {'bonafide' if i % 3 == 0 else 'spoof'}\n")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("xc")
    exp = make_exp_dir(root)
    out = str(root / "bundle")
    bundle_io.export_bundle(os.path.join(exp, "config.yaml"),
                            os.path.join(exp, "models", "avg_model.pt"), out,
                            torchscript=False, onnx=False)
    return out


def test_table_covers_every_set_found_with_the_official_metrics(model, tmp_path):
    make_data_dir(str(tmp_path / "corpora" / "in_the_wild" / "eval"), 9, 1)
    make_data_dir(str(tmp_path / "corpora" / "asvspoof2021_df" / "eval"), 12, 2)
    os.makedirs(tmp_path / "corpora" / "not_a_set")
    extra = tmp_path / "given" / "dev"
    make_data_dir(str(extra), 6, 3)
    md, js = tmp_path / "table.md", tmp_path / "table.json"
    cross_corpus.main(["--model", model, "--sets", str(tmp_path / "corpora"), str(extra),
                       "--out", str(md), "--output_json", str(js), "--bootstrap", "50"])
    table = json.loads(js.read_text())
    names = [r["set"] for r in table["sets"]]
    assert names == [os.path.join("asvspoof2021_df", "eval"), os.path.join("in_the_wild", "eval"),
                     str(extra)]
    detector = Detector.load(model)
    for row, path in zip(table["sets"], [tmp_path / "corpora" / "asvspoof2021_df" / "eval",
                                         tmp_path / "corpora" / "in_the_wild" / "eval", extra]):
        results = detector.score_files([str(path / "wav.scp")])
        bona, spoof = split_by_label({r.utt: r.llr for r in results}, str(path / "utt2lab"))
        expected = compute_metrics(bona, spoof)
        for metric in ("min_dcf", "eer", "cllr", "act_dcf", "num_bonafide", "num_spoof"):
            assert row[metric] == pytest.approx(expected[metric], abs=1e-9), metric
        for low, high in row["intervals"].values():
            assert low <= high
    assert table["bootstrap"]["num_resamples"] == 50
    text = md.read_text()
    assert text.count("\n| ") == 3 + 1  # header + 3 rows
    assert "in_the_wild" in text and "[" in text


def test_rows_without_bootstrap_and_markdown_values():
    bona, spoof = np.array([2.0, 1.0, 0.5]), np.array([-1.0, 0.7, -3.0, -2.0])
    row = set_row("x", bona, spoof, num_resamples=0)
    assert "intervals" not in row and row["eer"] == compute_metrics(bona, spoof)["eer"]
    line = markdown_table([row]).splitlines()[-1]
    assert line.startswith("| x | 3 | 4 | ") and f"{100 * row['eer']:.2f}" in line


def test_bad_sets_are_one_line_errors(model, tmp_path, capsys):
    with pytest.raises(InputError, match="no evaluation set"):
        find_sets([str(tmp_path)])
    with pytest.raises(InputError, match="no such directory"):
        find_sets([str(tmp_path / "nowhere")])
    make_data_dir(str(tmp_path / "a" / "eval"), 4, 1)
    make_data_dir(str(tmp_path / "b" / "eval"), 4, 2)
    with pytest.raises(InputError, match="same name 'eval'"):
        find_sets([str(tmp_path / "a"), str(tmp_path / "b")])
    # a labelled utterance without audio
    with open(tmp_path / "a" / "eval" / "utt2lab", "a") as f:
        f.write("ghost spoof\n")
    with pytest.raises(SystemExit) as exit_:
        cross_corpus.main(["--model", model, "--sets", str(tmp_path / "a"),
                           "--out", str(tmp_path / "t.md"), "--bootstrap", "0"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "utt2lab" in err and "'ghost'" in err and "Traceback" not in err
    assert not (tmp_path / "t.md").exists()
