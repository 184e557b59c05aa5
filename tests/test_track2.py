"""Track-2 metrics against loop transcriptions of their definitions, and the Track-2 files."""

import json
import math

import numpy as np
import pytest

from wedefense.metrics import sasv
from wedefense.metrics.sasv import (
    ADCF_COSTS,
    ORGANISERS_ASV,
    TDCF_COSTS,
    compute_a_dcf,
    compute_min_tdcf,
    compute_t_eer,
    compute_track2,
    read_sasv,
)
from wedefense.utils.errors import InputError


def _curves(groups):
    """Rates after rejecting the first k of the stable sort of the concatenated groups."""
    trials = sorted([(s, g) for g, scores in enumerate(groups) for s in scores],
                    key=lambda t: t[0])
    out = []
    for k in range(len(trials) + 1):
        rejected = [g for _, g in trials[:k]]
        out.append([rejected.count(g) / len(groups[g]) for g in range(len(groups))])
    return out


def reference_a_dcf(tar, non, spf, c=ADCF_COSTS):
    norm = min(c["c_fa_asv"] * c["p_nontarget"] + c["c_fa_cm"] * c["p_spoof"],
               c["c_miss"] * c["p_target"])
    return min((c["c_miss"] * c["p_target"] * r_tar
                + c["c_fa_asv"] * c["p_nontarget"] * (1 - r_non)
                + c["c_fa_cm"] * c["p_spoof"] * (1 - r_spf)) / norm
               for r_tar, r_non, r_spf in _curves([tar, non, spf]))


def reference_min_tdcf(bona, spoof, c=TDCF_COSTS, a=ORGANISERS_ASV):
    c1 = (c["p_target"] * (c["c_miss_cm"] - c["c_miss_asv"] * a["pmiss_target"])
          - c["p_nontarget"] * c["c_fa_asv"] * a["pfa_nontarget"])
    c2 = c["c_fa_cm"] * c["p_spoof"] * a["pfa_spoof"]
    return min((c1 * r_b + c2 * (1 - r_s)) / min(c1, c2) for r_b, r_s in _curves([bona, spoof]))


def reference_t_eer(cm, asv, labels):
    """The ASVspoof5 package's procedure, as plain double loops over both thresholds."""
    groups = [[i for i, lab in enumerate(labels) if lab == name] for name in sasv.ASV_LABELS]
    asv_curve = _curves([[asv[i] for i in g] for g in groups])
    cm_curve = _curves([[cm[i] for i in groups[0] + groups[1]], [cm[i] for i in groups[2]]])
    best, result = math.inf, None
    for r_tar, r_non, r_spf in asv_curve:
        pmiss_asv, pfa_non, pfa_spf = r_tar, 1 - r_non, 1 - r_spf
        if not pmiss_asv < pfa_non:
            continue
        gaps = [abs((r_b + (1 - r_b) * pmiss_asv) - (1 - r_b) * pfa_non) for r_b, _ in cm_curve]
        k = gaps.index(min(gaps))
        pmiss_cm, pfa_cm = cm_curve[k][0], 1 - cm_curve[k][1]
        try:
            crit = abs(pfa_non / pfa_spf - pfa_cm / (1 - pmiss_cm))
        except ZeroDivisionError:
            continue
        if crit < best:
            best, result = crit, pfa_spf * pfa_cm
    return result


def _trials(seed, n=(40, 30, 50), ties=False):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.array(sasv.ASV_LABELS), n)
    cm = np.concatenate([rng.normal(2, 1, n[0]), rng.normal(2, 1, n[1]), rng.normal(-1, 1.5, n[2])])
    asv = np.concatenate([rng.normal(3, 1, n[0]), rng.normal(-2, 1, n[1]), rng.normal(1, 2, n[2])])
    if ties:
        cm, asv = np.round(cm), np.round(asv)
    return cm, asv, labels


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_a_dcf(seed, ties):
    _, asv, labels = _trials(seed, ties=ties)
    groups = [asv[labels == name] for name in sasv.ASV_LABELS]
    assert compute_a_dcf(*groups) == pytest.approx(reference_a_dcf(*groups), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_min_tdcf(seed, ties):
    cm, _, labels = _trials(seed, ties=ties)
    bona, spoof = cm[labels != "spoof"], cm[labels == "spoof"]
    assert compute_min_tdcf(bona, spoof) == pytest.approx(reference_min_tdcf(bona, spoof),
                                                          abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_t_eer(seed, ties):
    cm, asv, labels = _trials(seed, ties=ties)
    want = reference_t_eer(cm.tolist(), asv.tolist(), labels.tolist())
    assert compute_t_eer(cm, asv, labels) == pytest.approx(want, abs=1e-12)


def test_defaults_are_the_organisers():
    assert ADCF_COSTS == {"p_target": 0.9, "p_nontarget": 0.05, "p_spoof": 0.05,
                          "c_miss": 1.0, "c_fa_asv": 10.0, "c_fa_cm": 20.0}
    assert TDCF_COSTS["p_target"] == pytest.approx(0.9405)
    assert TDCF_COSTS["p_nontarget"] == pytest.approx(0.0095)
    assert ORGANISERS_ASV["pfa_spoof"] == 0.4607082907604729


def test_perfect_systems():
    assert compute_a_dcf([5.0, 6.0], [-5.0], [-6.0]) == 0.0
    assert compute_min_tdcf([3.0, 4.0], [-1.0, -2.0]) == 0.0


def _write(path, header, rows):
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(r) + "\n" for r in rows))
    return str(path)


def _files(tmp_path, cm_column=True):
    cm, asv, labels = _trials(7)
    rows, key_rows = [], []
    for i, (c, a, lab) in enumerate(zip(cm, asv, labels)):
        spk = f"E_{i % 7:04d}"
        rows.append([spk, f"E_{i:06d}", repr(float(c)) if cm_column else "-", repr(float(a)),
                     repr(float(a + c))])
        key_rows.append([spk, f"E_{i:06d}", "spoof" if lab == "spoof" else "bonafide", lab])
    scores = _write(tmp_path / "score.tsv",
                    ["spk", "filename", "cm-score", "asv-score", "sasv-score"], rows[::-1])
    key = _write(tmp_path / "key.tsv", ["spk", "filename", "cm-label", "asv-label"], key_rows)
    return scores, key, cm, asv, labels


def test_files_and_command_line(tmp_path, capsys):
    scores, key, cm, asv, labels = _files(tmp_path)
    results = compute_track2(read_sasv(scores, key))
    assert results["t_eer"] == pytest.approx(compute_t_eer(cm, asv, labels), abs=1e-15)
    groups = [(asv + cm)[labels == name] for name in sasv.ASV_LABELS]
    assert results["a_dcf"] == pytest.approx(compute_a_dcf(*groups), abs=1e-15)
    out = tmp_path / "t2.json"
    sasv.main(["--scores", scores, "--keys", key, "--output_json", str(out)])
    assert json.loads(out.read_text())["min_tdcf"] == results["min_tdcf"]
    assert "a-DCF" in capsys.readouterr().out


def test_missing_cm_column_gives_adcf_only(tmp_path):
    scores, key, *_ = _files(tmp_path, cm_column=False)
    results = compute_track2(read_sasv(scores, key))
    assert results["a_dcf"] is not None
    assert results["min_tdcf"] is None and results["t_eer"] is None


@pytest.mark.parametrize("edit, culprit, words", [
    (lambda s, k: (s.replace("E_000003\t", "E_999999\t"), k), "scores", "missing from"),
    (lambda s, k: (s, k.replace("\ttarget\n", "\ttarg\n", 1)), "keys", "unknown asv-label"),
    (lambda s, k: (s, k.replace("spoof\tspoof\n", "bonafide\tspoof\n", 1)), "keys",
     "contradicts"),
    (lambda s, k: (s.replace("\n", "\nX\t", 1), k), "scores", "expected 5 fields"),
    (lambda s, k: (s[:s.rindex("\t")] + "\tnan\n", k), "scores", "bad sasv-score"),
])
def test_bad_track2_files(tmp_path, capsys, edit, culprit, words):
    scores, key, *_ = _files(tmp_path)
    with open(scores) as f, open(key) as g:
        new_scores, new_key = edit(f.read(), g.read())
    with open(scores, "w") as f, open(key, "w") as g:
        f.write(new_scores)
        g.write(new_key)
    with pytest.raises(SystemExit):
        sasv.main(["--scores", scores, "--keys", key, "--output_json", str(tmp_path / "o.json")])
    err = capsys.readouterr().err
    named = scores if culprit == "scores" else key
    assert f"{named}:" in err and words in err
    with pytest.raises(InputError):
        read_sasv(scores, key)
