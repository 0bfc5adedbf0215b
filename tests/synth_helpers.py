"""Shared checks for the synthetic-cine tests: image brightness either side of a label."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from echomark.geometry.curves import sample_curve


def inside_outside_means(
    img: npt.NDArray[np.floating], nodes: npt.ArrayLike, step: float
) -> tuple[float, float]:
    """Mean brightness ``step`` px inside and outside a closed-ish curve, along its normals.

    The curve is sampled every 2 px; its 5 end samples each side are skipped (the open ends of
    an LV outline sit on the valve, not on the wall). "Inside" is towards the samples' centroid.
    """
    dense = sample_curve(nodes, spacing=2.0)
    centre = dense.mean(axis=0)
    inside, outside = [], []
    for p in dense[5:-5]:
        n = (p - centre) / np.linalg.norm(p - centre)
        for sign, bucket in ((-1, inside), (1, outside)):
            q = np.rint(p + sign * step * n).astype(int)
            bucket.append(img[q[1], q[0]])
    return float(np.mean(inside)), float(np.mean(outside))
