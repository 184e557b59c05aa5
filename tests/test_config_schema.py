"""Training configs are checked against one schema before any work starts."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO as REPO_DIR
from wedefense.utils.config import load_config, save_config
from wedefense.utils.config_schema import SCHEMA, schema_help, schema_markdown
from wedefense.utils.errors import InputError

REPO = Path(REPO_DIR)
DEMO = REPO / "egs/detection/demo/v03_resnet18/conf/resnet_demo.yaml"
SHIPPED = sorted(REPO.glob("egs/**/conf/*.yaml"))


def test_configs_are_shipped():
    assert len(SHIPPED) >= 10


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_config_is_valid(path):
    load_config(path)


def variant(tmp_path, old, new):
    """The demo config with ``old`` replaced by ``new``, and the line ``new`` ends on."""
    text = DEMO.read_text()
    assert old in text
    text = text.replace(old, new, 1)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path, text[:text.index(new) + len(new)].count("\n") + 1


def rejected(path, overrides=()):
    with pytest.raises(InputError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# (text in the demo config, its replacement, what the message must say)
BAD = [
    ("seed: 42", "sed: 42", "unknown key 'sed'; did you mean 'seed'?"),
    ("  batch_size: 32", "  batch_sise: 32",
     "unknown key 'dataloader_args.batch_sise'; did you mean 'batch_size'?"),
    ("  embed_dim: 64", "  embed_dimm: 64",
     "unknown key 'model_args.embed_dimm'; did you mean 'embed_dim'?"),
    ("  dither: 0.0", "  dithr: 0.0", "unknown key 'frontend_args.dithr'; did you mean 'dither'?"),
    ("  final_ratio: 0.05", "  final_ration: 0.05",
     "unknown key 'scheduler_args.final_ration'; did you mean 'final_ratio'?"),
    ("  weight_decay: 0.0", "  weight_decy: 0.0",
     "unknown key 'optimizer_args.weight_decy'; did you mean 'weight_decay'?"),
    ("  pooling: TSTP", "  pooling: ASTP\n  pooling_args: {bottleneck: 8}",
     "unknown key 'model_args.pooling_args.bottleneck'; did you mean 'bottleneck_dim'?"),
    ("num_epochs: 6", 'num_epochs: "two"', "num_epochs must be an integer >= 1, got 'two'"),
    ("  batch_size: 32", "  batch_size: big",
     "dataloader_args.batch_size must be an integer >= 1, got 'big'"),
    ("  lr: 0.001", "  lr: fast", "optimizer_args.lr must be a number >= 0, got 'fast'"),
    ("  m_channels: 8", "  m_channels: -8", "model_args.m_channels must be >= 1, got -8"),
    ("  chunk_len: 2.0", "  chunk_len: -2.0", "dataset_args.chunk_len must be > 0, got -2.0"),
    ("  num_workers: 1", "  num_workers: -1", "dataloader_args.num_workers must be >= 0"),
    ("num_epochs: 6", "spec_augment: {prob: 1.5}", "spec_augment.prob must be in [0, 1], got 1.5"),
    ("num_epochs: 6", "augment:\n  noise: {prob: -0.1}", "augment.noise.prob must be in [0, 1]"),
    ("compile: false", "compile: 1", "compile must be true or false, got 1"),
    ("best_metric: eer", "best_metric: er", "best_metric must be one of eer, min_dcf, act_dcf, "
     "cllr, got 'er'; did you mean 'eer'?"),
    ("model: ResNet18", "model: Resnet18", "did you mean 'ResNet18'?"),
    ("  project_type: linear", "  project_type: lineer", "did you mean 'linear'?"),
    ("optimizer: Adam", "optimizer: adam", "did you mean 'Adam'?"),
]


@pytest.mark.parametrize("old, new, expected", BAD, ids=[b[1].strip() for b in BAD])
def test_bad_key_or_value_names_file_line_and_key(tmp_path, old, new, expected):
    path, line = variant(tmp_path, old, new)
    message = rejected(path)
    assert message.startswith(f"{path}:{line}: ")
    assert expected in message


def test_an_unknown_key_far_from_any_lists_the_known_ones(tmp_path):
    path, line = variant(tmp_path, "seed: 42", "zzz: 1")
    assert re.search(r"unknown key 'zzz'; known: .*num_epochs", rejected(path))


def test_the_head_decides_which_projection_args_exist(tmp_path):
    path, _ = variant(tmp_path, "  project_type: linear", "  project_type: linear\n  margin: 0.2")
    assert "unknown key 'projection_args.margin'" in rejected(path)
    path, _ = variant(tmp_path, "  project_type: linear",
                      "  project_type: aam_softmax\n  margin: 0.2")
    assert load_config(path)["projection_args"]["margin"] == 0.2


def test_the_optimizer_decides_which_optimizer_args_exist(tmp_path):
    assert load_config(DEMO, ["--optimizer", "SGD", "--optimizer_args.momentum", "0.9",
                              "--optimizer_args.weight_decay", "0"])["optimizer"] == "SGD"
    assert "unknown key 'optimizer_args.momentum'" in rejected(
        DEMO, ["--optimizer_args.momentum", "0.9"])  # Adam has betas, no momentum


@pytest.mark.parametrize("override, expected", [
    (["--optimizer_args.lr", "fast"], "override --optimizer_args.lr: optimizer_args.lr must be a "
                                      "number >= 0, got 'fast'"),
    (["--optimizer_args.lrr", "0.1"], "override --optimizer_args.lrr: unknown key "
                                      "'optimizer_args.lrr'; did you mean 'lr'?"),
    (["--num_epochs=0"], "override --num_epochs: num_epochs must be >= 1, got 0"),
    (["--optimizer_args.lr", "-1e-3"], "override --optimizer_args.lr: optimizer_args.lr must be "
                                       ">= 0, got -0.001"),
    (["--augment.rawboost.algo", "9"], "override --augment.rawboost.algo: "
                                       "augment.rawboost.algo must be in [1, 8], got 9"),
    (["--lr_scaling", "lin"], "override --lr_scaling: lr_scaling must be one of none, linear, "
                              "sqrt, got 'lin'; did you mean 'linear'?"),
])
def test_overrides_are_checked_and_named(override, expected):
    assert rejected(DEMO, override) == expected


def test_overrides_may_set_keys_the_file_leaves_out():
    config = load_config(DEMO, ["--augment.speed_perturb.prob", "0.3", "--grad_clip", "1"])
    assert config["augment"] == {"speed_perturb": {"prob": 0.3}}
    assert config["grad_clip"] == 1


def test_the_saved_experiment_config_reads_back(tmp_path):
    # what train.py adds to the config it saves (speed perturbation as classes, lr scaled)
    config = load_config(DEMO, ["--augment.speed_perturb", "{prob: 0.3, as_classes: true}"])
    classes = ["bonafide", "spoof"]
    config.update(
        classes=classes + [f"{c}_sp{s}" for s in (0.9, 1.1) for c in classes],
        data_classes=classes, class_counts=[7.0, 35.0, 1.5, 7.5, 1.5, 7.5],
        bonafide_classes=["bonafide", "bonafide_sp0.9", "bonafide_sp1.1"],
        data={"train_data": "/x/raw.list", "train_label": "/x/utt2lab", "val_data": None,
              "val_label": None, "data_type": "raw"},
        lr_scaling_applied={"rule": "linear", "world_size": 2, "base_lr": 0.001})
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


def test_readme_table_is_the_generated_one():
    readme = (REPO / "README.md").read_text()
    table = re.search(r"<!-- config-keys:begin -->\n(.*)<!-- config-keys:end -->", readme, re.S)
    assert table, "README.md lacks the config-keys markers"
    assert table.group(1) == schema_markdown(), \
        "regenerate it: python -m wedefense.utils.config_schema"


def test_help_and_table_list_every_declared_key():
    for text in (schema_help(), schema_markdown()):
        for key in SCHEMA:
            assert key.name in text
    assert "dataloader_args.batch_size" in schema_help()


def test_a_rejected_config_is_one_line_on_stderr(tmp_path):
    path, line = variant(tmp_path, "num_epochs: 6", 'num_epochs: "two"')
    code = ("import sys; from wedefense.utils.cli import entry_point; "
            "from wedefense.utils.config import load_config; "
            "entry_point(lambda argv=None: load_config(sys.argv[1]))()")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            text=True, cwd=REPO)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"bad.yaml:{line}: num_epochs" in result.stderr
