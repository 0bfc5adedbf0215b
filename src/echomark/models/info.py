"""Model size and cost: parameter count and FLOPs at a given input size."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelInfo:
    """Size and cost of one model at one input size.

    Attributes:
        variant: Variant name.
        in_channels: Input channels.
        num_outputs: Heatmap channels K.
        input_hw: Input (H, W) the FLOPs were counted at.
        params: Number of parameters (trainable and frozen).
        gflops: Forward cost in GFLOPs, counted as 2 x multiply-accumulates (one multiply and
            one add each) over convolutions, transposed convolutions and matmuls, as
            ``torch.utils.flop_counter.FlopCounterMode`` reports it; BN, ReLU, sigmoid and
            upsampling are not counted.
        output_shapes: Shape of each output for batch 1.
    """

    variant: str
    in_channels: int
    num_outputs: int
    input_hw: tuple[int, int]
    params: int
    gflops: float
    output_shapes: tuple[tuple[int, ...], ...]


def count_parameters(model: nn.Module) -> int:
    """Total number of parameter elements."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[float, list[torch.Tensor]]:
    """Forward FLOPs (2 x MACs) of ``model`` on a zero tensor of ``input_shape``.

    Returns:
        ``(flops, outputs)``.
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            outputs = model(torch.zeros(input_shape))
    finally:
        model.train(was_training)
    return float(counter.get_total_flops()), list(outputs)


def model_info(
    variant: str, in_channels: int = 1, num_outputs: int = 1, input_hw: tuple[int, int] = (608, 608)
) -> ModelInfo:
    """Build ``variant`` and measure its parameters and FLOPs at ``input_hw``.

    >>> info = model_info("tiny", 1, 3, (64, 64))
    >>> info.output_shapes
    ((1, 3, 16, 16), (1, 3, 32, 32))
    """
    from echomark.models.hrnet import build_model

    model = build_model(variant, in_channels, num_outputs)
    flops, outputs = count_flops(model, (1, in_channels, *input_hw))
    return ModelInfo(
        variant=variant,
        in_channels=in_channels,
        num_outputs=num_outputs,
        input_hw=input_hw,
        params=count_parameters(model),
        gflops=flops / 1e9,
        output_shapes=tuple(tuple(o.shape) for o in outputs),
    )
