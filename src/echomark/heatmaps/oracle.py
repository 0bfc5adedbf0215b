"""Dense reference renderer (correctness oracle, speed baseline) and an A4C-like sample.

The oracle evaluates every target pixel: full-grid Gaussians for points, and for curves
the distance from every pixel to every segment of a dense polyline sampled per stride
(finer than the encoder's, by the one-curve :func:`~echomark.geometry.dense_curve` rather
than the encoder's batched :func:`~echomark.geometry.dense_curves`). It shares only that sampling, the
label-state rule (:func:`~echomark.heatmaps.codec.supervision`) and the matrix convention
with the fast encoder, none of its rendering.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from echomark.geometry.transform import apply_matrix
from echomark.heatmaps.codec import Encoded, KindLike, dense_curve, kind_name, supervision
from echomark.heatmaps.config import CodecConfig
from echomark.labels.schema import ImageLabels, Label

FloatArray = npt.NDArray[np.float64]


def encode_dense(
    labels: ImageLabels,
    channels: Sequence[str],
    kinds: Sequence[KindLike],
    matrix: npt.ArrayLike,
    input_hw: tuple[int, int],
    config: CodecConfig | None = None,
    *,
    spacing: float | None = None,
) -> list[Encoded]:
    """Reference version of :func:`echomark.heatmaps.encode`: every pixel, no windows.

    Args:
        labels: Label name -> Label, in source pixels.
        channels: Label names, one per channel.
        kinds: Kind of each channel.
        matrix: 3x3 source -> input pixel matrix.
        input_hw: Network input size (H, W).
        config: Codec settings.
        spacing: Dense-curve spacing in target px (default: half the encoder's).

    Returns:
        One :class:`Encoded` per stride, like ``encode``.
    """
    cfg = config or CodecConfig()
    sp = cfg.curve_spacing / 2 if spacing is None else spacing
    m = np.asarray(matrix, np.float64)
    out = []
    for s in cfg.strides:
        h, w = cfg.target_hw(input_hw, s)
        heat = np.zeros((len(channels), h, w), np.float32)
        weights = np.zeros(len(channels), np.float32)
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
        grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
        for k, (name, kind) in enumerate(zip(channels, kinds, strict=True)):
            kname = kind_name(kind)
            weights[k], instances = supervision(labels.get(name), kname)
            for inst in instances:
                if kname == "point":
                    c = apply_matrix(m, inst.xy)[0] / s
                    d2 = ((grid - c) ** 2).sum(axis=1)
                    sigma = cfg.sigma_point
                else:
                    poly = dense_curve(inst, m, sp * s) / s
                    d2 = dense_distance2(gx.ravel(), gy.ravel(), poly)
                    sigma = cfg.sigma_curve
                g = np.exp(-0.5 * d2 / sigma**2).reshape(h, w).astype(np.float32)
                np.maximum(heat[k], g, out=heat[k])
        out.append(Encoded(stride=s, heatmaps=heat, weights=weights))
    return out


def dense_distance2(gx: FloatArray, gy: FloatArray, poly: FloatArray) -> FloatArray:
    """Squared distance from every pixel to every segment of ``poly``, minimised (float32).

    Pixels x segments work in blocks of 128 segments, in single precision (this is the
    slow reference; float32 keeps it to seconds at 608 px).
    """
    x = gx.astype(np.float32)[:, None]
    y = gy.astype(np.float32)[:, None]
    p = np.asarray(poly, np.float64).reshape(-1, 2)
    if len(p) == 1:
        return ((gx - p[0, 0]) ** 2 + (gy - p[0, 1]) ** 2).astype(np.float64)
    a = p[:-1].astype(np.float32)
    d = np.diff(p, axis=0)
    dd = (d * d).sum(axis=1)
    inv = np.divide(1.0, dd, out=np.zeros_like(dd), where=dd > 0).astype(np.float32)
    d32 = d.astype(np.float32)
    best = np.full(len(gx), np.inf, np.float32)
    for j in range(0, len(a), 128):
        qx = x - a[j : j + 128, 0]
        qy = y - a[j : j + 128, 1]
        dx = d32[j : j + 128, 0]
        dy = d32[j : j + 128, 1]
        t = np.clip((qx * dx + qy * dy) * inv[j : j + 128], 0.0, 1.0)
        ex = qx - t * dx
        ey = qy - t * dy
        np.minimum(best, (ex * ex + ey * ey).min(axis=1), out=best)
    return best.astype(np.float64)


#: Twelve A4C landmark channels of the label registry (used by :func:`a4c_like_sample`).
A4C_POINTS = (
    "lv-apex-endo",
    "lv-apex-epi",
    "mv-ant-hinge",
    "mv-post-hinge",
    "tv-ant-hinge",
    "tv-sep-hinge",
    "rv-apex-endo",
    "la-roof",
    "ra-roof",
    "lv-apex-trabec",
    "lv-apex-midmyo",
    "mv-ant-wall-hinge",
)
#: Eight A4C curve channels.
A4C_CURVES = (
    "curve-lv-endo",
    "curve-lv-trabec",
    "curve-lv-midmyo",
    "curve-rv-endo",
    "curve-la-endo",
    "curve-ra-endo",
    "curve-mv-hinge-connect",
    "curve-mv-ant-apex-connect",
)


def a4c_like_sample(
    seed: int = 0, n_channels: int = 40, input_hw: tuple[int, int] = (608, 608)
) -> tuple[ImageLabels, list[str], list[str], FloatArray, tuple[int, int]]:
    """A synthetic apical-4-chamber label set with realistic sizes at a 608 px input.

    Twelve points and eight curves (LV endo ~650 input px long, RV ~500, atria ~350, 9-11
    nodes each, one with a straight segment), the remaining channels alternately ``off`` and
    ``blurred``. Labels are in source pixels of an 800 x 600 frame, and the matrix
    letterboxes that frame into the input with a small random rotation and scale, as the
    data pipeline does.

    Returns:
        ``(labels, channels, kinds, matrix, input_hw)`` ready for ``encode``.

    >>> labels, channels, kinds, matrix, hw = a4c_like_sample()
    >>> len(channels), kinds.count("point"), kinds.count("curve"), hw
    (40, 32, 8, (608, 608))
    """
    rng = np.random.default_rng(seed)
    hh, ww = input_hw
    fs = min(hh, ww) / 608.0
    ang = np.deg2rad(rng.uniform(-10, 10))
    sc = 608.0 / 800.0 * rng.uniform(0.95, 1.05)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]]) * sc * fs
    matrix = np.eye(3)
    matrix[:2, :2] = rot
    matrix[:2, 2] = np.array([ww / 2, hh / 2]) - rot @ np.array([399.5, 299.5])
    inv = np.linalg.inv(matrix)

    def ellipse(
        cx: float, cy: float, ax: float, ay: float, t0: float, t1: float, n: int
    ) -> FloatArray:
        t = np.linspace(t0, t1, n)
        xy = np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t)], axis=1)
        xy += rng.normal(0, 2.0, xy.shape)
        return xy * fs

    # Input-pixel geometry (apex at the top), then mapped back to source pixels.
    lv = ellipse(380, 300, 85, 190, 0.1 * np.pi, -1.1 * np.pi, 11)
    shapes = {
        "curve-lv-endo": lv,
        "curve-lv-trabec": ellipse(380, 305, 78, 180, 0.12 * np.pi, -1.12 * np.pi, 11),
        "curve-lv-midmyo": ellipse(380, 295, 95, 200, 0.08 * np.pi, -1.08 * np.pi, 11),
        "curve-rv-endo": ellipse(215, 330, 70, 160, 0.05 * np.pi, -1.05 * np.pi, 9),
        "curve-la-endo": ellipse(380, 420, 80, 75, 1.1 * np.pi, -0.1 * np.pi, 9),
        "curve-ra-endo": ellipse(215, 425, 70, 70, 1.05 * np.pi, -0.05 * np.pi, 9),
        "curve-mv-hinge-connect": np.array([lv[0], (lv[0] + lv[-1]) / 2 + [0, 6], lv[-1]]),
        "curve-mv-ant-apex-connect": np.array([lv[-1], (lv[-1] + lv[5]) / 2, lv[5]]),
    }
    labels: ImageLabels = {}
    for name, xy in shapes.items():
        straight = None
        if name == "curve-lv-midmyo":
            straight = (True,) + (False,) * (len(xy) - 1)
        labels[name] = Label.curve(apply_matrix(inv, xy), straight)
    for name in A4C_POINTS:
        p = rng.uniform(0.1, 0.9, 2) * [ww, hh]
        labels[name] = Label.point(*apply_matrix(inv, p[None])[0])
    channels = list(A4C_POINTS) + list(A4C_CURVES)
    kinds = ["point"] * len(A4C_POINTS) + ["curve"] * len(A4C_CURVES)
    for i in range(n_channels - len(channels)):
        name = f"extra-{i:02d}"
        labels[name] = Label.off() if i % 2 == 0 else Label.blurred()
        channels.append(name)
        kinds.append("point")
    return labels, channels, kinds, matrix, input_hw
