"""Validation under mixed precision: the head's dev scores are not quantised to bf16."""

import numpy as np
import pytest
import torch

from tests.test_train import TINY_CONFIG, make_set
from wedefense.dataset.dataset import read_raw_list
from wedefense.dataset.tables import read_labels
from wedefense.models.registry import build_model
from wedefense.training import detection


def bf16_on_cpu(device, amp):
    """detection.autocast_context with CPU bf16 autocast standing in for CUDA's."""
    assert amp == "bf16"
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16)


@pytest.mark.parametrize("project_type", ["linear", "oc_softmax"])
def test_validation_head_runs_in_float32_under_autocast(tmp_path, monkeypatch, project_type):
    make_set(tmp_path, "dev", 24, seed=2)
    config = dict(TINY_CONFIG, amp="bf16", class_counts=[10, 30],
                  projection_args={"project_type": project_type})
    torch.manual_seed(0)
    model = build_model(config)
    items = read_raw_list(tmp_path / "dev" / "raw.list")
    labels = read_labels(tmp_path / "dev" / "utt2lab")
    seen = []

    def capture(logits, *args, **kwargs):
        seen.append(np.array(logits, dtype=np.float32))
        return real_logits_to_llr(logits, *args, **kwargs)

    real_logits_to_llr = detection.logits_to_llr
    embedding_dtypes = []
    real_embed = model.embed

    def embed(*args, **kwargs):
        embedding = real_embed(*args, **kwargs)
        embedding_dtypes.append(embedding.dtype)
        return embedding

    monkeypatch.setattr(model, "embed", embed)
    monkeypatch.setattr(detection, "logits_to_llr", capture)
    monkeypatch.setattr(detection, "autocast_context", bf16_on_cpu)
    detection.validate(model, items, config, labels, 0, 1, torch.device("cpu"))
    (logits,) = seen
    assert logits.shape == (24, 2)
    # bf16 logits keep 8 significant bits: a float32 logit survives a round trip through
    # bf16 only by chance (about 1 in 65536); a head run under autocast survives it always
    exact = torch.from_numpy(logits).bfloat16().float().numpy() == logits
    if project_type == "oc_softmax":
        exact = exact[:, model.projection.bonafide_index]  # the other column is a constant
    assert exact.mean() < 0.25, f"{exact.sum()} of {exact.size} logits are bf16 values"
    scores = logits[:, 0] - logits[:, 1]
    assert len(np.unique(scores)) == len(scores)
    # the embeddings are still computed under autocast (validation stays mixed precision)
    assert embedding_dtypes and set(embedding_dtypes) == {torch.bfloat16}
