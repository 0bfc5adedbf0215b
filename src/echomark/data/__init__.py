"""PyTorch datasets and image/label transforms (one 3x3 matrix for both).

``echomark.data.transforms`` and ``echomark.data.config`` need only numpy and OpenCV, so
inference and evaluation can fit images and map predictions back without torch; the
torch ``EchoDataset`` is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from echomark.data.config import AugmentConfig, DataConfig, ResizeMode
from echomark.data.transforms import (
    apply_to_points,
    crop_pad_matrix,
    fit_matrix,
    invert,
    letterbox_matrix,
    random_affine,
    to_channels,
    transform_labels,
    warp_image,
)

if TYPE_CHECKING:
    from echomark.data.dataset import EchoDataset, SkippedImage, collate

__all__ = [
    "AugmentConfig",
    "DataConfig",
    "EchoDataset",
    "ResizeMode",
    "SkippedImage",
    "apply_to_points",
    "collate",
    "crop_pad_matrix",
    "fit_matrix",
    "invert",
    "letterbox_matrix",
    "random_affine",
    "to_channels",
    "transform_labels",
    "warp_image",
]

_LAZY = {"EchoDataset", "SkippedImage", "collate"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from echomark.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'echomark.data' has no attribute {name!r}")
