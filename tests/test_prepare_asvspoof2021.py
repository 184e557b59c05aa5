"""ASVspoof 2021 LA/DF preparation on fixture trees in the released layout, line by line."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import write_wav
from tests.recipe_utils import check_data_dir, make_raw_lists, read_lines
from wedefense.dataset import asvspoof2021
from wedefense.utils.errors import InputError

# trial_metadata.txt lines as released (asvspoof-challenge/2021 eval-package README), seconds.
LA_LINES = [
    ("LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval", 0.6),
    ("LA_0020 LA_E_7294490 g722 loc_tx bonafide bonafide notrim eval", 0.8),
    ("LA_0009 LA_E_8589971 alaw loc_tx A07 spoof notrim progress", 0.5),
    ("LA_0031 LA_E_1000005 none sin_tx A19 spoof notrim eval", 0.7),
    ("LA_0031 LA_E_1000006 gsm mad_tx - bonafide notrim eval", 0.9),
    ("LA_0044 LA_E_1000007 opus ita_tx A12 spoof notrim hidden", 0.4),
]
DF_LINES = [
    ("LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder "
     "- - - -", 0.6),
    ("LA_0023 DF_E_2000012 low_mp3 asvspoof bonafide bonafide notrim eval bonafide - - - -", 0.7),
    ("TEF2 DF_E_2000013 high_m4a vcc2020 Task1-team20 spoof notrim eval "
     "neural_vocoder_autoregressive Task1 team20 F-F eng", 0.5),
    ("VCC2TM2 DF_E_2000014 oggm4a vcc2018 - bonafide notrim eval - - - - -", 0.8),
]


def make_tree(root, track, lines, parts=False):
    """Audio in the released folders (DF optionally as part folders) and the full keys."""
    name = f"ASVspoof2021_{track}_eval"
    keys = os.path.join(root, "keys", track, "CM", "trial_metadata.txt")
    os.makedirs(os.path.dirname(keys))
    wavs = {}
    for i, (line, dur) in enumerate(lines):
        trial = line.split()[1]
        top = os.path.join(root, f"{name}_part0{i % 2}") if parts else root
        wavs[trial] = os.path.join(top, name, "flac", trial + ".flac")
        write_wav(wavs[trial], dur, i)
    first = os.path.join(root, f"{name}_part00") if parts else root
    with open(os.path.join(first, name, f"ASVspoof2021.{track}.cm.eval.trl.txt"), "w") as f:
        f.write("".join(line.split()[1] + "\n" for line, _ in lines))
    with open(keys, "w") as f:
        f.write("".join(line + "\n" for line, _ in lines))
    return wavs, keys


def expected(lines, wavs, subsets=("eval",)):
    rows = []
    for line, dur in lines:
        fields = line.split()
        if fields[7] not in subsets:
            continue
        rows.append({"utt": fields[1], "wav": wavs[fields[1]], "label": fields[5],
                     "speaker": fields[0], "dur": dur,
                     "attack": "-" if fields[5] == "bonafide" else fields[4]})
    return rows


def run_prepare(args, env):
    return subprocess.run([sys.executable, "-m", "wedefense.bin.prepare_asvspoof2021", *args],
                          env=env, capture_output=True, text=True)


def test_la_eval_subset_line_by_line(tmp_path, repo_env):
    root = str(tmp_path / "ASVspoof2021")
    wavs, _ = make_tree(root, "LA", LA_LINES)
    data = str(tmp_path / "data")
    proc = run_prepare([root, data, "--track", "LA"], repo_env)
    assert proc.returncode == 0, proc.stderr
    assert "eval: 4 utterances" in proc.stdout
    make_raw_lists(data, ["eval"], repo_env)
    check_data_dir(os.path.join(data, "eval"), expected(LA_LINES, wavs))
    assert read_lines(os.path.join(data, "eval", "metadata")) == [
        "utt codec transmission attack trim subset",
        "LA_E_9332881 alaw ita_tx A07 notrim eval",
        "LA_E_7294490 g722 loc_tx - notrim eval",
        "LA_E_1000005 none sin_tx A19 notrim eval",
        "LA_E_1000006 gsm mad_tx - notrim eval"]


def test_df_parts_and_all_subsets(tmp_path, repo_env):
    root = str(tmp_path / "ASVspoof2021")
    wavs, _ = make_tree(root, "DF", DF_LINES, parts=True)
    data = str(tmp_path / "data")
    asvspoof2021.prepare(root, data, "DF", subsets=None)
    make_raw_lists(data, ["eval"], repo_env)
    check_data_dir(os.path.join(data, "eval"),
                   expected(DF_LINES, wavs, subsets=asvspoof2021.SUBSETS))
    assert "/ASVspoof2021_DF_eval_part01/" in wavs["DF_E_2000012"]
    assert read_lines(os.path.join(data, "eval", "metadata")) == [
        "utt codec source attack vocoder trim subset",
        "DF_E_2000011 nocodec asvspoof A14 traditional_vocoder notrim progress",
        "DF_E_2000012 low_mp3 asvspoof - - notrim eval",
        "DF_E_2000013 high_m4a vcc2020 Task1-team20 neural_vocoder_autoregressive notrim eval",
        "DF_E_2000014 oggm4a vcc2018 - - notrim eval"]


def test_metadata_drives_per_condition_scores(tmp_path, repo_env):
    """Stage 7 reads data/eval/metadata: rows per attack, codec, transmission and subset."""
    root = str(tmp_path / "ASVspoof2021")
    make_tree(root, "LA", LA_LINES)
    data = tmp_path / "data"
    asvspoof2021.prepare(root, str(data), "LA", subsets=None)
    scores = tmp_path / "llr.txt"
    utts = [line.split()[1] for line, _ in LA_LINES]
    scores.write_text("filename\tcm-score\n" + "".join(
        f"{u}\t{(i - 3) * 0.5}\n" for i, u in enumerate(utts)))
    out = tmp_path / "results.json"
    subprocess.run([sys.executable, "-m", "wedefense.bin.evaluate", "--scores", scores,
                    "--keys", data / "eval" / "utt2lab", "--metadata", data / "eval" / "metadata",
                    "--output_json", out],
                   check=True, env=repo_env, capture_output=True)
    results = json.loads(out.read_text())
    text = json.dumps(results)
    for value in ("A07", "A12", "A19", "alaw", "opus", "ita_tx", "mad_tx", "progress", "hidden"):
        assert f'"{value}"' in text


@pytest.mark.parametrize("bad_line, message", [
    ("LA_0009 LA_E_0000001 alaw ita_tx A07 fake notrim eval", "unknown key 'fake'"),
    ("LA_0009 LA_E_0000001 alaw ita_tx A07 spoof notrim", "expected 8 columns"),
    ("LA_0009 LA_E_0000001 alaw ita_tx bonafide spoof notrim eval", "contradicts key 'spoof'"),
    ("LA_0009 LA_E_0000001 alaw ita_tx A07 bonafide notrim eval", "contradicts key 'bonafide'"),
    ("LA_0009 LA_E_0000001 alaw ita_tx A07 spoof notrim test", "unknown subset 'test'"),
    ("LA_0009 LA_E_0000001 alaw ita_tx A07 spoof notrim eval", "audio of trial 'LA_E_0000001'"),
    ("LA_0020 LA_E_7294490 g722 loc_tx - bonafide notrim eval", "duplicate utterance id"),
])
def test_bad_key_lines_name_file_and_line(tmp_path, repo_env, bad_line, message):
    root = str(tmp_path / "ASVspoof2021")
    _, keys = make_tree(root, "LA", LA_LINES)
    with open(keys, "a") as f:
        f.write(bad_line + "\n")
    proc = run_prepare([root, str(tmp_path / "data"), "--track", "LA"], repo_env)
    assert proc.returncode != 0
    assert f"{keys}:7:" in proc.stderr and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_keys_and_audio_are_clear(tmp_path):
    with pytest.raises(InputError, match="LA-keys-full.tar.gz"):
        asvspoof2021.prepare(str(tmp_path), str(tmp_path / "d"), "LA")
    root = tmp_path / "c"
    keys = root / "LA-keys-full" / "keys" / "LA" / "CM" / "trial_metadata.txt"
    keys.parent.mkdir(parents=True)
    keys.write_text(LA_LINES[0][0] + "\n")
    with pytest.raises(InputError, match="no ASVspoof2021_LA_eval/flac/"):
        asvspoof2021.prepare(str(root), str(tmp_path / "d"), "LA")
    with pytest.raises(InputError, match="no trials of subset"):
        asvspoof2021.prepare(str(root), str(tmp_path / "d"), "LA", subsets=("hidden",))


def test_subsets_option_is_checked(tmp_path, repo_env):
    proc = run_prepare([str(tmp_path), str(tmp_path / "d"), "--track", "LA", "--subsets", "dev"],
                       repo_env)
    assert proc.returncode == 2 and "expected 'all' or a comma-separated list" in proc.stderr
