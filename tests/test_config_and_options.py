"""YAML config overrides and the recipes' option parser."""

import subprocess

import pytest

from tests.conftest import REPO
from wedefense.utils.config import load_config, load_yaml, parse_overrides, save_config
from wedefense.utils.errors import InputError


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("num_epochs: 10\noptimizer_args:\n  lr: 0.001\n  betas: [0.9, 0.99]\n"
                    "model: ResNet18\n")
    return path


def test_nested_overrides_are_typed(conf):
    config = load_config(conf, ["--optimizer_args.lr", "0.01", "--num_epochs=3",
                                "--optimizer_args.betas", "[0.8, 0.9]", "--model", "ResNet34"])
    assert config == {"num_epochs": 3, "model": "ResNet34",
                      "optimizer_args": {"lr": 0.01, "betas": [0.8, 0.9]}}


@pytest.mark.parametrize("override", [["--optimizer_args.lrr", "1"], ["--num_epoch", "2"],
                                      ["--num_epochs.x", "2"], ["num_epochs", "2"],
                                      ["--num_epochs"]])
def test_bad_overrides_are_errors(conf, override):
    with pytest.raises(InputError):
        load_config(conf, override)


def test_round_trip(conf, tmp_path):
    config = load_config(conf)
    save_config(config, tmp_path / "out.yaml")
    assert load_config(tmp_path / "out.yaml") == config


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\nb: [1, 2\n")
    with pytest.raises(InputError, match=r"bad\.yaml:\d+"):
        load_config(path)


def run_options(*args):
    script = ("a_b=1; name=x; help_message='usage: demo'; "
              f". {REPO}/tools/parse_options.sh; echo \"$a_b $name $#\"")
    return subprocess.run(["bash", "-c", script, "demo", *args], capture_output=True, text=True)


def test_parse_options_sets_known_variables():
    out = run_options("--a-b", "7", "--name=y z")
    assert out.returncode == 0 and out.stdout.strip() == "7 y z 0"


def test_parse_options_rejects_unknown_and_prints_help():
    bad = run_options("--nme", "2")
    assert bad.returncode != 0 and "unknown option --nme" in bad.stderr
    assert run_options("--help").stdout.strip() == "usage: demo"


def test_parse_options_rejects_a_stray_word_instead_of_ignoring_the_rest():
    # "a_b 3" lacks its "--": the options after it must not be silently dropped
    out = run_options("a_b", "3", "--name", "y")
    assert out.returncode != 0 and "unexpected argument 'a_b'" in out.stderr
    assert out.stdout == ""


def test_parse_options_keeps_integer_options_integer():
    out = run_options("--a_b", "one")
    assert out.returncode != 0 and "--a_b takes an integer, got 'one'" in out.stderr
    assert run_options("--a_b", "-1").stdout.strip() == "-1 x 0"
    assert run_options("--name", "3").stdout.strip() == "1 3 0"  # a string option takes digits


def test_parse_options_help_lists_every_option_with_its_current_value(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("stage=1\nsets='dev eval'\nhelp_message='usage: run.sh'\n"
                      f". {REPO}/tools/parse_options.sh\nlater=1\n")
    out = subprocess.run(["bash", str(script), "--stage", "4", "--help"], capture_output=True,
                         text=True)
    assert out.returncode == 0
    assert out.stdout.splitlines() == ["usage: run.sh", "options (current values):",
                                       "  --stage 4", "  --sets 'dev eval'"]


FLOAT_FORMS = {"1e-3": 1e-3, "1E+5": 1e5, "-2e3": -2e3, ".5e-1": 0.05, "-.5": -0.5, "2e5": 2e5,
               "1.0e-3": 1e-3, "1.5E3": 1500.0, "3": 3, "0x10": 16, "1e": "1e", "e3": "e3"}


@pytest.mark.parametrize("text, value", FLOAT_FORMS.items())
def test_exponent_floats_in_files_and_overrides(tmp_path, text, value):
    # YAML 1.1 would read 1e-3 as a string, and the run would crash epochs later
    path = tmp_path / "c.yaml"
    path.write_text(f"lr: {text}\n")
    (_, override), = parse_overrides(["--args.final_ratio", text])
    for got in (load_yaml(path)["lr"], override):
        assert got == value and type(got) is type(value)


def test_saved_config_round_trips_floats_and_float_like_strings(tmp_path):
    config = {"lr": 1e-3, "tiny": 1e-10, "big": 1e20, "neg": -2e3, "name": "1e5", "dot": ".5e-1",
              "nested": {"ratio": 1e-2}}
    save_config(config, tmp_path / "out.yaml")
    again = load_yaml(tmp_path / "out.yaml")
    assert again == config
    assert [type(again[k]) for k in config] == [type(v) for v in config.values()]


def test_exponent_float_override_reaches_the_scheduler(conf):
    from wedefense.utils.schedulers import lr_multiplier
    config = load_config(conf, ["--optimizer_args.lr", "1e-2"])
    assert lr_multiplier("cosine", 10, final_ratio=config["optimizer_args"]["lr"])(10) == \
        pytest.approx(1e-2)
