"""Frozen front-end warm-up: the optimizer must not count the frozen steps for the front-end."""

import pytest
import torch
from torch import nn

from wedefense.models.param_groups import build_param_groups, group_lr_lambdas


class TinyFrontend(nn.Module):
    """Blocks its gradients like the SSL front-end: zero, not missing."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.grad_blocked = False

    def forward(self, x):
        y = self.lin(x)
        return y.detach() + 0.0 * y if self.grad_blocked else y


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.frontend = TinyFrontend()
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(torch.tanh(self.frontend(x)))


@pytest.mark.parametrize("optimizer_name", ["Adam", "AdamW"])
def test_first_update_after_frozen_warmup_has_adams_first_step_size(optimizer_name):
    torch.manual_seed(0)
    model = Tiny()
    lr, frozen = 0.01, 20
    config = {"optimizer_args": {"lr": lr}, "frozen_frontend_steps": frozen}
    optimizer = getattr(torch.optim, optimizer_name)(build_param_groups(model, config), lr=lr,
                                                     weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, group_lr_lambdas(optimizer, lambda step: 1.0, model, config))
    weight = model.frontend.lin.weight
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    for step in range(frozen + 1):
        before = weight.detach().clone()
        loss = ((model(x) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        grad = weight.grad.clone()
        optimizer.step()
        scheduler.step()
        if step < frozen:
            assert torch.equal(weight, before)
    # the first real step: Adam moves each weight by lr * g / (|g| + eps), i.e. about lr
    assert grad.abs().min() > 1e-5
    assert (weight.detach() - before).abs() == pytest.approx(torch.full_like(before, lr),
                                                             rel=0.01)
    assert float(optimizer.state[weight]["step"]) == 1
