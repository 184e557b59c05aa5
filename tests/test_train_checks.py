"""Stage 3 checks its inputs before training: the dev set, the validation options, and that
the class counts (stage 6's prior) are those of the training list actually used."""

import json
import os

import pytest
import yaml

from tests.conftest import write_wav
from tests.test_train import TINY_CONFIG, make_set, train_args
from wedefense.bin import train


@pytest.fixture
def data(tmp_path):
    make_set(tmp_path, "train", 16)
    make_set(tmp_path, "dev", 6, seed=1)
    with open(tmp_path / "conf.yaml", "w") as f:
        yaml.safe_dump(dict(TINY_CONFIG, num_epochs=1), f)
    return tmp_path


def one_class_dev(data):
    for name in ("raw.list", "utt2lab"):
        path = data / "dev" / name
        path.write_text(path.read_text().replace("spoof", "bonafide"))
    return str(data / "dev" / "utt2lab"), "needs both bona fide and spoof"


def missing_dev_wav(data):
    wav = json.loads((data / "dev" / "raw.list").read_text().splitlines()[3])["wav"]
    os.remove(wav)
    return wav, "cannot read audio header"


def too_short_dev_utterance(data):
    # fbank (25 ms frames) needs two frames: a 300-sample dev file would crash validation
    wav = json.loads((data / "dev" / "raw.list").read_text().splitlines()[2])["wav"]
    write_wav(wav, 300 / 16000, 0)
    return str(data / "dev" / "raw.list"), "1 utterance(s) shorter than"


def validation_args_typo(data):
    write_config(data, validation_args={"max_batch_secs": 10})
    return "unknown key 'validation_args.max_batch_secs'", "did you mean 'max_batch_seconds'?"


def unknown_best_metric(data):
    write_config(data, best_metric="accuracy")
    return "best_metric must be one of", "eer, min_dcf, act_dcf, cllr, got 'accuracy'"


def unknown_task(data):
    write_config(data, task="segmentation")
    return "task must be one of detection", "'segmentation'"


def write_config(data, **changes):
    with open(data / "conf.yaml", "w") as f:
        yaml.safe_dump(dict(TINY_CONFIG, num_epochs=1, **changes), f)


@pytest.mark.parametrize("break_it", [one_class_dev, missing_dev_wav, too_short_dev_utterance,
                                      validation_args_typo, unknown_best_metric,
                                      unknown_task])
def test_dev_set_and_validation_options_fail_before_training(data, capsys, break_it):
    where, what = break_it(data)
    exp = data / "exp"
    with pytest.raises(SystemExit) as e:
        train.main(train_args(data, exp))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error: " in err and where in err and what in err, err
    assert not exp.exists()  # checked before anything is written: no train.log, no lock


def test_class_counts_are_those_of_the_training_list(data):
    # utt2lab of a bigger set (the list is a subset): the prior is that of the list
    with open(data / "train" / "utt2lab", "a") as f:
        f.writelines(f"extra_{i} bonafide\n" for i in range(4))
    exp = data / "exp"
    train.main(train_args(data, exp))
    assert yaml.safe_load(open(exp / "config.yaml"))["class_counts"] == [8, 8]
    assert "4 only in utt2lab" in open(exp / "train.log").read()


def test_a_label_that_differs_from_the_list_names_the_utt2lab_line(data, capsys):
    path = data / "train" / "utt2lab"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace("bonafide", "spoof")  # train_002
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit):
        train.main(train_args(data, data / "exp"))
    err = capsys.readouterr().err
    assert f"{path}:3: label 'spoof' of 'train_002' differs" in err, err


def test_dev_headers_are_read_once_not_at_every_validation(data, monkeypatch):
    from wedefense.dataset import loader

    with open(data / "conf.yaml", "w") as f:
        yaml.safe_dump(dict(TINY_CONFIG, num_epochs=2), f)
    reads = []
    real = loader.item_durations
    monkeypatch.setattr(loader, "item_durations", lambda items: reads.extend(items) or real(items))
    train.main(train_args(data, data / "exp"))
    assert (data / "exp" / "models" / "model_2.pt").exists()
    assert reads == []  # both validations reused the durations read at start-up
