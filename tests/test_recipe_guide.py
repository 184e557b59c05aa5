"""The worked example of egs/detection/README.md runs as written, on a fixture corpus."""

import os
import re

from tests.conftest import write_wav
from tests.recipe_utils import (
    RECIPES,
    check_data_dir,
    make_raw_lists,
    read_lines,
    recipe_dir,
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


def test_guide_data_dirs_run_through_stage7(tmp_path, repo_env):
    # steps 1-4: the copied recipe's stages 2-7 on the data dirs the example writes (stage 1
    # of the copy is the example itself)
    data = tmp_path / "data"
    for subset, labels in {"train": "rfrfrfrf", "dev": "rfrf", "eval": "rrff"}.items():
        (tmp_path / "c" / "labels").mkdir(parents=True, exist_ok=True)
        lines = ["file,label"]
        for i, lab in enumerate(labels):
            write_wav(str(tmp_path / "c" / "audio" / subset / f"{subset}{i}.wav"), 0.6, i)
            lines.append(f"{subset}{i}.wav,{'real' if lab == 'r' else 'fake'}")
        (tmp_path / "c" / "labels" / f"{subset}.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "prepare_data.sh").write_text(example_script())
    run_script(str(tmp_path), ["local/prepare_data.sh", str(tmp_path / "c"), str(data)],
               repo_env)
    proc = run_script(recipe_dir("asvspoof2019_la"), [
        "run.sh", "--stage", "2", "--stop_stage", "7", "--data", str(data),
        "--exp_dir", str(tmp_path / "exp"), "--num_avg", "1", "--train_overrides",
        "--num_epochs 1 --dataloader_args.batch_size 4 --dataset_args.chunk_len 0.5 "
        "--model_args.m_channels 4"], repo_env)
    table = read_lines(tmp_path / "exp" / "results_eval.txt")
    rows = [line.split()[0] for line in table if line[:1].isalnum() and " " in line]
    assert "pooled" in rows and "unknown" not in rows, proc.stdout
