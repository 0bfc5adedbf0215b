import contextlib

import pytest
import torch

from echomark.models import precision
from echomark.models.precision import autocast, autocast_dtype

CUDA = torch.device("cuda")


@pytest.mark.parametrize(
    ("native_bf16", "allow_fp16", "expected"),
    [
        (True, False, torch.bfloat16),
        (True, True, torch.bfloat16),
        (False, True, torch.float16),  # inference on a pre-Ampere GPU
        (False, False, None),  # training there stays float32 (no gradient scaler)
    ],
)
def test_cuda_dtype_choice(monkeypatch, native_bf16, allow_fp16, expected) -> None:
    seen = {}

    def fake(including_emulation: bool = True) -> bool:
        seen["emulation"] = including_emulation
        return native_bf16

    monkeypatch.setattr(precision.torch.cuda, "is_bf16_supported", fake)
    assert autocast_dtype(CUDA, allow_fp16=allow_fp16) is expected
    assert seen == {"emulation": False}  # emulated bfloat16 is slower than float32


def test_cpu_and_disabled_are_plain_float32() -> None:
    assert autocast_dtype(torch.device("cpu"), allow_fp16=True) is None
    assert isinstance(autocast(torch.device("cpu"), True), contextlib.nullcontext)
    assert isinstance(autocast(CUDA, False), contextlib.nullcontext)
    x = torch.ones(2, 2)
    with autocast(torch.device("cpu"), True):
        assert (x @ x).dtype is torch.float32
