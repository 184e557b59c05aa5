"""SSL front-ends (wav2vec 2.0 / HuBERT / WavLM via transformers) with the MHFA, AASIST and
pooling back-ends: tiny randomly initialised models built from config objects, nothing
downloaded."""

import glob
import os

import pytest
import torch
import yaml

transformers = pytest.importorskip("transformers")

from tests.conftest import REPO  # noqa: E402
from tests.test_train import make_set, train_args  # noqa: E402
from wedefense.bin import train  # noqa: E402
from wedefense.frontend.ssl import SSLFrontend, masked_standardize  # noqa: E402
from wedefense.inference import bundle  # noqa: E402
from wedefense.models.param_groups import build_param_groups, group_lr_lambdas  # noqa: E402
from wedefense.models.registry import build_model, load_trained_model  # noqa: E402
from wedefense.utils.checkpoint import load_checkpoint  # noqa: E402
from wedefense.utils.config import load_yaml  # noqa: E402
from wedefense.utils.errors import InputError  # noqa: E402

CLASSES = ["bonafide", "spoof"]
# conv stack (kernels 10, 3, 3; strides 5, 2, 2): 40-sample receptive field, 20-sample hop
TINY_ARCH = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 conv_dim=[16, 16, 16], conv_stride=[5, 2, 2], conv_kernel=[10, 3, 3],
                 num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                 feat_extract_norm="layer", do_stable_layer_norm=True)
CONFIGS = {"wav2vec2": transformers.Wav2Vec2Config, "hubert": transformers.HubertConfig,
           "wavlm": transformers.WavLMConfig}
BACKENDS = {"SSL_MHFA": {"num_heads": 4, "compression_dim": 8, "embed_dim": 16},
            "SSL_Pool": {"pooling": "ASTP", "pooling_args": {"bottleneck_dim": 8},
                         "proj_dim": 12, "embed_dim": 16},
            "SSL_AASIST": {"proj_dim": 24, "channels": [4, 8], "gat_dims": [8, 8]}}


def tiny_config(model_type="wav2vec2", **overrides):
    """A transformers config object (the front-end also takes the same as a dict)."""
    return CONFIGS[model_type](**{**TINY_ARCH, **overrides})


def tiny_model(backend="SSL_MHFA", model_type="wav2vec2", frontend_args=None, **config):
    torch.manual_seed(0)
    return build_model({"classes": CLASSES, "frontend": "ssl",
                        "frontend_args": {"config": tiny_config(model_type),
                                          **(frontend_args or {})},
                        "model": backend, "model_args": BACKENDS[backend], **config})


@pytest.mark.parametrize("backend,model_type", [("SSL_MHFA", "wav2vec2"),
                                                ("SSL_Pool", "hubert"),
                                                ("SSL_AASIST", "wavlm")])
def test_forward_backward_reaches_every_trainable_parameter(backend, model_type):
    model = tiny_model(backend, model_type).train()
    assert model.frontend.num_layers == 3 and model.frontend.feature_dim == 32
    assert not model.mean_norm
    wavs = 0.1 * torch.randn(3, 4000)
    labels = torch.tensor([0, 1, 1])
    logits = model(wavs, torch.tensor([4000, 3000, 2500]), labels)
    assert logits.shape == (3, 2)
    model.projection.loss(logits, labels).backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    # the conv feature encoder is frozen by default when fine-tuning; the transformer is not
    assert not any(n.startswith("frontend.model.feature_extractor") for n in trainable)
    assert any(n.startswith("frontend.model.encoder") for n in trainable)
    # distributed training needs a gradient for every trainable parameter
    missing = [n for n, p in trainable.items() if p.grad is None]
    assert not missing, missing
    assert all(torch.isfinite(p.grad).all() for p in trainable.values())
    assert model.eval().embed(wavs).shape == (3, model.backbone.embed_dim)


def test_hidden_layers_and_frame_lengths():
    frontend = SSLFrontend(config=tiny_config()).eval()
    lengths = torch.tensor([4000, 3999, 61, 40, 39])
    hidden, frames = frontend(0.1 * torch.randn(5, 4000), lengths)
    assert hidden.shape == (5, 3, 199, 32)
    expected = frontend.model._get_feat_extract_output_lengths(lengths)
    assert frames.tolist() == expected.tolist() == [199, 198, 2, 1, 0]
    assert frontend.frame_length == 40 and frontend.frame_shift == 20
    # the last layer is the model's output (after its final layer norm)
    out = frontend.model(0.1 * torch.randn(1, 400), output_hidden_states=True)
    assert len(out.hidden_states) == frontend.num_layers


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_padded_batch_equals_lone_utterances(model_type):
    """Layer-norm feature encoders (feat_extract_norm: layer) are padding-invariant."""
    model = tiny_model("SSL_MHFA", model_type).eval()
    lengths = torch.tensor([6000, 4100, 1500])
    wavs = 0.1 * torch.randn(3, 6000)
    wavs[1, 4100:] = 0.9  # garbage padding
    wavs[2, 1500:] = -0.5
    with torch.no_grad():
        hidden, frames = model.frontend(wavs, lengths)
        batched = model.embed(wavs, lengths)
        for i, n in enumerate(lengths):
            lone_hidden, lone_frames = model.frontend(wavs[i:i + 1, :n], lengths[i:i + 1])
            assert lone_frames[0] == frames[i]
            torch.testing.assert_close(hidden[i, :, :frames[i]], lone_hidden[0],
                                       atol=2e-5, rtol=1e-4)
            torch.testing.assert_close(batched[i], model.embed(wavs[i:i + 1, :n])[0],
                                       atol=2e-5, rtol=1e-4)


def test_group_norm_feature_encoder_is_not_padding_invariant():
    """The documented limitation: feat_extract_norm "group" (wav2vec 2.0 base style) normalises
    over the padded time axis, so padding changes the valid frames."""
    frontend = SSLFrontend(config=tiny_config(feat_extract_norm="group",
                                              do_stable_layer_norm=False)).eval()
    wavs = 0.1 * torch.randn(2, 4000)
    with torch.no_grad():
        hidden, frames = frontend(wavs, torch.tensor([4000, 2000]))
        alone, _ = frontend(wavs[1:, :2000], torch.tensor([2000]))
    assert (hidden[1, :, :frames[1]] - alone[0]).abs().max() > 1e-3


def test_waveform_normalisation_ignores_padding():
    wav = torch.randn(2, 100)
    valid = torch.arange(100).unsqueeze(0) < torch.tensor([[100], [60]])
    out = masked_standardize(wav, valid)
    torch.testing.assert_close(out[1, :60], masked_standardize(wav[1:, :60],
                                                               valid[1:, :60])[0])
    assert out[1, 60:].abs().max() == 0
    assert abs(out[1, :60].mean()) < 1e-5 and abs(out[1, :60].std(unbiased=False) - 1) < 1e-3


def test_frozen_frontend_stays_frozen():
    model = tiny_model(frontend_args={"freeze": True}, optimizer_args={"lr": 0.1})
    frontend = model.frontend
    assert all(not p.requires_grad for p in frontend.parameters())
    model.train()
    assert not frontend.model.training and model.backbone.training  # no dropout when frozen
    before = {k: v.clone() for k, v in frontend.state_dict().items()}
    backbone_before = [p.detach().clone() for p in model.backbone.parameters()]
    optimizer = torch.optim.AdamW(build_param_groups(model, {"optimizer_args": {"lr": 0.1}}),
                                  lr=0.1, weight_decay=0.1)
    labels = torch.tensor([0, 1])
    for _ in range(2):
        loss = model.projection.loss(model(0.1 * torch.randn(2, 3000), None, labels), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert all(p.grad is None for p in frontend.parameters())
    for k, v in frontend.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert any(not torch.equal(a, b) for a, b in zip(backbone_before,
                                                     model.backbone.parameters()))


def test_lr_ratio_groups_and_frozen_warmup_steps():
    model = tiny_model()
    assert build_param_groups(model, {}) == list(model.parameters())  # nothing asked: as before
    config = {"optimizer_args": {"lr": 0.01}, "frontend_lr_ratio": 0.1,
              "frozen_frontend_steps": 2}
    groups = build_param_groups(model, config)
    assert [g["name"] for g in groups] == ["backend", "frontend"]
    front = {id(p) for p in model.frontend.parameters() if p.requires_grad}
    assert {id(p) for p in groups[1]["params"]} == front
    assert not front & {id(p) for p in groups[0]["params"]}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(trainable)

    optimizer = torch.optim.AdamW(groups, lr=0.01, weight_decay=0.1)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(0.001)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, group_lr_lambdas(optimizer, lambda step: 0.5, model, config))
    labels = torch.tensor([0, 1])
    snapshots = []
    for step in range(3):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.005)
        assert optimizer.param_groups[1]["lr"] == pytest.approx(0.0 if step < 2 else 0.0005)
        before = [p.detach().clone() for p in groups[1]["params"]]
        loss = model.projection.loss(model(0.1 * torch.randn(2, 3000), None, labels), labels)
        optimizer.zero_grad()
        loss.backward()
        grads = [p.grad for p in groups[1]["params"]]
        assert all(g is not None for g in grads)  # zero, not missing: DDP-safe
        snapshots.append((before, all(g.abs().max() == 0 for g in grads)))
        optimizer.step()
        scheduler.step()
        moved = any(not torch.equal(a, b) for a, b in zip(before, groups[1]["params"]))
        assert moved == (step >= 2)
    assert [blocked for _, blocked in snapshots] == [True, True, False]
    with pytest.raises(ValueError, match="optimizer_args.lr"):
        build_param_groups(model, {"optimizer_args": {}, "frontend_lr_ratio": 0.1})


def test_gradient_checkpointing_gives_the_same_gradients():
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(frontend_args={"gradient_checkpointing": checkpointing}).train()
        model.frontend.model.config.hidden_dropout = 0.0
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        torch.manual_seed(1)
        wavs = 0.1 * torch.randn(2, 3000)
        labels = torch.tensor([0, 1])
        model.projection.loss(model(wavs, None, labels), labels).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.frontend.parameters()
                                if p.requires_grad]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)


def test_checkpoint_round_trip_and_rebuild_from_architecture(tmp_path):
    model = tiny_model("SSL_Pool").eval()
    wavs = 0.1 * torch.randn(2, 5000)
    lengths = torch.tensor([5000, 3300])
    with torch.no_grad():
        expected = model(wavs, lengths)
    torch.save({"model": model.state_dict()}, tmp_path / "model.pt")
    # a trained model rebuilds from its architecture alone; the checkpoint brings the weights
    arch = model.frontend.architecture_config()
    yaml.safe_dump(arch, open(tmp_path / "arch.yaml", "w"))  # a config.yaml can hold it
    rebuilt = build_model({"classes": CLASSES, "frontend": "ssl",
                           "frontend_args": {"config": load_yaml(tmp_path / "arch.yaml")},
                           "model": "SSL_Pool", "model_args": BACKENDS["SSL_Pool"]})
    rebuilt.load_state_dict(torch.load(tmp_path / "model.pt")["model"])
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(wavs, lengths), expected)


def test_from_pretrained_local_directory(tmp_path):
    torch.manual_seed(0)
    source = transformers.AutoModel.from_config(tiny_config())
    source.save_pretrained(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "preprocessor_config.json").write_text('{"do_normalize": true}')
    frontend = SSLFrontend(pretrained=str(tmp_path / "ckpt"),
                           config_overrides={"num_hidden_layers": 1})
    assert frontend.normalize_waveform and frontend.num_layers == 2
    assert frontend.model.config.layerdrop == 0.0
    loaded = frontend.model.state_dict()
    for k, v in source.state_dict().items():
        if k in loaded:
            assert torch.equal(loaded[k], v), k


def test_missing_local_checkpoint_is_an_input_error(tmp_path):
    """A missing checkpoint directory is bad user input (one ``error:`` line from the CLI), and
    the advice names no particular checkpoint: the recipe README says which one a config needs."""
    missing = str(tmp_path / "pretrained_models" / "wav2vec2-large-xlsr-53")
    with pytest.raises(InputError, match="not found") as info:
        SSLFrontend(pretrained=missing)
    message = str(info.value)
    assert missing in message
    assert "README" in message and "Pretrained checkpoint" in message
    assert "xls-r-300m" not in message
    with pytest.raises(InputError, match="not found"):
        SSLFrontend(pretrained="./no/such/checkpoint")


def test_registry_pairs_ssl_frontends_with_ssl_backends():
    with pytest.raises(ValueError, match="does not take frontend 'ssl'"):
        build_model({"classes": CLASSES, "frontend": "ssl", "model": "ResNet18",
                     "frontend_args": {"config": tiny_config()}})
    with pytest.raises(ValueError, match="does not take frontend 'fbank'"):
        build_model({"classes": CLASSES, "frontend": "fbank", "model": "SSL_MHFA"})
    with pytest.raises(ValueError, match="mean_norm"):
        tiny_model(mean_norm=True)
    with pytest.raises(ValueError, match="exactly one of"):
        SSLFrontend()
    with pytest.raises(ValueError, match="model_type"):
        SSLFrontend(config={"hidden_size": 32})


def test_export_torchscript_fails_clearly_onnx_works(tmp_path):
    model = tiny_model().eval()
    llr_model = bundle.LLRModel(model, CLASSES, [10, 30])
    # transformers models are not TorchScript-compatible: the bundle says so in one line
    with pytest.raises(InputError, match="TorchScript export of this model failed.*"
                                         "--no_torchscript skips it"):
        bundle._exporting("TorchScript", "--no_torchscript", bundle.export_torchscript,
                          llr_model, str(tmp_path / "model.ts"))
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    bundle.export_onnx(llr_model, str(tmp_path / "model.onnx"), 16000)
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    for wavs, lengths in [(0.1 * torch.randn(3, 7000), torch.tensor([7000, 5000, 900])),
                          (0.1 * torch.randn(1, 2000), torch.tensor([2000]))]:
        got = session.run(None, {"wav": wavs.numpy(), "lengths": lengths.numpy()})[0]
        with torch.no_grad():
            torch.testing.assert_close(torch.from_numpy(got), llr_model(wavs, lengths),
                                       atol=1e-4, rtol=1e-4)


SSL_RECIPE_CONFIGS = sorted(
    p for p in glob.glob(os.path.join(REPO, "egs", "detection", "*", "v*", "conf", "*.yaml"))
    if load_yaml(p).get("frontend") == "ssl")


@pytest.mark.parametrize("path", SSL_RECIPE_CONFIGS,
                         ids=[os.path.relpath(p, REPO) for p in SSL_RECIPE_CONFIGS])
def test_ssl_recipe_configs_build_with_a_tiny_architecture(path):
    """Recipe configs name a checkpoint that is not here; their back-end and training options
    are checked on a tiny architecture instead."""
    config = load_yaml(path)
    args = dict(config["frontend_args"])
    assert args.pop("pretrained")
    config["frontend_args"] = {**args, "config": tiny_config()}
    model = build_model(config)
    groups = build_param_groups(model, config)
    optimizer = getattr(torch.optim, config["optimizer"])(groups, **config["optimizer_args"])
    assert len(optimizer.param_groups) in (1, 2)
    assert model.eval()(0.1 * torch.randn(1, 16000)).shape == (1, len(config["classes"]))


def test_train_script_with_lr_ratio_and_frozen_warmup(tmp_path):
    make_set(tmp_path, "train", 8)
    make_set(tmp_path, "dev", 4, seed=1)
    config = {
        "classes": CLASSES, "seed": 3, "num_epochs": 2, "early_stop_patience": -1,
        "dataset_args": {"sample_rate": 16000, "chunk_len": 0.5},
        "dataloader_args": {"batch_size": 4, "num_workers": 0},
        "frontend": "ssl", "frontend_args": {"config": {"model_type": "wav2vec2", **TINY_ARCH}},
        "model": "SSL_MHFA", "model_args": BACKENDS["SSL_MHFA"],
        "optimizer": "AdamW", "optimizer_args": {"lr": 0.01, "weight_decay": 0.01},
        "frontend_lr_ratio": 0.1, "frozen_frontend_steps": 2,
        "scheduler": "constant",
    }
    with open(tmp_path / "conf.yaml", "w") as f:
        yaml.safe_dump(config, f)
    exp = tmp_path / "exp"
    train.main(train_args(tmp_path, exp))
    state = load_checkpoint(str(exp / "models" / "model_2.pt"))
    lrs = [g["lr"] for g in state["optimizer"]["param_groups"]]
    assert lrs == pytest.approx([0.01, 0.001])
    assert (exp / "models" / "best_model.pt").exists()


def test_bundle_does_not_need_the_pretrained_checkpoint(tmp_path):
    import shutil

    from wedefense.inference.detector import Detector
    from wedefense.utils.config import save_config

    torch.manual_seed(0)
    transformers.AutoModel.from_config(tiny_config()).save_pretrained(tmp_path / "ckpt")
    config = {"classes": CLASSES, "class_counts": [10, 30], "frontend": "ssl",
              "frontend_args": {"pretrained": str(tmp_path / "ckpt")},
              "model": "SSL_MHFA", "model_args": BACKENDS["SSL_MHFA"]}
    model = build_model(config).eval()
    save_config(config, tmp_path / "config.yaml")
    torch.save({"model": model.state_dict()}, tmp_path / "model.pt")
    bundle.export_bundle(str(tmp_path / "config.yaml"), str(tmp_path / "model.pt"),
                         str(tmp_path / "bundle"), torchscript=False, onnx=False)
    shutil.rmtree(tmp_path / "ckpt")  # the training machine's checkpoint is gone
    saved = load_yaml(tmp_path / "bundle" / "config.yaml")
    assert "pretrained" not in saved["frontend_args"]
    wav = 0.1 * torch.randn(16000)
    with torch.no_grad():
        expected = bundle.LLRModel(model, CLASSES, [10, 30])(wav[None], torch.tensor([16000]))
    detector = Detector.load(str(tmp_path / "bundle"))
    assert detector.score(wav.numpy(), 16000) == pytest.approx(float(expected[0]), abs=1e-4)


def test_a_relative_pretrained_directory_is_saved_absolute(tmp_path, monkeypatch):
    # the In-the-Wild recipe rebuilds models of other recipes from their exp config.yaml,
    # in its own directory, where a recipe-relative checkpoint path would not resolve
    make_set(tmp_path, "train", 4)
    make_set(tmp_path, "dev", 4, seed=1)
    transformers.AutoModel.from_config(tiny_config()).save_pretrained(tmp_path / "ckpt")
    config = {"classes": CLASSES, "num_epochs": 1, "early_stop_patience": -1,
              "dataset_args": {"sample_rate": 16000, "chunk_len": 0.5},
              "dataloader_args": {"batch_size": 4, "num_workers": 0},
              "frontend": "ssl", "frontend_args": {"pretrained": "./ckpt", "freeze": True},
              "model": "SSL_MHFA", "model_args": BACKENDS["SSL_MHFA"],
              "optimizer": "AdamW", "optimizer_args": {"lr": 0.01}, "scheduler": "constant"}
    with open(tmp_path / "conf.yaml", "w") as f:
        yaml.safe_dump(config, f)
    monkeypatch.chdir(tmp_path)
    train.main(train_args(tmp_path, tmp_path / "exp"))
    elsewhere = tmp_path / "other_recipe"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    saved, model = load_trained_model(str(tmp_path / "exp" / "config.yaml"),
                                      str(tmp_path / "exp" / "models" / "model_1.pt"))
    assert saved["frontend_args"]["pretrained"] == str(tmp_path / "ckpt")
