"""HRNet keypoint and curve network, variants as data (torch)."""

from echomark.models.hrnet import (
    HEAD_BIAS,
    OUTPUT_STRIDES,
    VARIANTS,
    BlockKind,
    HRNet,
    HRNetSpec,
    StageSpec,
    build_model,
    output_strides,
)
from echomark.models.info import ModelInfo, count_flops, count_parameters, model_info

__all__ = [
    "HEAD_BIAS",
    "OUTPUT_STRIDES",
    "VARIANTS",
    "BlockKind",
    "HRNet",
    "HRNetSpec",
    "ModelInfo",
    "StageSpec",
    "build_model",
    "count_flops",
    "count_parameters",
    "model_info",
    "output_strides",
]
