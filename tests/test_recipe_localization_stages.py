"""The localization recipes driven as a user runs them, through stage 7 on tiny fixture trees in
their corpora's real layouts: PartialSpoof (train + score), LlamaPartialSpoof (scores the
PartialSpoof model out of domain) and the SSL recipe with a tiny randomly initialised model."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO
from tests.localization_trees import (
    LLAMAPARTIALSPOOF_ROWS,
    PARTIALSPOOF_ROWS,
    make_llamapartialspoof_tree,
    make_partialspoof_loc_tree,
)
from tests.recipe_utils import read_lines

LOCALIZATION = os.path.join(REPO, "egs", "localization")
RESOLUTIONS = ["0.02", "0.04", "0.08", "0.16", "0.32", "0.64"]
KEYS = {"segment_eer", "range_eer", "utterance_eer", "precision", "recall", "f1"}
# small enough to train in seconds; the recipe's own config with these overrides
TINY_CNN = ("--num_epochs 1 --dataloader_args.batch_size 4 --dataloader_args.num_workers 0 "
            "--dataset_args.chunk_len 0.6 --frontend_args.num_mel_bins 16 "
            "--model_args.channels [4,8] --model_args.embed_dim 16")


@pytest.fixture(scope="module")
def repo_env_module():
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    return env


def run_recipe(recipe, args, env, check=True):
    proc = subprocess.run(["bash", "run.sh", *args], cwd=os.path.join(LOCALIZATION, recipe),
                          env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{recipe} {args} failed:\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def check_scored(exp, data, sets_rows):
    """Stage 6-7 outputs of every set: frames on the label grid, ranges, results with the keys."""
    for dset, utts in sets_rows.items():
        post = os.path.join(exp, "posteriors", dset)
        frames = {}
        for line in read_lines(os.path.join(post, "frame_llr.txt")):
            utt, start, end, _ = line.split()
            frames.setdefault(utt, []).append((float(start), float(end)))
        assert sorted(frames) == sorted(utts)
        durs = dict(line.split() for line in read_lines(os.path.join(data, dset, "utt2dur")))
        for utt, times in frames.items():
            n = len(times)
            assert n == int(-(-round(float(durs[utt]) * 1e6) // 20000))  # ceil(dur / 20 ms)
            assert times[0][0] == 0 and all(abs(b[0] - a[1]) < 1e-9
                                             for a, b in zip(times, times[1:]))
        for name in ("llr.txt", "spoofed_timestamps", "spoofed.rttm"):
            assert os.path.isfile(os.path.join(post, name)), name
        for suffix in ("", "_calibrated"):
            results = json.load(open(os.path.join(exp, f"results_{dset}{suffix}.json")))
            assert KEYS <= set(results) and list(results["segment_eer"]) == RESOLUTIONS
            assert all(0 <= v <= 1 for v in results["segment_eer"].values())
            utterance = json.load(open(os.path.join(exp, f"results_{dset}_utterance{suffix}.json")))
            assert "eer" in json.dumps(utterance).lower()


@pytest.fixture(scope="module")
def partialspoof_run(tmp_path_factory, repo_env_module):
    root = tmp_path_factory.mktemp("ps_loc")
    make_partialspoof_loc_tree(str(root / "PartialSpoof"))
    exp, data = str(root / "exp"), str(root / "data")
    proc = run_recipe("partialspoof/v01_frame_cnn",
                      ["--corpus_dir", str(root / "PartialSpoof"), "--data", data,
                       "--exp_dir", exp, "--num_avg", "1", "--train_overrides", TINY_CNN],
                      repo_env_module)
    return root, exp, data, proc


def test_partialspoof_cnn_recipe_trains_and_scores(partialspoof_run):
    root, exp, data, proc = partialspoof_run
    assert "stage 7: scoring" in proc.stdout
    config = yaml.safe_load(open(os.path.join(exp, "config.yaml")))
    assert config["task"] == "localization" and config["model_args"]["embed_dim"] == 16
    check_scored(exp, data, {s: [r[1] for r in PARTIALSPOOF_ROWS[s]] for s in ("dev", "eval")})
    for name in ("calibration.json", "frame_calibration.json"):
        assert os.path.isfile(os.path.join(exp, name))


def test_llamapartialspoof_scores_the_partialspoof_model(partialspoof_run, tmp_path,
                                                         repo_env_module):
    _, model_dir, _, _ = partialspoof_run
    corpus = str(tmp_path / "LlamaPartialSpoof")
    make_llamapartialspoof_tree(corpus)
    exp, data = str(tmp_path / "exp"), str(tmp_path / "data")
    proc = run_recipe("llamapartialspoof/eval_only",
                      ["--corpus_dir", corpus, "--data", data, "--exp_dir", exp,
                       "--model_dir", model_dir], repo_env_module)
    assert "nothing to train" in proc.stdout
    assert not os.path.exists(os.path.join(exp, "models"))  # nothing trained here
    check_scored(exp, data, {"eval": [r[1] for r in LLAMAPARTIALSPOOF_ROWS]})


def test_eval_only_recipe_explains_a_missing_model(tmp_path, repo_env_module):
    corpus = str(tmp_path / "LlamaPartialSpoof")
    make_llamapartialspoof_tree(corpus)
    proc = run_recipe("llamapartialspoof/eval_only",
                      ["--corpus_dir", corpus, "--data", str(tmp_path / "data"),
                       "--model_dir", str(tmp_path / "nowhere")], repo_env_module, check=False)
    assert proc.returncode != 0 and "--model_dir must be the exp dir" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("recipe", ["demo/v01_frame_cnn", "partialspoof/v01_frame_cnn",
                                    "partialspoof/v15_ssl", "llamapartialspoof/eval_only"])
def test_recipes_share_the_template_and_explain_usage(recipe, repo_env_module):
    path = os.path.join(LOCALIZATION, recipe)
    assert os.path.realpath(os.path.join(path, "localize.sh")) == \
        os.path.join(LOCALIZATION, "TEMPLATE", "localize.sh")
    for link in ("tools", "wedefense"):
        assert os.path.realpath(os.path.join(path, link)) == os.path.join(REPO, link)
    assert os.path.isfile(os.path.join(path, "README.md"))
    assert "usage: bash run.sh" in run_recipe(recipe, ["--help"], repo_env_module).stdout


def test_ssl_recipe_trains_and_scores_with_a_tiny_checkpoint(tmp_path, repo_env_module):
    transformers = pytest.importorskip("transformers")
    from tests.test_ssl import tiny_config

    ckpt = tmp_path / "pretrained_models" / "tiny_wav2vec2"
    transformers.AutoModel.from_config(tiny_config()).save_pretrained(ckpt)
    make_partialspoof_loc_tree(str(tmp_path / "PartialSpoof"))
    exp, data = str(tmp_path / "exp"), str(tmp_path / "data")
    overrides = (f"--frontend_args.pretrained {ckpt} --model_args.embed_dim 8 "
                 "--frame_head_args.num_levels 3 --num_epochs 1 --dataloader_args.batch_size 4 "
                 "--dataloader_args.num_workers 0 --dataset_args.chunk_len 0.6")
    run_recipe("partialspoof/v15_ssl",
               ["--corpus_dir", str(tmp_path / "PartialSpoof"), "--data", data, "--exp_dir", exp,
                "--num_avg", "1", "--train_overrides", overrides], repo_env_module)
    config = yaml.safe_load(open(os.path.join(exp, "config.yaml")))
    assert config["model"] == "SSL_MultiReso" and config["frame_head_args"]["num_levels"] == 3
    check_scored(exp, data, {s: [r[1] for r in PARTIALSPOOF_ROWS[s]] for s in ("dev", "eval")})


def test_demo_recipe_runs_stages_0_to_8(tmp_path, repo_env_module):
    root = str(tmp_path)
    exp, data = os.path.join(root, "exp"), os.path.join(root, "data")
    run_recipe("demo/v01_frame_cnn",
               ["--stop_stage", "8", "--corpus_dir", os.path.join(root, "corpus"),
                "--data", data, "--exp_dir", exp, "--num_avg", "1",
                "--corpus_args", "--num_train 16 --num_dev 8 --num_eval 8",
                "--train_overrides", TINY_CNN, "--export_opts", "--no_onnx"], repo_env_module)
    db = os.path.join(root, "corpus", "database")
    assert os.path.isfile(os.path.join(db, "segment_labels", "eval_seglab_0.01.npy"))
    sets = {s: [line.split()[0] for line in read_lines(os.path.join(data, s, "wav.scp"))]
            for s in ("dev", "eval")}
    assert len(sets["eval"]) == 8
    check_scored(exp, data, sets)
    # stage 8: the bundle localizes the eval list on its own
    manifest = json.load(open(os.path.join(exp, "bundle", "bundle.json")))
    assert manifest["task"] == "localization" and "frame_calibration" in manifest["files"]
    rows = read_lines(os.path.join(exp, "bundle_eval_spoofed.tsv"))
    assert rows[0] == "utt\tstart\tend\tllr"
    assert {r.split("\t")[0] for r in rows[1:]} <= set(sets["eval"])
    scored = read_lines(os.path.join(exp, "bundle_eval_scores.tsv"))
    assert len(scored) == 1 + len(sets["eval"])
