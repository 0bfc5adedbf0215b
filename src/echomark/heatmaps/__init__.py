"""Heatmap codec: encode labels to targets and weights, decode heatmaps to labels (numpy)."""

from echomark.heatmaps.codec import DEFAULT_ANCHORS, Encoded, decode, dense_curve, encode
from echomark.heatmaps.config import CodecConfig, StrideCombine

__all__ = [
    "DEFAULT_ANCHORS",
    "CodecConfig",
    "Encoded",
    "StrideCombine",
    "decode",
    "dense_curve",
    "encode",
]
