"""Prior-weighted logistic regression calibration/fusion, and the calibrate.py script."""

import json
import math

import kaldiio
import numpy as np
import pytest
import yaml
from scipy.optimize import approx_fprime

from wedefense.bin import calibrate
from wedefense.bin import logits_to_llr as script
from wedefense.calibration.llr import logits_to_llr, removes_training_prior
from wedefense.calibration.logistic import (
    apply_calibration,
    effective_prior,
    train_calibration,
    weighted_cross_entropy,
)
from wedefense.metrics.scores_io import read_scores
from wedefense.utils.errors import InputError


def gaussian_scores(n_bona, n_spoof, mu_bona=2.0, mu_spoof=-1.0, sd=1.5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(mu_bona, sd, n_bona), rng.normal(mu_spoof, sd, n_spoof)


def test_effective_prior():
    assert effective_prior(0.05, 1, 10) == pytest.approx(0.95 / (0.95 + 0.5), abs=1e-15)
    assert effective_prior(0.5, 1, 1) == 0.5


@pytest.mark.parametrize("p_spoof, c_fa", [(0.05, 10), (0.5, 1), (0.9, 1)])
def test_recovers_the_true_llr_of_equal_variance_gaussians(p_spoof, c_fa):
    # The true LLR is linear: (mu1-mu0)/sd^2 * (x - (mu1+mu0)/2). The prior-weighted objective is
    # minimised by the true LLR at any effective prior, and the class proportions of the data
    # (here 1:3) must not matter either.
    mu1, mu0, sd = 2.0, -1.0, 1.5
    bona, spoof = gaussian_scores(100_000, 300_000, mu1, mu0, sd)
    model = train_calibration(bona, spoof, p_spoof=p_spoof, c_fa=c_fa)
    slope = (mu1 - mu0) / sd**2
    assert model["weights"][0] == pytest.approx(slope, rel=0.02)
    assert model["offset"] == pytest.approx(-slope * (mu1 + mu0) / 2, abs=0.02)
    assert model["p_eff"] == effective_prior(p_spoof, 1, c_fa)


def test_optimum_of_the_stated_objective():
    # Not a linear-LLR case (unequal variances): the optimum depends on p_eff, so check that the
    # result is a stationary point of the objective written out independently here.
    rng = np.random.default_rng(3)
    bona, spoof = rng.normal(1, 0.5, 3000), rng.normal(-1, 2.0, 5000)

    def objective(params, p_eff):
        w, b = params
        off = math.log(p_eff / (1 - p_eff))
        return (p_eff * np.mean(np.log1p(np.exp(-(w * bona + b + off))))
                + (1 - p_eff) * np.mean(np.log1p(np.exp(w * spoof + b + off)))) / math.log(2)

    models = {}
    for p_spoof in (0.05, 0.5):
        model = train_calibration(bona, spoof, p_spoof=p_spoof)
        params = np.array(model["weights"] + [model["offset"]])
        p_eff = model["p_eff"]
        grad = approx_fprime(params, objective, 1e-7, p_eff)
        assert np.abs(grad).max() < 1e-5
        assert model["cross_entropy_bits"] == pytest.approx(objective(params, p_eff), rel=1e-9)
        value, analytic = weighted_cross_entropy(params + 0.1, bona[:, None], spoof[:, None], p_eff)
        assert analytic == pytest.approx(approx_fprime(params + 0.1, objective, 1e-7, p_eff),
                                         abs=1e-5)
        models[p_spoof] = params
    assert not np.allclose(models[0.05], models[0.5], atol=1e-3)


def test_fusion_of_two_systems():
    # Two conditionally independent noisy views of the same class: the fused LLR is the sum of
    # the two true LLRs, so each weight is that system's own slope.
    rng = np.random.default_rng(1)
    n_bona, n_spoof = 80_000, 80_000
    a_bona, a_spoof = rng.normal(1, 1, n_bona), rng.normal(-1, 1, n_spoof)
    b_bona, b_spoof = rng.normal(0.5, 2, n_bona), rng.normal(-0.5, 2, n_spoof)
    model = train_calibration(np.stack([a_bona, b_bona], 1), np.stack([a_spoof, b_spoof], 1))
    assert model["weights"][0] == pytest.approx(2.0, rel=0.03)
    assert model["weights"][1] == pytest.approx(0.25, rel=0.06)
    assert model["offset"] == pytest.approx(0.0, abs=0.03)
    fused = apply_calibration(model, np.array([[1.0, 2.0]]))
    assert fused[0] == pytest.approx(model["weights"][0] + 2 * model["weights"][1]
                                     + model["offset"])


def test_apply_checks_the_number_of_systems():
    model = train_calibration(*gaussian_scores(50, 50))
    with pytest.raises(InputError, match="1 system"):
        apply_calibration(model, np.zeros((3, 2)))


# --- calibrate.py ------------------------------------------------------------------------------

def _write_scores(path, utts, scores):
    lines = "".join(f"{u}\t{float(s)!r}\n" for u, s in zip(utts, scores))
    path.write_text("filename\tcm-score\n" + lines)
    return str(path)


@pytest.fixture
def dev_eval(tmp_path):
    bona, spoof = gaussian_scores(300, 700, seed=4)
    utts = [f"D_{i:05d}" for i in range(1000)]
    labels = ["bonafide"] * 300 + ["spoof"] * 700
    raw = np.concatenate((bona, spoof))
    key = tmp_path / "dev_key"
    key.write_text("".join(f"{u} {lab}\n" for u, lab in zip(utts, labels)))
    dev_a = _write_scores(tmp_path / "dev_a.txt", utts, raw * 3 + 1)
    # The second system lists the trials in another order: the join is by id.
    perm = np.random.default_rng(0).permutation(1000)
    dev_b = _write_scores(tmp_path / "dev_b.txt", [utts[i] for i in perm],
                          (raw + np.random.default_rng(1).normal(0, 1, 1000))[perm])
    return tmp_path, str(key), dev_a, dev_b, utts


def test_train_and_apply(dev_eval, capsys):
    tmp_path, key, dev_a, dev_b, utts = dev_eval
    model_path = tmp_path / "calib.json"
    calibrate.main(["train", "--scores", dev_a, "--keys", key, "--out", str(model_path)])
    model = json.loads(model_path.read_text())
    assert model["num_systems"] == 1 and model["trained_on"]["scores"] == [dev_a]
    out = tmp_path / "llr_cal.txt"
    calibrate.main(["apply", "--model", str(model_path), "--scores", dev_a, "--out", str(out)])
    raw = read_scores(dev_a)
    calibrated = read_scores(out)
    assert list(calibrated) == list(raw)
    w, b = model["weights"][0], model["offset"]
    for utt in raw:
        assert calibrated[utt] == pytest.approx(w * raw[utt] + b, abs=1e-12)

    fusion = tmp_path / "fusion.json"
    calibrate.main(["train", "--scores", dev_a, dev_b, "--keys", key, "--out", str(fusion)])
    assert json.loads(fusion.read_text())["num_systems"] == 2
    calibrate.main(["apply", "--model", str(fusion), "--scores", dev_a, dev_b,
                    "--out", str(tmp_path / "fused.txt")])
    assert list(read_scores(tmp_path / "fused.txt")) == list(raw)


def _fails(argv, capsys):
    with pytest.raises(SystemExit) as info:
        calibrate.main(argv)
    assert info.value.code != 0
    return capsys.readouterr().err


def test_mismatched_ids_name_the_file(dev_eval, capsys):
    tmp_path, key, dev_a, dev_b, utts = dev_eval
    stray = _write_scores(tmp_path / "stray.txt", utts[:-1] + ["X_1"], np.zeros(1000))
    err = _fails(["train", "--scores", dev_a, stray, "--keys", key,
                  "--out", str(tmp_path / "m.json")], capsys)
    assert f"{stray}:1001:" in err and "'X_1'" in err
    calibrate.main(["train", "--scores", dev_a, dev_b, "--keys", key,
                    "--out", str(tmp_path / "m.json")])
    short = _write_scores(tmp_path / "short.txt", utts[:999], np.zeros(999))
    err = _fails(["apply", "--model", str(tmp_path / "m.json"), "--scores", dev_a, short,
                  "--out", str(tmp_path / "o.txt")], capsys)
    assert f"{dev_a}:1001:" in err and "missing from " + short in err
    assert not (tmp_path / "o.txt").exists()


def test_apply_wrong_number_of_systems_and_bad_model(dev_eval, capsys):
    tmp_path, key, dev_a, dev_b, _ = dev_eval
    model = tmp_path / "m.json"
    calibrate.main(["train", "--scores", dev_a, "--keys", key, "--out", str(model)])
    err = _fails(["apply", "--model", str(model), "--scores", dev_a, dev_b,
                  "--out", str(tmp_path / "o.txt")], capsys)
    assert str(model) in err and "1 system" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  \"type\": \"something else\"\n}\n")
    err = _fails(["apply", "--model", str(bad), "--scores", dev_a,
                  "--out", str(tmp_path / "o.txt")], capsys)
    assert str(bad) in err and "not a calibration model" in err


# ASVspoof2019 LA training counts: the prior term ln(2580 / 22800) is about -2.18
LA_COUNTS = [2580, 22800]


def head_config(project_type, **extra):
    return {"classes": ["bonafide", "spoof"], "class_counts": LA_COUNTS,
            "projection_args": {"project_type": project_type}, **extra}


@pytest.mark.parametrize("project_type,removes", [
    ("linear", True), ("softmax", True), ("am_softmax", True), ("aam_softmax", True),
    ("oc_softmax", False), ("p2sgrad", False)])
def test_training_prior_is_removed_only_from_log_posterior_logits(project_type, removes):
    config = head_config(project_type)
    assert removes_training_prior(config) is removes
    logits = np.array([[-1.0, 1.0], [0.3, -0.2], [1.0, -1.0]])
    llr = logits_to_llr(logits, config["classes"], config["class_counts"],
                        remove_prior=removes_training_prior(config))
    difference = logits[:, 0] - logits[:, 1]
    prior = math.log(LA_COUNTS[0] / LA_COUNTS[1]) if removes else 0.0
    np.testing.assert_allclose(llr, difference - prior, rtol=0, atol=1e-12)
    if not removes:
        # a P2SGrad-like spoof (cosines -1, 1) stays below the Bayes threshold 0
        assert llr[0] == -2.0


def test_default_head_is_linear_and_unknown_head_is_an_input_error():
    assert removes_training_prior({}) and removes_training_prior({"projection_args": None})
    with pytest.raises(InputError, match="projection_args.*unknown project_type"):
        removes_training_prior(head_config("softmaxx"), "conf.yaml")


@pytest.mark.parametrize("project_type", ["linear", "p2sgrad", "oc_softmax"])
def test_stage6_script_follows_the_head(tmp_path, project_type):
    logits = np.array([[-1.0, 1.0], [0.75, 0.25], [0.5, -0.5]], dtype=np.float32)
    ark, scp = tmp_path / "logits.ark", tmp_path / "logits.scp"
    with kaldiio.WriteHelper(f"ark,scp:{ark},{scp}") as writer:
        for i, vector in enumerate(logits):
            writer(f"utt{i}", vector)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(head_config(project_type)))
    output = tmp_path / "llr.txt"
    script.main(["--logits_scp", str(scp), "--config", str(config), "--output", str(output)])
    scores = np.array(list(read_scores(output).values()))
    difference = logits[:, 0].astype(np.float64) - logits[:, 1]
    prior = math.log(LA_COUNTS[0] / LA_COUNTS[1]) if project_type == "linear" else 0.0
    np.testing.assert_allclose(scores, difference - prior, rtol=0, atol=1e-9)
