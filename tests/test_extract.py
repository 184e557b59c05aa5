"""Stage 4 extraction: batched equals one at a time; torchrun ranks merge to the same ark."""

import json
import os
import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import torch

from tests.conftest import REPO, write_wav
from tests.test_bundle import make_exp_dir
from wedefense.bin import extract


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("extract")
    exp = make_exp_dir(root)
    items = []
    for i, seconds in enumerate([0.6, 1.4, 0.9, 0.4, 1.1]):
        path = str(root / "wav" / f"u{i}.wav")
        write_wav(path, seconds, i)
        items.append({"key": f"u{i}", "lab": "bonafide", "wav": path})
    data_list = root / "raw.list"
    data_list.write_text("".join(json.dumps(it) + "\n" for it in items))
    return root, exp, str(data_list), [it["key"] for it in items]


def run_extract(setup, name, extra=()):
    root, exp, data_list, _ = setup
    ark = str(root / name / "embedding.ark")
    extract.main(["--config", os.path.join(exp, "config.yaml"), "--model_path",
                  os.path.join(exp, "models", "avg_model.pt"), "--data_list", data_list,
                  "--embed_ark", ark, "--device", "cpu", *extra])
    return dict(kaldiio.load_scp(ark[:-4] + ".scp"))


def test_batched_equals_one_at_a_time(setup):
    keys = setup[3]
    batched = run_extract(setup, "batched")
    single = run_extract(setup, "single", ["--max_batch_size", "1"])
    assert list(batched) == keys  # the list's order
    for k in keys:
        np.testing.assert_allclose(batched[k], single[k], atol=1e-4)


def test_torchrun_ranks_merge_in_list_order(setup, repo_env):
    root, exp, data_list, keys = setup
    ark = str(root / "ddp" / "embedding.ark")
    env = dict(repo_env, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         os.path.join(REPO, "wedefense", "bin", "extract.py"), "--config",
         os.path.join(exp, "config.yaml"), "--model_path",
         os.path.join(exp, "models", "avg_model.pt"), "--data_list", data_list,
         "--embed_ark", ark, "--device", "cpu", "--max_batch_seconds", "2"],
        env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(2 processes)" in proc.stdout
    merged = dict(kaldiio.load_scp(ark[:-4] + ".scp"))
    assert list(merged) == keys
    assert not os.path.exists(ark + ".parts")
    alone = run_extract(setup, "alone")
    for k in keys:
        assert torch.allclose(torch.from_numpy(merged[k]), torch.from_numpy(alone[k]), atol=1e-4)


def test_utterances_too_short_for_the_model_are_named(setup, capsys):
    root, exp, _, _ = setup
    items = []
    for i, samples in enumerate([16000, 300, 8000, 200]):  # fbank needs 400 + 160 samples
        path = str(root / "short" / f"s{i}.wav")
        write_wav(path, samples / 16000, i)
        items.append({"key": f"s{i}", "lab": "spoof", "wav": path})
    data_list = root / "short.list"
    data_list.write_text("".join(json.dumps(it) + "\n" for it in items))
    with pytest.raises(SystemExit) as e:
        extract.main(["--config", os.path.join(exp, "config.yaml"), "--model_path",
                      os.path.join(exp, "models", "avg_model.pt"), "--data_list",
                      str(data_list), "--embed_ark", str(root / "short" / "e.ark"),
                      "--device", "cpu"])
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert "short.list" in err and "2 utterance(s) shorter than 560 samples" in err
    assert "s1, s3" in err
    assert not os.path.exists(root / "short" / "e.ark")
