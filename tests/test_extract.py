"""Stage 4 extraction: batched equals one at a time; torchrun ranks merge to the same ark; the
ONNX Runtime path gives PyTorch's embeddings and its cached graph follows the checkpoint."""

import json
import os
import shutil
import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import torch
import yaml

from tests.conftest import REPO, write_wav
from tests.test_bundle import make_exp_dir
from wedefense.bin import extract
from wedefense.inference import onnx_embedding


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


def run_extract(setup, name, extra=(), exp=None):
    root, setup_exp, data_list, _ = setup
    exp = exp or setup_exp
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
    # no cached graph: rank 0 exports it while rank 1 waits
    cache = onnx_embedding.graph_path(os.path.join(exp, "models", "avg_model.pt"))
    if os.path.exists(cache):
        os.remove(cache)
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


def test_onnx_path_gives_pytorchs_embeddings_and_exports_once(setup, capsys):
    keys = setup[3]
    exact = run_extract(setup, "pytorch", ["--backend", "pytorch"])
    assert "inference path: PyTorch fp32" in capsys.readouterr().out
    onnx = run_extract(setup, "onnx", ["--backend", "onnx"])
    assert "inference path: ONNX Runtime fp32" in capsys.readouterr().out
    for k in keys:
        np.testing.assert_allclose(onnx[k], exact[k], atol=1e-4, rtol=0)
    cache = onnx_embedding.graph_path(os.path.join(setup[1], "models", "avg_model.pt"))
    stamp = os.stat(cache).st_mtime_ns
    auto = run_extract(setup, "auto")  # the default on a CPU
    assert "inference path: ONNX Runtime fp32" in capsys.readouterr().out
    assert os.stat(cache).st_mtime_ns == stamp  # reused, not exported again
    for k in keys:
        np.testing.assert_allclose(auto[k], onnx[k], atol=1e-6, rtol=0)


def test_a_retrained_checkpoint_never_uses_the_old_graph(setup, tmp_path):
    exp = str(tmp_path / "exp")
    shutil.copytree(setup[1], exp)
    run_extract(setup, "old", ["--backend", "onnx"], exp=exp)
    # the same exp dir, trained again: other weights under the same checkpoint name
    make_exp_dir(tmp_path, seed=7)
    new = run_extract(setup, "new", ["--backend", "onnx"], exp=exp)
    exact = run_extract(setup, "new_exact", ["--backend", "pytorch"], exp=exp)
    for k in setup[3]:
        np.testing.assert_allclose(new[k], exact[k], atol=1e-4, rtol=0)


def test_an_edited_config_never_uses_the_old_graph(setup, tmp_path):
    exp = str(tmp_path / "exp")
    shutil.copytree(setup[1], exp)
    run_extract(setup, "before_edit", ["--backend", "onnx"], exp=exp)
    # same weights, another model: mean normalisation of the features switched off
    config_path = os.path.join(exp, "config.yaml")
    with open(config_path) as f:
        config = yaml.safe_load(f)
    config["mean_norm"] = False
    with open(config_path, "w") as f:
        yaml.safe_dump(config, f)
    got = run_extract(setup, "after_edit", ["--backend", "onnx"], exp=exp)
    exact = run_extract(setup, "after_edit_exact", ["--backend", "pytorch"], exp=exp)
    for k in setup[3]:
        np.testing.assert_allclose(got[k], exact[k], atol=1e-4, rtol=0)


def test_a_damaged_cached_graph_is_exported_again(setup, tmp_path):
    exp = str(tmp_path / "exp")
    shutil.copytree(setup[1], exp)
    with open(onnx_embedding.graph_path(os.path.join(exp, "models", "avg_model.pt")), "wb") as f:
        f.write(b"not an onnx model")
    got = run_extract(setup, "damaged", ["--backend", "onnx"], exp=exp)
    exact = run_extract(setup, "damaged_exact", ["--backend", "pytorch"], exp=exp)
    for k in setup[3]:
        np.testing.assert_allclose(got[k], exact[k], atol=1e-4, rtol=0)


def test_a_graph_that_disagrees_with_pytorch_is_not_used(setup, monkeypatch, capsys):
    monkeypatch.setattr(onnx_embedding, "PARITY_TOLERANCE", -1.0)
    run_extract(setup, "fallback")
    out = capsys.readouterr().out
    assert "inference path: PyTorch fp32" in out and "ONNX path not used" in out
    with pytest.raises(SystemExit) as e:
        run_extract(setup, "refused", ["--backend", "onnx"])
    assert e.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differ from PyTorch's" in err[0]


def test_ssl_and_frame_models_stay_on_pytorch():
    model = torch.nn.Linear(1, 1)
    assert onnx_embedding.can_export({"frontend": "fbank"}, model)
    assert not onnx_embedding.can_export({"frontend": "ssl"}, model)
    model.is_frame_model = True
    assert not onnx_embedding.can_export({"frontend": "fbank"}, model)


def test_a_read_only_model_folder_still_gets_the_onnx_path(setup, tmp_path, monkeypatch,
                                                           capsys):
    exp = str(tmp_path / "exp")
    shutil.copytree(setup[1], exp)
    models = os.path.join(exp, "models")
    cache = onnx_embedding.graph_path(os.path.join(models, "avg_model.pt"))
    if os.path.exists(cache):
        os.remove(cache)
    writable = os.access
    # chmod does not stop root (CI), so the module is told the folder is read-only
    monkeypatch.setattr(onnx_embedding.os, "access", lambda path, mode: (
        False if os.path.abspath(path) == models and mode == os.W_OK else writable(path, mode)))
    got = run_extract(setup, "read_only", ["--backend", "onnx"], exp=exp)
    assert "is read-only" in capsys.readouterr().out
    assert not os.path.exists(cache)
    exact = run_extract(setup, "read_only_exact", ["--backend", "pytorch"], exp=exp)
    for k in setup[3]:
        np.testing.assert_allclose(got[k], exact[k], atol=1e-4, rtol=0)
