"""Stage 6 and 7 entry scripts, the score/key readers and logits -> LLR, on tiny files."""

import json
import math
import os
import subprocess
import sys

import kaldiio
import numpy as np
import pytest

from wedefense.bin import evaluate, logits_to_llr
from wedefense.calibration.llr import logits_to_llr as convert
from wedefense.metrics.detection import compute_metrics
from wedefense.metrics.scores_io import (
    read_key,
    read_score_column,
    read_scores,
    read_trials,
    write_scores,
)
from wedefense.utils.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCORES = {"u1": 2.5, "u2": -1.25, "u3": 0.5, "u4": -3.0, "u5": 1.0, "u6": -0.1}
LABELS = {"u1": "bonafide", "u2": "spoof", "u3": "bonafide", "u4": "spoof", "u5": "spoof",
          "u6": "bonafide"}
ATTACKS = {"u1": "-", "u2": "A10", "u3": "-", "u4": "A2", "u5": "A10", "u6": "-"}


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def scores_file(tmp_path, scores=SCORES, name="llr.txt"):
    return write_lines(tmp_path / name,
                       ["filename\tcm-score"] + [f"{u}\t{s!r}" for u, s in scores.items()])


def tsv_key(tmp_path, labels=LABELS, name="key.tsv"):
    # Extra columns, the id not first: columns must be picked by header name.
    return write_lines(tmp_path / name, ["speaker\tcm-label\tfilename\tattack"]
                       + [f"spk\t{lab}\t{u}\t-" for u, lab in labels.items()])


def kaldi_key(tmp_path, labels=LABELS, name="utt2lab"):
    return write_lines(tmp_path / name, [f"{u} {lab}" for u, lab in labels.items()])


def expected_metrics(scores=SCORES, labels=LABELS, **operating_point):
    bona = [s for u, s in scores.items() if labels[u] == "bonafide"]
    spoof = [s for u, s in scores.items() if labels[u] == "spoof"]
    return compute_metrics(bona, spoof, **operating_point)


def run_failing(main, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code != 0
    return capsys.readouterr().err


# --- stage 7 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make_key", [tsv_key, kaldi_key])
def test_evaluate_json_matches_compute_metrics(tmp_path, make_key, capsys):
    out_json, out_txt = tmp_path / "res.json", tmp_path / "res.txt"
    evaluate.main(["--scores", scores_file(tmp_path), "--keys", make_key(tmp_path),
                   "--output_json", str(out_json), "--output_txt", str(out_txt)])
    results = json.loads(out_json.read_text())
    expected = expected_metrics()
    for name, value in expected.items():
        assert results[name] == value, name
    assert results["operating_point"]["p_spoof"] == 0.05
    assert results["operating_point"]["threshold"] == pytest.approx(-math.log(1.9))
    assert "per_attack" not in results
    printed = capsys.readouterr().out
    assert printed == out_txt.read_text()
    assert f"{100 * expected['eer']:.3f}" in printed


def test_evaluate_operating_point(tmp_path):
    out_json = tmp_path / "res.json"
    evaluate.main(["--scores", scores_file(tmp_path), "--keys", kaldi_key(tmp_path),
                   "--output_json", str(out_json), "--p_spoof", "0.3", "--c_miss", "2",
                   "--c_fa", "4"])
    results = json.loads(out_json.read_text())
    expected = expected_metrics(p_spoof=0.3, c_miss=2, c_fa=4)
    assert results["min_dcf"] == expected["min_dcf"]
    assert results["act_dcf"] == expected["act_dcf"]


def test_evaluate_per_attack(tmp_path, capsys):
    out_json = tmp_path / "res.json"
    attacks = write_lines(tmp_path / "utt2attack", [f"{u} {a}" for u, a in ATTACKS.items()])
    evaluate.main(["--scores", scores_file(tmp_path), "--keys", tsv_key(tmp_path),
                   "--output_json", str(out_json), "--attacks", attacks])
    per_attack = json.loads(out_json.read_text())["per_attack"]
    # Pooled first, then attacks in natural order (A2 before A10).
    assert list(per_attack) == ["pooled", "A2", "A10"]
    assert per_attack["pooled"] == expected_metrics()
    bona = [SCORES[u] for u in ("u1", "u3", "u6")]
    assert per_attack["A10"] == compute_metrics(bona, [SCORES["u2"], SCORES["u5"]])
    assert per_attack["A2"] == compute_metrics(bona, [SCORES["u4"]])
    printed = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(printed) if line.startswith("attack "))
    rows = [line.split()[0] for line in printed[header + 1:header + 4]]
    assert rows == ["pooled", "A2", "A10"]


def test_evaluate_leaves_out_a_one_attack_table(tmp_path):
    # every spoof of one attack (a corpus without attack ids: 'unknown'): its row would repeat
    # the pooled one
    out_json = tmp_path / "res.json"
    attacks = write_lines(tmp_path / "utt2attack",
                          [f"{u} {'-' if a == '-' else 'unknown'}" for u, a in ATTACKS.items()])
    evaluate.main(["--scores", scores_file(tmp_path), "--keys", tsv_key(tmp_path),
                   "--output_json", str(out_json), "--attacks", attacks])
    assert list(json.loads(out_json.read_text())["per_attack"]) == ["pooled"]


def test_evaluate_attack_contradicting_key(tmp_path, capsys):
    attacks = write_lines(tmp_path / "utt2attack",
                          [f"{u} {'A01' if u == 'u3' else a}" for u, a in ATTACKS.items()])
    err = run_failing(evaluate.main, ["--scores", scores_file(tmp_path), "--keys",
                                      kaldi_key(tmp_path), "--output_json",
                                      str(tmp_path / "r.json"), "--attacks", attacks], capsys)
    assert f"{attacks}:3:" in err and "u3" in err


def _bad_scores_missing_from_key(tmp_path):
    return scores_file(tmp_path, {**SCORES, "extra": 0.0}), kaldi_key(tmp_path)


def _bad_key_missing_from_scores(tmp_path):
    return scores_file(tmp_path), tsv_key(tmp_path, {**LABELS, "u7": "spoof", "u8": "spoof"})


def _bad_duplicate_score(tmp_path):
    path = scores_file(tmp_path)
    with open(path, "a") as f:
        f.write("u2\t0.0\n")
    return path, kaldi_key(tmp_path)


def _bad_duplicate_key(tmp_path):
    path = kaldi_key(tmp_path)
    with open(path, "a") as f:
        f.write("u2 spoof\n")
    return scores_file(tmp_path), path


def _bad_unknown_label_tsv(tmp_path):
    return scores_file(tmp_path), tsv_key(tmp_path, {**LABELS, "u4": "fake"})


def _bad_unknown_label_kaldi(tmp_path):
    return scores_file(tmp_path), kaldi_key(tmp_path, {**LABELS, "u4": "fake"})


def _bad_nan_score(tmp_path):
    return scores_file(tmp_path, {**SCORES, "u4": float("nan")}), kaldi_key(tmp_path)


def _bad_inf_score(tmp_path):
    return scores_file(tmp_path, {**SCORES, "u4": float("inf")}), kaldi_key(tmp_path)


def _bad_malformed_score_line(tmp_path):
    path = write_lines(tmp_path / "llr.txt", ["filename\tcm-score", "u1\t1.0", "u2 -1.0"])
    return path, kaldi_key(tmp_path)


def _bad_key_without_label_column(tmp_path):
    return scores_file(tmp_path), write_lines(tmp_path / "key.tsv", ["filename\tlabel", "u1\tx"])


def _bad_one_class_only(tmp_path):
    only_bona = {u: "bonafide" for u in LABELS}
    return scores_file(tmp_path), kaldi_key(tmp_path, only_bona)


def _bad_missing_key_file(tmp_path):
    return scores_file(tmp_path), str(tmp_path / "no_such_key")


# (make files, which file is named, the line named or None, words in the message)
BAD_INPUTS = [
    (_bad_scores_missing_from_key, "scores", 8, ["1 id(s)", "'extra'"]),
    (_bad_key_missing_from_scores, "keys", 8, ["2 id(s)", "'u7'"]),
    (_bad_duplicate_score, "scores", 8, ["duplicate", "'u2'"]),
    (_bad_duplicate_key, "keys", 7, ["duplicate", "'u2'"]),
    (_bad_unknown_label_tsv, "keys", 5, ["unknown label 'fake'"]),
    (_bad_unknown_label_kaldi, "keys", 4, ["unknown label 'fake'"]),
    (_bad_nan_score, "scores", 5, ["non-finite", "nan"]),
    (_bad_inf_score, "scores", 5, ["non-finite", "inf"]),
    (_bad_malformed_score_line, "scores", 3, ["expected 2 tab-separated fields"]),
    (_bad_key_without_label_column, "keys", 1, ["no 'cm-label' column"]),
    (_bad_one_class_only, "keys", None, ["no spoof trials"]),
    (_bad_missing_key_file, "keys", None, ["not found"]),
]


@pytest.mark.parametrize("make_files, culprit, line, words", BAD_INPUTS,
                         ids=[case[0].__name__[5:] for case in BAD_INPUTS])
def test_evaluate_bad_input(tmp_path, capsys, make_files, culprit, line, words):
    scores, keys = make_files(tmp_path)
    out_json = tmp_path / "res.json"
    err = run_failing(evaluate.main, ["--scores", scores, "--keys", keys,
                                      "--output_json", str(out_json)], capsys)
    named = scores if culprit == "scores" else keys
    assert (f"{named}:{line}:" if line else f"{named}:") in err
    for word in words:
        assert word in err
    assert not out_json.exists()


@pytest.mark.parametrize("option, value, message", [
    ("--c_fa", "inf", "costs must be finite and positive"),
    ("--c_miss", "nan", "costs must be finite and positive"),
    ("--p_spoof", "nan", "p_spoof must lie strictly between 0 and 1"),
    ("--c_fa", "1e308", "too extreme"),
])
def test_evaluate_rejects_a_non_finite_operating_point(tmp_path, capsys, option, value, message):
    out_json = tmp_path / "res.json"
    err = run_failing(evaluate.main, ["--scores", scores_file(tmp_path), "--keys",
                                      kaldi_key(tmp_path), "--output_json", str(out_json),
                                      "--c_miss", "1e-10", option, value], capsys)
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err and not out_json.exists()


@pytest.mark.parametrize("culprit", ["scores", "keys"])
def test_evaluate_names_a_directory_given_as_a_file(tmp_path, capsys, culprit):
    directory = tmp_path / "a_directory"
    directory.mkdir()
    files = {"scores": scores_file(tmp_path), "keys": kaldi_key(tmp_path)}
    files[culprit] = str(directory)
    err = run_failing(evaluate.main, ["--scores", files["scores"], "--keys", files["keys"],
                                      "--output_json", str(tmp_path / "res.json")], capsys)
    assert err.startswith(f"error: {directory}: cannot read the file")


def test_score_readers_turn_os_errors_into_input_errors(tmp_path):
    for read in (read_scores, read_key):
        with pytest.raises(InputError, match="cannot read the file") as info:
            read(tmp_path)
        assert info.value.path == str(tmp_path)


def test_evaluate_runs_as_a_script(tmp_path):
    out_json = tmp_path / "res.json"
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "wedefense", "bin", "evaluate.py"),
         "--scores", scores_file(tmp_path), "--keys", kaldi_key(tmp_path),
         "--output_json", str(out_json)],
        env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out_json.read_text())["eer"] == expected_metrics()["eer"]
    assert "pooled" in proc.stdout


# --- score and key files -----------------------------------------------------------------------

def test_write_then_read_scores_round_trips(tmp_path):
    values = [1 / 3, -2e-300, 123456.789012345678, -7.0]
    path = tmp_path / "sub" / "llr.txt"
    write_scores(path, ["a", "b", "c", "d"], np.array(values))
    assert path.read_text().splitlines()[0] == "filename\tcm-score"
    assert list(read_scores(path).values()) == values


def test_write_scores_rejects_bad_values(tmp_path):
    path = tmp_path / "llr.txt"
    with pytest.raises(InputError, match="non-finite"):
        write_scores(path, ["a"], [float("nan")])
    with pytest.raises(InputError, match="duplicate"):
        write_scores(path, ["a", "a"], [1.0, 2.0])
    assert not path.exists()


def test_headerless_scores_are_read(tmp_path):
    path = write_lines(tmp_path / "scores", ["u1 1.5", "u2 -2"])
    assert read_scores(path) == {"u1": 1.5, "u2": -2.0}


SCORE_LAYOUTS = {
    "tsv": (["filename\tcm-score"], "{u}\t{s}"),
    "tsv_extra_column": (["filename\tcm-score\tsystem"], "{u}\t{s}\tsys_1"),
    "kaldi": ([], "{u} {s}"),
}


@pytest.mark.parametrize("layout", sorted(SCORE_LAYOUTS))
@pytest.mark.parametrize("token", ["1_5", "-2_0e1", "\u0661", "1\u0665"])
def test_scores_must_be_plain_decimal_numbers(tmp_path, layout, token):
    # float() takes digit grouping ("1_5" -> 15.0) and non-ASCII digits; a score file must not.
    header, line = SCORE_LAYOUTS[layout]
    ids = ["E_0001", "E_0002", "E_0003"]
    path = write_lines(tmp_path / "llr.txt", header + [line.format(u=u, s=v) for u, v in
                                                       zip(ids, ["0.5", token, "-1"])])
    key = kaldi_key(tmp_path, dict(zip(ids, ["bonafide", "spoof", "spoof"])))
    where = f"{path}:{len(header) + 2}: bad "
    for read in (read_scores, lambda p: read_trials(p, key), read_score_column):
        with pytest.raises(InputError) as info:
            read(path)
        assert str(info.value).startswith(where) and repr(token)[1:-1] in str(info.value)


@pytest.mark.parametrize("layout", sorted(SCORE_LAYOUTS))
def test_plain_decimal_scores_are_read_alike_by_every_reader(tmp_path, layout):
    header, line = SCORE_LAYOUTS[layout]
    tokens = ["+.5", "5.", "-1e-3", "2E+2", "0", "-0.25", "1e-400", "17"]
    ids = [f"E_{i:04d}_x" for i in range(len(tokens))]  # underscores in ids are fine
    path = write_lines(tmp_path / "llr.txt", header + [line.format(u=u, s=t) for u, t in
                                                       zip(ids, tokens)])
    expected = [float(t) for t in tokens]
    assert list(read_scores(path).values()) == expected
    key = kaldi_key(tmp_path, {u: "bonafide" if i % 2 else "spoof" for i, u in enumerate(ids)})
    assert read_trials(path, key).scores.tolist() == expected
    assert read_score_column(path)[1].tolist() == expected


def test_key_formats_agree(tmp_path):
    assert read_key(tsv_key(tmp_path)) == read_key(kaldi_key(tmp_path)) == LABELS


# --- stage 6 -----------------------------------------------------------------------------------

def test_two_class_llr_formula():
    logits = np.array([[2.0, -1.0], [0.0, 0.5]])
    llr = convert(logits, ["bonafide", "spoof"], [100, 300])
    np.testing.assert_allclose(llr, logits[:, 0] - logits[:, 1] - math.log(100 / 300),
                               rtol=0, atol=1e-12)


def test_llr_class_order_follows_config():
    logits = np.array([[2.0, -1.0]])
    llr = convert(logits, ["spoof", "bonafide"], [300, 100])
    assert llr[0] == pytest.approx(-3.0 - math.log(100 / 300), abs=1e-12)


def test_multi_class_llr():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 4))
    classes, counts = ["bonafide", "A01", "A02", "A03"], [50, 10, 30, 60]
    llr = convert(logits, classes, counts)
    # Independent route: likelihoods p(x|c) ∝ softmax(z)_c / pi_c, mixed within spoof by the
    # training proportions of the attacks.
    priors = np.array(counts) / sum(counts)
    posteriors = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    likelihoods = posteriors / priors
    spoof_mix = (likelihoods[:, 1:] * priors[1:]).sum(axis=1) / priors[1:].sum()
    np.testing.assert_allclose(llr, np.log(likelihoods[:, 0] / spoof_mix), rtol=0, atol=1e-12)
    # Invariant to a constant added to every logit of a row.
    shifted = convert(logits + np.array([[5.0], [-3.0], [100.0], [0.0], [-700.0]]), classes, counts)
    np.testing.assert_allclose(shifted, llr, rtol=0, atol=1e-9)


def test_multi_class_reduces_to_two_class():
    # With one class per group the grouped formula is the two-class one exactly.
    logits = np.array([[0.3, -2.0, 1.0]])
    llr = convert(logits, ["bonafide", "spoof", "bonafide_sp"], [10, 20, 30],
                  bonafide_classes=("bonafide", "bonafide_sp"))
    two = convert(np.stack([np.logaddexp(logits[:, 0], logits[:, 2]), logits[:, 1]], axis=1),
                  ["bonafide", "spoof"], [40, 20])
    np.testing.assert_allclose(llr, two, rtol=0, atol=1e-12)


@pytest.mark.parametrize("classes, counts, bona, message", [
    (["bonafide", "spoof"], [10, 0], ("bonafide",), "positive count"),
    (["bonafide", "spoof"], [10], ("bonafide",), "class counts"),
    (["bona", "spoof"], [10, 20], ("bonafide",), "not among the classes"),
    (["bonafide", "bonafide"], [10, 20], ("bonafide",), "duplicate"),
    (["bonafide"], [10], ("bonafide",), "no spoof class"),
])
def test_llr_bad_classes(classes, counts, bona, message):
    with pytest.raises(InputError, match=message):
        convert(np.zeros((1, len(classes))), classes, counts, bona)


def _logits_setup(tmp_path, logits, classes="[bonafide, spoof]", counts="[100, 300]"):
    utts = [f"utt{i}" for i in range(len(logits))]
    ark, scp = tmp_path / "logits.ark", tmp_path / "logits.scp"
    with kaldiio.WriteHelper(f"ark,scp:{ark},{scp}") as writer:
        for utt, vector in zip(utts, logits):
            writer(utt, np.asarray(vector, dtype=np.float32))
    config = write_lines(tmp_path / "config.yaml",
                         ["model: resnet18", f"classes: {classes}", f"class_counts: {counts}"])
    return utts, str(scp), config


def test_logits_to_llr_script(tmp_path):
    logits = np.array([[1.5, -0.5], [-2.0, 3.0], [0.1, 0.1]], dtype=np.float32)
    utts, scp, config = _logits_setup(tmp_path, logits)
    output = tmp_path / "llr.txt"
    logits_to_llr.main(["--logits_scp", scp, "--config", config, "--output", str(output)])
    scores = read_scores(output)
    assert list(scores) == utts
    expected = logits[:, 0].astype(np.float64) - logits[:, 1] - math.log(100 / 300)
    np.testing.assert_allclose(list(scores.values()), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bonafide_classes", ["bonafide", "[bonafide]"])
def test_logits_to_llr_single_bonafide_class_name_in_the_config(tmp_path, bonafide_classes):
    # YAML 'bonafide_classes: bonafide' is a string, not a list: it names one class (it used to
    # be split into the characters 'b', 'o', 'n', ...).
    logits = np.array([[2.0, -1.0, 0.5], [-3.0, 1.0, 4.0]], dtype=np.float32)
    utts, scp, config = _logits_setup(tmp_path, logits, classes="[bonafide, A01, A02]",
                                      counts="[100, 300, 600]")
    with open(config, "a") as f:
        f.write(f"bonafide_classes: {bonafide_classes}\n")
    output = tmp_path / "llr.txt"
    logits_to_llr.main(["--logits_scp", scp, "--config", config, "--output", str(output)])
    z = logits.astype(np.float64)
    expected = z[:, 0] - np.logaddexp(z[:, 1], z[:, 2]) - math.log(100 / 900)
    np.testing.assert_allclose(list(read_scores(output).values()), expected, rtol=0, atol=1e-12)


def test_logits_to_llr_bad_bonafide_classes_type(tmp_path, capsys):
    _, scp, config = _logits_setup(tmp_path, [[1.0, 2.0]])
    with open(config, "a") as f:
        f.write("bonafide_classes: {a: 1}\n")
    err = run_failing(logits_to_llr.main, ["--logits_scp", scp, "--config", config,
                                           "--output", str(tmp_path / "llr.txt")], capsys)
    assert config in err and "'bonafide_classes' must be a class name or a list" in err


def test_logits_to_llr_wrong_dimension(tmp_path, capsys):
    _, scp, config = _logits_setup(tmp_path, [[1.0, 2.0], [1.0, 2.0, 3.0]])
    err = run_failing(logits_to_llr.main, ["--logits_scp", scp, "--config", config,
                                           "--output", str(tmp_path / "llr.txt")], capsys)
    assert f"{scp}:2:" in err and "utt1" in err


def test_logits_to_llr_zero_count(tmp_path, capsys):
    _, scp, config = _logits_setup(tmp_path, [[1.0, 2.0]], counts="[100, 0]")
    err = run_failing(logits_to_llr.main, ["--logits_scp", scp, "--config", config,
                                           "--output", str(tmp_path / "llr.txt")], capsys)
    assert config in err and "'spoof'" in err


def test_logits_to_llr_missing_ark(tmp_path, capsys):
    _, _, config = _logits_setup(tmp_path, [[1.0, 2.0]])
    scp = write_lines(tmp_path / "broken.scp",
                      [f"a {tmp_path}/gone.ark:2", f"b {tmp_path}/logits.ark:5"])
    err = run_failing(logits_to_llr.main, ["--logits_scp", scp, "--config", config,
                                           "--output", str(tmp_path / "llr.txt")], capsys)
    assert f"{scp}:1:" in err and "cannot load 'a'" in err


def test_logits_to_llr_help_as_a_script():
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "wedefense", "bin", "logits_to_llr.py"), "--help"],
        env={**os.environ, "PYTHONPATH": REPO}, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "--logits_scp" in proc.stdout and "class_counts" in proc.stdout
