"""The worked example of egs/detection/README.md runs as written, on a fixture corpus."""

import os
import re
import subprocess
import textwrap

from tests.conftest import REPO, write_wav
from tests.recipe_utils import (
    RECIPES,
    TINY_TRAIN,
    check_data_dir,
    make_raw_lists,
    read_lines,
    result_rows,
    run_recipe,
    run_script,
)

GUIDE = os.path.join(RECIPES, "README.md")


def example_script():
    text = open(GUIDE).read()
    match = re.search(r"<!-- guide-example: local/prepare_data.sh -->\n```bash\n(.*?)```",
                      text, re.S)
    assert match, "the guide's example block is missing"
    return match.group(1)


def test_guide_example_prepares_data_dirs(tmp_path, repo_env):
    corpus = tmp_path / "ToyFakes"
    rows = {}
    for subset, items in {"train": [("a1.wav", "real", 0.5), ("a2.wav", "fake", 0.7)],
                          "dev": [("b0.wav", "real", 0.5), ("b1.wav", "fake", 0.4)],
                          "eval": [("c1.wav", "real", 0.6), ("c2.wav", "fake", 0.3)]}.items():
        (corpus / "labels").mkdir(parents=True, exist_ok=True)
        lines = ["file,label"]
        rows[subset] = []
        for i, (name, label, dur) in enumerate(items):
            wav = str(corpus / "audio" / subset / name)
            write_wav(wav, dur, i)
            lines.append(f"{name},{label}")
            rows[subset].append({"utt": name[:-4], "wav": wav, "dur": dur, "speaker": "-",
                                 "label": "bonafide" if label == "real" else "spoof",
                                 "attack": "-" if label == "real" else "unknown"})
        (corpus / "labels" / f"{subset}.csv").write_text("\n".join(lines) + "\n")
    recipe = tmp_path / "toyfakes"
    (recipe / "local").mkdir(parents=True)
    (recipe / "local" / "prepare_data.sh").write_text(example_script())
    data = str(tmp_path / "data")
    proc = run_script(str(recipe), ["local/prepare_data.sh", str(corpus), data], repo_env)
    assert "train: 2 utterances" in proc.stdout
    make_raw_lists(data, rows, repo_env)
    for subset in rows:
        check_data_dir(os.path.join(data, subset), rows[subset])
    assert read_lines(os.path.join(data, "eval", "utt2lab")) == ["c1 bonafide", "c2 spoof"]

    with open(corpus / "labels" / "dev.csv", "a") as f:
        f.write("b2.wav,maybe\n")
    proc = run_script(str(recipe), ["local/prepare_data.sh", str(corpus), data], repo_env,
                      check=False)
    assert proc.returncode != 0 and f"{corpus}/labels/dev.csv:4:" in proc.stderr


def guide_copy_commands():
    text = open(GUIDE).read()
    match = re.search(r"1\. Copy a training recipe.*?```bash\n(.*?)```", text, re.S)
    assert match, "the guide's copy step is missing"
    return textwrap.dedent(match.group(1))


def test_guide_copy_runs_through_stage7(tmp_path, repo_env):
    # a checkout in miniature: the guide's own cp -r, then the example prepare_data.sh
    top = tmp_path / "checkout"
    (top / "egs" / "detection").mkdir(parents=True)
    for rel in ("tools", "wedefense", "egs/detection/TEMPLATE", "egs/detection/asvspoof2019_la"):
        os.symlink(os.path.join(REPO, rel), top / rel)
    subprocess.run(["bash", "-euc", guide_copy_commands()], cwd=top, check=True)
    recipe = top / "egs" / "detection" / "toyfakes" / "v03_resnet18"
    assert os.path.islink(recipe / "detect.sh") and os.path.islink(recipe / "tools")
    assert not (recipe / "local" / "download_database.sh").exists()
    (recipe / "local" / "prepare_data.sh").write_text(example_script())

    corpus = tmp_path / "ToyFakes"
    for subset, labels in {"train": "rfrfrfrf", "dev": "rfrf", "eval": "rrff"}.items():
        (corpus / "labels").mkdir(parents=True, exist_ok=True)
        lines = ["file,label"]
        for i, lab in enumerate(labels):
            write_wav(str(corpus / "audio" / subset / f"{subset}{i}.wav"), 0.6, i)
            lines.append(f"{subset}{i}.wav,{'real' if lab == 'r' else 'fake'}")
        (corpus / "labels" / f"{subset}.csv").write_text("\n".join(lines) + "\n")
    run_recipe(str(recipe), ["--corpus_dir", str(corpus), "--stage", "1", "--stop_stage", "7",
                             "--num_avg", "1", "--train_overrides", TINY_TRAIN], repo_env)
    rows = result_rows(recipe / "exp" / "ResNet18" / "results_eval.txt")
    assert "pooled" in rows and "unknown" not in rows
    assert (recipe / "exp" / "ResNet18" / "results_eval_calibrated.json").is_file()
    assert read_lines(recipe / "data" / "eval" / "utt2lab") == [
        "eval0 bonafide", "eval1 bonafide", "eval2 spoof", "eval3 spoof"]
