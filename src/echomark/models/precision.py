"""Mixed-precision autocast shared by training and prediction, so both run the same numerics."""

from __future__ import annotations

import contextlib
from typing import Any

import torch


def autocast_dtype(device: torch.device, *, allow_fp16: bool = False) -> torch.dtype | None:
    """The autocast dtype for ``device``, or None for plain float32.

    bfloat16 on CUDA devices that run it natively (Ampere and later): it has float32's range,
    so training needs no loss scaling, and a model trained in it predicts in it. Older GPUs
    get float16 only when ``allow_fp16`` (inference; training would need a gradient scaler).
    CPU and other devices stay in float32.

    Args:
        device: Where the model runs.
        allow_fp16: Fall back to float16 where bfloat16 is not native.

    Returns:
        ``torch.bfloat16``, ``torch.float16`` or None.

    >>> autocast_dtype(torch.device("cpu")) is None
    True
    """
    if device.type != "cuda":
        return None
    if torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.bfloat16
    return torch.float16 if allow_fp16 else None


def autocast(
    device: torch.device, enabled: bool, *, allow_fp16: bool = False
) -> contextlib.AbstractContextManager[Any]:
    """An autocast context per :func:`autocast_dtype` (a no-op when disabled or float32)."""
    dtype = autocast_dtype(device, allow_fp16=allow_fp16) if enabled else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
