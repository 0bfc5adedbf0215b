"""Encode labels into per-stride heatmap targets and weights; decode heatmaps into labels.

Conventions (``docs/conventions.md``): heatmap pixel ``i`` at stride ``s`` is input pixel
``s * i``, so a label at input ``x`` sits at heatmap ``x / s`` and a heatmap of an ``H x W``
input is ``ceil(H / s) x ceil(W / s)``. Targets are float32 with peak 1.0.

Curves and the input matrix: the curve is defined in **source** pixels (natural cubic
spline by chord length through the expert's control points, straight segments honoured).
An affine map does not commute with chord-length spline interpolation, so the encoder
samples the curve densely in source pixels and maps the dense points through ``matrix``
(:func:`echomark.geometry.dense_curves`): the target curve is exactly the image of the
source curve, up to the sub-0.01 px chord error of the dense sampling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from echomark.geometry.curves import dense_curve as geometry_dense_curve
from echomark.geometry.curves import dense_curves
from echomark.geometry.transform import apply_matrix, as_matrix
from echomark.heatmaps.config import CodecConfig
from echomark.heatmaps.decoding import decode_image
from echomark.heatmaps.render import curve_values, point_values
from echomark.labels.schema import ImageLabels, Instance, Label, LabelState

FloatArray = npt.NDArray[np.float64]

#: Kinds may be passed as ``LabelKind`` members or their string values.
KindLike = Enum | str


@dataclass(frozen=True, eq=False)
class Encoded:
    """Targets of one image at one stride.

    Attributes:
        stride: The stride ``s`` (heatmap pixel ``i`` is input pixel ``s * i``).
        heatmaps: float32 [K, ceil(H / s), ceil(W / s)], peak 1.0 (C-contiguous; the
            strides of one ``encode`` call are views into one shared buffer).
        weights: float32 [K]: 1 for point, curve and off labels, 0 for blurred, missing or
            invalid ones (masked from the loss).
    """

    stride: int
    heatmaps: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float32]


def kind_name(kind: KindLike) -> str:
    """Normalise a ``LabelKind`` member or string to ``"point"`` or ``"curve"``.

    >>> kind_name("CURVE")
    'curve'
    """
    value = kind.value if isinstance(kind, Enum) else kind
    name = str(value).lower()
    if name not in ("point", "curve"):
        raise ValueError(f"unknown label kind {kind!r}")
    return name


def dense_curve(
    instance: Instance, matrix: npt.ArrayLike, spacing_px: float, *, scale: float | None = None
) -> FloatArray:
    """:func:`echomark.geometry.dense_curve` of a curve instance (source -> input pixels).

    >>> inst = Instance(np.array([[0.0, 0.0], [10.0, 0.0]]))
    >>> dense_curve(inst, np.diag([2.0, 2.0, 1.0]), 5.0)[:, 0].tolist()
    [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]
    """
    return geometry_dense_curve(instance.xy, instance.straight, matrix, spacing_px, scale=scale)


def _valid_instances(label: Label, kind: str) -> tuple[Instance, ...] | None:
    """Instances usable for ``kind``, or None when the label cannot be rendered."""
    want = LabelState.POINT if kind == "point" else LabelState.CURVE
    if label.state is not want or not label.instances:
        return None
    for inst in label.instances:
        n = len(inst.xy)
        if not np.isfinite(inst.xy).all():
            return None
        if kind == "point" and n != 1:
            return None
        if kind == "curve" and (n < 2 or (inst.xy == inst.xy[0]).all()):
            return None
    return label.instances


def supervision(label: Label | None, kind: str) -> tuple[float, tuple[Instance, ...]]:
    """Loss weight and instances to draw for one channel (the label-state rules of ``encode``).

    Args:
        label: The image's label for the channel, or None when absent.
        kind: ``"point"`` or ``"curve"`` (see :func:`kind_name`).

    Returns:
        ``(0, ())`` masked (missing, blurred, or invalid for the kind); ``(1, ())`` off (an
        all-zero target that is learned); ``(1, instances)`` drawn.

    >>> supervision(None, "point"), supervision(Label(LabelState.OFF), "curve")
    ((0.0, ()), (1.0, ()))
    """
    if label is None or label.state is LabelState.BLURRED:
        return 0.0, ()
    if label.state is LabelState.OFF:
        return 1.0, ()
    instances = _valid_instances(label, kind)
    return (0.0, ()) if instances is None else (1.0, instances)


def encode(
    labels: ImageLabels,
    channels: Sequence[str],
    kinds: Sequence[KindLike],
    matrix: npt.ArrayLike,
    input_hw: tuple[int, int],
    config: CodecConfig | None = None,
) -> list[Encoded]:
    """Render one image's labels into targets and loss weights at every stride.

    Per channel: ``point`` -> Gaussian dot (sigma ``config.sigma_point`` target px) computed
    within ``window_k * sigma``; ``curve`` -> Gaussian of the exact distance to the dense
    curve (sigma ``config.sigma_curve``) computed in a narrow band; ``off`` -> zeros with
    weight 1; ``blurred``, missing, or invalid for the channel's kind (wrong state, wrong
    node count, non-finite) -> zeros with weight 0. Several instances combine by max.
    Labels mapped partly or wholly outside the input keep weight 1 (the target is then
    partial or empty, which is what the network should output there).

    Args:
        labels: Label name -> Label, in source pixels.
        channels: Label names, one per output channel (K).
        kinds: ``LabelKind`` (or "point"/"curve") of each channel.
        matrix: 3x3 float64 matrix mapping source ``(x, y, 1)`` to input ``(x, y, 1)``.
        input_hw: Network input size ``(H, W)``.
        config: Codec settings (defaults: strides (4, 2), sigmas 4 / 2 target px).

    Returns:
        One :class:`Encoded` per ``config.strides`` entry, in that order.

    >>> enc = encode({"p": Label.point(8.0, 4.0)}, ["p"], ["point"], np.eye(3), (16, 16))
    >>> [(e.stride, e.heatmaps.shape, float(e.heatmaps.max())) for e in enc]
    [(4, (1, 4, 4), 1.0), (2, (1, 8, 8), 1.0)]
    """
    cfg = config or CodecConfig()
    if len(kinds) != len(channels):
        raise ValueError(f"{len(channels)} channels but {len(kinds)} kinds")
    m = as_matrix(matrix)
    n_k = len(channels)
    weights = np.zeros(n_k, np.float32)
    point_ch: list[int] = []
    point_xy: list[FloatArray] = []
    curve_ch: list[int] = []
    curve_inst: list[Instance] = []
    # Dense points at most curve_spacing target px apart at the finest stride (every
    # other one is kept at stride 2x that); the renderer corrects for the chords' bulge.
    fine_spacing = cfg.curve_spacing * min(cfg.strides)
    for k, (name, kind) in enumerate(zip(channels, kinds, strict=True)):
        kname = kind_name(kind)
        weights[k], instances = supervision(labels.get(name), kname)
        for inst in instances:
            if kname == "point":
                point_ch.append(k)
                point_xy.append(inst.xy[0])
            else:
                curve_ch.append(k)
                curve_inst.append(inst)
    # One flat buffer holds every stride's maps, so that each kind renders in one pass.
    # The values are computed first and written last, so that the rendering does not
    # run against caches that zeroing the 18 MB buffer has just flushed.
    shapes = [cfg.target_hw(input_hw, s) for s in cfg.strides]
    sizes = [n_k * h * w for h, w in shapes]
    starts = np.cumsum([0, *sizes])
    parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = []
    if point_ch:
        xy = apply_matrix(m, np.stack(point_xy))
        parts.append(
            point_values(
                *_per_stride(point_ch, starts, shapes),
                np.concatenate([xy / s for s in cfg.strides]),
                cfg.sigma_point,
                cfg.window_k * cfg.sigma_point,
            )
        )
    if curve_ch:
        curve_xy = dense_curves([(i.xy, i.straight) for i in curve_inst], m, fine_spacing)
        # Every (s / finest)-th dense point keeps the spacing <= curve_spacing target px.
        finest = min(cfg.strides)
        # Corners (nodes where a straight segment meets the rest) stay vertices at every
        # stride: dropping one cuts the corner, ~0.015 target px at stride 4.
        keep = [_corner_samples(p, inst, m) for p, inst in zip(curve_xy, curve_inst, strict=True)]
        polys = [
            _every(p, max(1, s // finest), k) / s
            for s in cfg.strides
            for p, k in zip(curve_xy, keep, strict=True)
        ]
        parts.append(
            curve_values(
                *_per_stride(curve_ch, starts, shapes),
                polys,
                cfg.sigma_curve,
                cfg.window_k * cfg.sigma_curve,
            )
        )
    flat = np.zeros(int(starts[-1]), np.float32)
    for idx, val in parts:
        np.maximum.at(flat, idx, val)
    out = [
        Encoded(
            stride=s,
            heatmaps=flat[starts[j] : starts[j + 1]].reshape(n_k, *shapes[j]),
            weights=weights.copy(),
        )
        for j, s in enumerate(cfg.strides)
    ]
    return out


def _per_stride(
    channels: list[int], starts: npt.NDArray[np.int64], shapes: list[tuple[int, int]]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], list[int]]:
    """The ``base, h, w, channels`` arguments of ``*_values`` that draw every item at every stride.

    Items repeat stride by stride (all items at the first stride, then at the next), with
    stride ``j``'s [K, h, w] maps starting at flat index ``starts[j]``.
    """
    n = len(channels)
    return (
        np.repeat(starts[:-1], n),
        np.repeat([hw[0] for hw in shapes], n),
        np.repeat([hw[1] for hw in shapes], n),
        channels * len(shapes),
    )


def _every(points: FloatArray, n: int, also: npt.NDArray[np.intp] | None = None) -> FloatArray:
    """Every n-th point, always keeping the last one and the points at indices ``also``."""
    if n == 1 or len(points) <= 2:
        return points
    if also is not None and len(also):
        mask = np.zeros(len(points), dtype=bool)
        mask[::n] = True
        mask[-1] = True
        mask[also] = True
        return points[mask]
    keep = points[::n]
    if (len(points) - 1) % n:
        keep = np.concatenate([keep, points[-1:]])
    return keep


def _corner_samples(
    dense: FloatArray, instance: Instance, matrix: FloatArray
) -> npt.NDArray[np.intp] | None:
    """Indices in ``dense`` (the instance's dense curve, input px) of its corner nodes.

    A corner is an interior node next to a straight segment: the curve is only C0 there.
    Every node is among the dense points, so each corner is the dense point nearest to it.
    """
    flags = instance.straight
    if flags is None or not any(flags):
        return None
    corner = [i for i in range(1, len(flags) - 1) if flags[i - 1] or flags[i]]
    if not corner:
        return None
    at = apply_matrix(matrix, instance.xy[corner])
    d2 = (dense[None, :, 0] - at[:, None, 0]) ** 2 + (dense[None, :, 1] - at[:, None, 1]) ** 2
    return np.argmin(d2, axis=1)


def decode(
    heatmaps: Sequence[npt.ArrayLike],
    channels: Sequence[str],
    kinds: Sequence[KindLike],
    config: CodecConfig | None = None,
    *,
    strides: Sequence[int] | None = None,
    anchors: Mapping[str, Sequence[str]] | None = None,
    input_hw: tuple[int, int] | None = None,
) -> ImageLabels:
    """Turn per-stride heatmaps of one image back into labels in input pixels.

    Points: argmax, then an unbiased sub-pixel refinement (Newton step on the log-heatmap
    over a 3x3 stencil, exact for Gaussians), mapped to input px as ``s * (i + delta)``;
    conf is the peak value; a peak below ``config.presence_threshold`` gives ``off``.
    Strides are combined per ``config.combine`` (finest stride, or mean of the input-pixel
    estimates) -- never by upsampling.

    Curves (finest stride): the cheapest 8-connected path along the ridge, between the
    decoded anchor points when ``anchors`` names them (e.g. ``{"curve-lv-endo":
    ("mv-ant-hinge", "lv-apex-endo", "mv-post-hinge")}``; see :data:`DEFAULT_ANCHORS`) and
    otherwise between the two geodesic ends of the ridge; each path pixel is moved to the
    sub-pixel ridge across the path, the ends are placed where the ridge falls off, and
    the ridge is resampled to 5-21 control points (spacing ``decoded_node_spacing_px``)
    whose chord-length spline follows it. conf is the mean heatmap along the path; a curve
    whose peak is below the threshold is ``off``, one that cannot be traced ``blurred``.

    Last, each point named in ``config.points_on_curves`` is moved to the nearest point of
    its curve when both were decoded.

    Args:
        heatmaps: One array [K, h, w] per stride (numpy, or anything ``np.asarray`` takes).
        channels: Label names of the K channels.
        kinds: ``LabelKind`` (or "point"/"curve") of each channel.
        config: Codec settings.
        strides: Stride of each array; defaults to ``config.strides``.
        anchors: Curve name -> names of point channels to trace through, in order (2 or 3).
            ``None`` uses :data:`DEFAULT_ANCHORS`; ``{}`` traces every curve unanchored.
        input_hw: Network input size ``(H, W)``; decoded coordinates are clamped to the
            image (``[-0.5, W - 0.5]``). Without it they are clamped to the area the
            heatmaps cover.

    Returns:
        Label name -> Label in input pixels, each drawn instance with ``conf`` set.
    """
    cfg = config or CodecConfig()
    strides_t = tuple(cfg.strides if strides is None else strides)
    maps = [np.asarray(hm, dtype=np.float32) for hm in heatmaps]
    if len(maps) != len(strides_t):
        raise ValueError(f"{len(maps)} heatmap arrays for strides {strides_t}")
    for hm in maps:
        if hm.ndim != 3 or hm.shape[0] != len(channels):
            raise ValueError(f"heatmaps must be [K={len(channels)}, h, w], got {hm.shape}")
    if len(kinds) != len(channels):
        raise ValueError(f"{len(channels)} channels but {len(kinds)} kinds")
    kind_of = dict(zip(channels, (kind_name(k) for k in kinds), strict=True))
    for point, curve in cfg.points_on_curves.items():
        if kind_of.get(point) != "point" or kind_of.get(curve) != "curve":
            raise ValueError(
                f"points_on_curves {point!r} -> {curve!r}: needs a point channel and a curve "
                "channel of this model"
            )
    return decode_image(
        maps,
        strides_t,
        list(channels),
        [kind_name(k) for k in kinds],
        cfg,
        DEFAULT_ANCHORS if anchors is None else anchors,
        input_hw,
    )


#: Anchor points curves are traced through (reference code's choices, echomark names).
DEFAULT_ANCHORS: Mapping[str, tuple[str, ...]] = {
    "curve-lv-endo": ("mv-ant-hinge", "lv-apex-endo", "mv-post-hinge"),
    "curve-rv-endo": ("tv-ant-hinge", "rv-apex-endo", "tv-sep-hinge"),
    "curve-la-endo": ("mv-ant-hinge", "la-roof", "mv-post-hinge"),
    "curve-ra-endo": ("tv-ant-hinge", "ra-roof", "tv-sep-hinge"),
}
