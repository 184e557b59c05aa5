"""Stage 3 with ``task: localization``: a frame model trains on frame-labelled chunks, is
validated by segment and utterance EER, and the config records what stage 6 needs."""

import pytest
import torch
import yaml

from tests.test_frame_labels import make_localization_set
from wedefense.bin import train

CONFIG = {
    "task": "localization", "classes": ["bonafide", "spoof"], "seed": 3, "num_epochs": 2,
    "frame_resolution": 0.02,
    "dataset_args": {"sample_rate": 16000, "chunk_len": 0.6},
    "dataloader_args": {"batch_size": 4, "num_workers": 0},
    "frontend": "fbank", "frontend_args": {"num_mel_bins": 16, "snip_edges": False},
    "model": "FrameCNN", "model_args": {"channels": [4, 8], "embed_dim": 16},
    "loss_args": {"utterance_weight": 0.5},
    "optimizer": "Adam", "optimizer_args": {"lr": 0.01},
    "scheduler": "cosine", "scheduler_args": {"final_ratio": 0.1},
}


@pytest.fixture
def data(tmp_path):
    make_localization_set(tmp_path, "train", 12)
    make_localization_set(tmp_path, "dev", 6, seed=1)
    return tmp_path


def run(data, exp, **changes):
    config = {**CONFIG, **changes}
    with open(data / "conf.yaml", "w") as f:
        yaml.safe_dump(config, f)
    train.main(["--config", str(data / "conf.yaml"), "--exp_dir", str(exp),
                "--train_data", str(data / "train" / "raw.list"),
                "--train_label", str(data / "train" / "utt2lab"),
                "--val_data", str(data / "dev" / "raw.list"),
                "--val_label", str(data / "dev" / "utt2lab")])


def test_localization_training_writes_exp_dir(data):
    exp = data / "exp"
    run(data, exp)
    config = yaml.safe_load(open(exp / "config.yaml"))
    assert config["task"] == "localization" and config["best_metric"] == "segment_eer"
    bona, spoof = config["frame_class_counts"]
    assert 0 < spoof < bona  # bursts are short; counted on the 20 ms grid
    best = torch.load(exp / "models" / "best_model.pt", weights_only=True)
    assert 0.0 <= best["segment_eer"] <= 1.0
    log = open(exp / "train.log").read()
    assert "dev_segment_eer" in log and "dev_utterance_eer" in log and "frames_per_s" in log


@pytest.mark.parametrize("changes,message", [
    ({"best_metric": "eer"}, "best_metric 'eer' is not one of segment_eer"),
    ({"loss_args": {"frame": 1.0}}, "unknown key 'loss_args.frame'"),
    ({"augment": {"speed_perturb": {"prob": 0.5}}}, "speed_perturb changes the time axis"),
    ({"timestamps": "partial"}, "'train_001' has no timestamps"),
    ({"dev_timestamps": "short"}, "'dev_000': labelled duration 0.500 s and audio length 0.800"),
])
def test_bad_localization_setups_stop_before_training(data, capsys, changes, message):
    if changes.pop("timestamps", None):
        (data / "train" / "timestamps").write_text("train_000 0.8 bonafide 0.0-0.8-bonafide\n")
    if changes.pop("dev_timestamps", None):
        lines = open(data / "dev" / "timestamps").read().splitlines()
        lines[0] = "dev_000 0.5 bonafide 0.0-0.5-bonafide"
        (data / "dev" / "timestamps").write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit):
        run(data, data / "exp", **changes)
    assert message in capsys.readouterr().err
    assert not (data / "exp" / "tensorboard").exists()
