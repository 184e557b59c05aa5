"""Mixed precision: the autocast context a config's ``amp`` (none, bf16, fp16) asks for."""

import torch


def autocast_context(device, amp):
    """Autocast on CUDA only; elsewhere a disabled context (CPU runs stay float32)."""
    if device.type != "cuda" or amp in (None, "none", False):
        return torch.autocast(device_type=device.type, enabled=False)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    return torch.autocast(device_type="cuda", dtype=dtype)
