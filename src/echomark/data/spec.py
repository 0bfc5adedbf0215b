"""What decoding needs to know about a trained model, and heatmaps -> source-pixel labels.

Below both ``train`` (tune metrics) and ``predict``, so that training measures exactly what
prediction outputs without importing it. numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from echomark.data.config import DataConfig
from echomark.data.transforms import invert, transform_labels
from echomark.heatmaps.codec import decode
from echomark.labels.schema import ImageLabels

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ModelSpec:
    """What prediction needs to know about a trained model besides its weights.

    Attributes:
        channels: Output label names, in output-channel order.
        kinds: ``LabelKind`` of each channel.
        data: The data config used in training (input size, resize mode, channels).
        variant: Network variant name (for messages and export).
    """

    channels: tuple[str, ...]
    kinds: tuple[Any, ...]
    data: DataConfig
    variant: str = ""

    @property
    def codec(self) -> Any:
        """The heatmap codec config (strides, sigmas, thresholds)."""
        return self.data.codec


def decode_one(
    heatmaps: Sequence[npt.NDArray[np.float32]], spec: ModelSpec, matrix: Matrix
) -> ImageLabels:
    """Decode one image's per-stride heatmaps (K, h, w) into source-pixel labels.

    Args:
        heatmaps: One (K, h, w) array per codec stride, in network-input geometry.
        spec: The model's channels, kinds and data config.
        matrix: The source -> network-input matrix the image was warped with.

    Returns:
        Labels in source-image pixels.
    """
    labels = decode(list(heatmaps), list(spec.channels), list(spec.kinds), spec.codec)
    return transform_labels(labels, invert(matrix))
