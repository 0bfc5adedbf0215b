"""Splines, curve sampling, lengths, distances and 3x3 point transforms (numpy only)."""

from echomark.geometry.curves import (
    arc_lengths,
    curve_distances,
    curve_length,
    dedupe_nodes,
    dense_curve,
    dense_curves,
    point_to_polyline_distance,
    polyline_length,
    resample_polyline,
    sample_curve,
    spline_points,
    spline_points_many,
)
from echomark.geometry.transform import apply_matrix, as_matrix, is_affine, max_scale

__all__ = [
    "apply_matrix",
    "arc_lengths",
    "as_matrix",
    "curve_distances",
    "curve_length",
    "dedupe_nodes",
    "dense_curve",
    "dense_curves",
    "is_affine",
    "max_scale",
    "point_to_polyline_distance",
    "polyline_length",
    "resample_polyline",
    "sample_curve",
    "spline_points",
    "spline_points_many",
]
