"""Shared checks for the synthetic-cine tests: brightness either side of a label, spline fits."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from echomark.geometry.curves import curve_distances, sample_curve
from echomark.labels.schema import ImageLabels
from echomark.synth.cine import sample_video, true_labels


def inside_outside_means(
    img: npt.NDArray[np.floating], nodes: npt.ArrayLike, step: float
) -> tuple[float, float]:
    """Mean brightness ``step`` px inside and outside a closed-ish curve, along its normals.

    The curve is sampled every 2 px; its 5 end samples each side are skipped (the open ends of
    an LV outline sit on the valve, not on the wall). "Inside" is towards the samples' centroid.
    """
    dense = sample_curve(nodes, spacing=2.0)
    centre = dense.mean(axis=0)
    inside: list[float] = []
    outside: list[float] = []
    for p in dense[5:-5]:
        n = (p - centre) / np.linalg.norm(p - centre)
        for sign, bucket in ((-1, inside), (1, outside)):
            q = np.rint(p + sign * step * n).astype(int)
            bucket.append(img[q[1], q[0]])
    return float(np.mean(inside)), float(np.mean(outside))


def true_curve_fits(view: str) -> Iterator[tuple[ImageLabels, dict[str, npt.NDArray[np.float64]]]]:
    """(labels, exact dense curves) of frames 0 and 9 of three seeded 20-frame videos."""
    for seed in range(3):
        spec = sample_video(view, np.random.default_rng(seed), n_frames=20)
        for f in (0, 9):
            yield true_labels(spec, f)


def spline_gap(nodes: npt.ArrayLike, dense: npt.NDArray[np.float64]) -> float:
    """Hausdorff distance (px) between a label's spline and the exact curve it was fitted to."""
    return curve_distances(sample_curve(nodes, spacing=1.0), dense[::2])[1]
