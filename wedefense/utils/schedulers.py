"""Learning-rate schedules as per-step multipliers of the optimizer's base lr."""

import math

from wedefense.utils.errors import InputError


def lr_multiplier(name, total_steps, warmup_steps=0, final_ratio=0.01):
    """``step -> factor``: linear warm-up, then ``exponential`` or ``cosine`` decay from 1 to
    ``final_ratio`` at ``total_steps``, or ``constant``."""
    if name not in ("exponential", "cosine", "constant"):
        raise InputError(f"unknown scheduler '{name}' (known: exponential, cosine, constant)")

    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if name == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        if name == "exponential":
            return final_ratio ** progress
        return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor
