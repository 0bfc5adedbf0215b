"""Splines, curve sampling, lengths and distances (numpy only)."""

from echomark.geometry.curves import (
    curve_distances,
    curve_length,
    dedupe_nodes,
    point_to_polyline_distance,
    polyline_length,
    resample_polyline,
    sample_curve,
)

__all__ = [
    "curve_distances",
    "curve_length",
    "dedupe_nodes",
    "point_to_polyline_distance",
    "polyline_length",
    "resample_polyline",
    "sample_curve",
]
