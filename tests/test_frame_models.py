"""Localization models: frame logits on the label grid, padding-invariant, every trainable
parameter trained; the multi-resolution loss labels; the registry's checks."""

import pytest
import torch

from wedefense.models.frame_loss import IGNORE, coarse_labels, localization_loss, loss_weights
from wedefense.models.frame_model import min_margin_logits, pool_time
from wedefense.models.registry import build_model
from wedefense.utils.errors import InputError

CNN = {"classes": ["bonafide", "spoof"], "model": "FrameCNN", "frontend": "fbank",
       "frontend_args": {"num_mel_bins": 16, "snip_edges": False},
       "model_args": {"channels": [4, 8], "embed_dim": 16}}


def ssl_config(name, **extra):
    from tests.test_ssl import tiny_config
    args = {"SSL_FrameMHFA": {"num_heads": 2, "compression_dim": 8, "embed_dim": 16,
                              "context": 2},
            "SSL_SLS": {"hidden_dim": 16, "embed_dim": 16},
            "SSL_MultiReso": {"embed_dim": 16}}[name]
    # the tiny SSL model hops 20 samples: 1.25 ms frames, so a 16 kHz "20 ms" grid is 20 samples
    return {"classes": ["bonafide", "spoof"], "frontend": "ssl",
            "frontend_args": {"config": tiny_config()}, "model": name, "model_args": args,
            "frame_resolution": 0.00125, **extra}


def configs():
    yield "cnn", CNN
    yield "cnn_40ms", {**CNN, "frame_resolution": 0.04}
    pytest.importorskip("transformers")
    for name in ("SSL_FrameMHFA", "SSL_SLS", "SSL_MultiReso"):
        yield name, ssl_config(name)


@pytest.mark.parametrize("name,config", list(configs()), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_frame_logits_on_the_label_grid_and_padding_invariant(name, config):
    torch.manual_seed(0)
    model = build_model(config).eval()
    hop = model.hop_samples
    lengths = torch.tensor([40 * hop, 25 * hop + 7, 13 * hop])
    wavs = 0.1 * torch.randn(3, int(lengths.max()))
    frame, frame_lengths, utt = model(wavs, lengths)
    assert frame.shape == (3, 40, 2) and frame_lengths.tolist() == [40, 26, 13]
    for i in range(3):  # an utterance alone scores as it does in a padded batch
        n = int(lengths[i])
        alone, _, alone_utt = model(wavs[i:i + 1, :n], lengths[i:i + 1])
        torch.testing.assert_close(alone[0], frame[i, :frame_lengths[i]], atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(alone_utt[0], utt[i], atol=2e-5, rtol=1e-4)
    # every trainable parameter gets a gradient (distributed training needs it)
    model.train()
    out = model.training_outputs(wavs, lengths)
    labels = torch.randint(0, 2, frame.shape[:2])
    labels[1, 26:] = IGNORE
    labels[2, 13:] = IGNORE
    loss, parts = localization_loss(out, labels, loss_weights({"loss_args": {
        "utterance_weight": 1.0}}), model.bonafide_index)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing
    assert ("branch" in parts) == (name == "SSL_MultiReso")


def test_utterance_logits_without_a_branch_are_the_minimum_llr_frame():
    frame = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [1.0, 0.5], [-9.0, 9.0]]])
    # frame 3 is padding: the minimum bona fide - spoof margin among valid frames is frame 1
    assert min_margin_logits(frame, torch.tensor([3]), 0).tolist() == [[0.0, 1.0]]
    assert min_margin_logits(frame, torch.tensor([3]), 1).tolist() == [[2.0, 0.0]]


def test_coarse_labels_are_spoof_if_any_frame_is():
    labels = torch.tensor([[0, 0, 0, 1, 0, 0, 0, IGNORE], [1, 0, IGNORE, IGNORE, IGNORE,
                                                            IGNORE, IGNORE, IGNORE]])
    assert coarse_labels(labels, 2, 0).tolist() == [[0, 1, 0, 0], [1, IGNORE, IGNORE, IGNORE]]
    assert coarse_labels(labels, 4, 0).tolist() == [[1, 0], [1, IGNORE]]
    assert coarse_labels(labels[:, :7], 4, 0).tolist() == [[1, 0], [1, IGNORE]]


def test_pool_time_averages_valid_frames_only():
    x = torch.arange(1.0, 6.0).view(1, 5, 1)
    pooled, lengths = pool_time(x, torch.tensor([5]), 2)
    assert pooled.flatten().tolist() == [1.5, 3.5, 5.0] and lengths.tolist() == [3]


@pytest.mark.parametrize("changes,message", [
    ({"frame_resolution": 0.025}, "not a whole multiple of the front-end's frame shift"),
    ({"classes": ["bonafide", "tts", "vc"]}, "needs two classes"),
    ({"projection_args": {"project_type": "linear"}}, "projection_args do not apply"),
    ({"frame_head": "gmlp"}, "unknown frame_head 'gmlp'"),
    ({"frame_head_args": {"levels": 3}}, "frame_head_args: unknown argument"),
    ({"task": "detection"}, "needs task 'localization'"),
    ({"model": "ResNet18", "task": "localization", "model_args": {}}, "utterance-level"),
])
def test_registry_names_what_is_wrong(changes, message):
    with pytest.raises(InputError, match=message):
        build_model({**CNN, **changes})


def test_bad_loss_args():
    with pytest.raises(InputError, match="utterance_weight must be a number >= 0"):
        loss_weights({"loss_args": {"utterance_weight": -1}})


def localization_configs():
    import glob
    import os

    from tests.conftest import REPO
    return sorted(glob.glob(os.path.join(REPO, "egs", "localization", "*", "v*", "conf",
                                         "*.yaml")))


@pytest.mark.parametrize("path", localization_configs(), ids=lambda p: p.split("egs/")[-1])
def test_every_localization_recipe_config_builds(path):
    from wedefense.models.frame_loss import loss_weights
    from wedefense.utils.config import load_yaml

    config = load_yaml(path)
    assert config["task"] == "localization"
    loss_weights(config)
    if config["frontend"] == "ssl":  # checkpoints are not here: the same back-end, tiny SSL
        from tests.test_ssl import tiny_config
        config["frontend_args"] = {"config": tiny_config()}
        config["model_args"] = {k: v for k, v in config["model_args"].items()
                                if k not in ("embed_dim", "hidden_dim", "compression_dim")}
        config["frame_resolution"] = 0.00125  # the tiny model's hop
    model = build_model(config).eval()
    frame, lengths, utt = model(0.1 * torch.randn(1, 8000))
    assert frame.shape == (1, int(lengths[0]), 2) and utt.shape == (1, 2)
