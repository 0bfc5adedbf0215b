"""Encode labels into per-stride heatmap targets and weights; decode heatmaps into labels.

Conventions (``docs/conventions.md``): heatmap pixel ``i`` at stride ``s`` is input pixel
``s * i``, so a label at input ``x`` sits at heatmap ``x / s`` and a heatmap of an ``H x W``
input is ``ceil(H / s) x ceil(W / s)``. Targets are float32 with peak 1.0.

Curves and the input matrix: the curve is defined in **source** pixels (natural cubic
spline by chord length through the expert's control points, straight segments honoured).
An affine map does not commute with chord-length spline interpolation (a non-uniform scale
changes the chord lengths and so the parameterisation), so splining the transformed control
points would draw a slightly different curve. The encoder therefore samples the curve
densely in source pixels and maps the dense points through ``matrix``; the image of a
polyline under an affine map is exactly the polyline of the mapped points, so the target
curve is exactly the image of the source curve (up to the sub-0.01 px chord error of the
dense sampling). Projective matrices are handled the same way, with the perspective
divide per dense point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from echomark.geometry.curves import spline_points
from echomark.geometry.transform import apply_matrix, as_matrix, max_scale
from echomark.heatmaps.config import CodecConfig
from echomark.heatmaps.decoding import decode_image
from echomark.heatmaps.render import render_curves_flat, render_points_flat
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
    """Points along a curve instance in destination (input) pixels, at most ``spacing_px`` apart.

    The spline is evaluated in source pixels at parameter steps whose image under the
    matrix is at most ``spacing_px`` long, and the points are then mapped through
    ``matrix`` (exact for affine maps; see the module docstring). The points are not
    equally spaced; resample with :func:`echomark.geometry.resample_polyline` if needed.

    Args:
        instance: Curve control points in source pixels.
        matrix: 3x3 source -> destination pixel matrix.
        spacing_px: Largest spacing of the result, destination pixels.
        scale: ``max_scale(matrix)`` if the caller already has it.

    Returns:
        Points, shape (M, 2), destination pixels, starting and ending at the mapped end
        nodes.

    >>> inst = Instance(np.array([[0.0, 0.0], [10.0, 0.0]]))
    >>> dense_curve(inst, np.diag([2.0, 2.0, 1.0]), 5.0)[:, 0].tolist()
    [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]
    """
    m = as_matrix(matrix)
    # Parameter steps are chord lengths; arcs are a little longer, hence the 1.2.
    step = spacing_px / (1.2 * max(max_scale(m) if scale is None else scale, 1e-12))
    for _ in range(4):
        dst = apply_matrix(m, spline_points(instance.xy, instance.straight, step))
        if len(dst) < 2:
            return dst
        d = np.diff(dst, axis=0)
        longest = float(np.hypot(d[:, 0], d[:, 1]).max())
        if longest <= spacing_px * (1 + 1e-9):
            break
        step *= 0.9 * spacing_px / longest  # projective maps, or spline speed above 1
    return dst


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
    curve_xy: list[FloatArray] = []
    # Dense points at most curve_spacing target px apart at the finest stride (every
    # other one is kept at stride 2x that); the renderer corrects for the chords' bulge.
    fine_spacing = cfg.curve_spacing * min(cfg.strides)
    scale = max_scale(m)
    for k, (name, kind) in enumerate(zip(channels, kinds, strict=True)):
        label = labels.get(name)
        if label is None or label.state is LabelState.BLURRED:
            continue
        if label.state is LabelState.OFF:
            weights[k] = 1.0
            continue
        kname = kind_name(kind)
        instances = _valid_instances(label, kname)
        if instances is None:
            continue
        weights[k] = 1.0
        for inst in instances:
            if kname == "point":
                point_ch.append(k)
                point_xy.append(inst.xy[0])
            else:
                curve_ch.append(k)
                curve_xy.append(dense_curve(inst, m, fine_spacing, scale=scale))
    # One flat buffer holds every stride's maps, so that each kind renders in one pass.
    shapes = [cfg.target_hw(input_hw, s) for s in cfg.strides]
    sizes = [n_k * h * w for h, w in shapes]
    starts = np.cumsum([0, *sizes])
    flat = np.zeros(int(starts[-1]), np.float32)
    n_s = len(cfg.strides)
    if point_ch:
        n_p = len(point_ch)
        xy = apply_matrix(m, np.stack(point_xy))
        render_points_flat(
            flat,
            np.repeat(starts[:-1], n_p),
            np.repeat([hw[0] for hw in shapes], n_p),
            np.repeat([hw[1] for hw in shapes], n_p),
            point_ch * n_s,
            np.concatenate([xy / s for s in cfg.strides]),
            cfg.sigma_point,
            cfg.window_k * cfg.sigma_point,
        )
    if curve_ch:
        # Every (s / finest)-th dense point keeps the spacing <= curve_spacing target px.
        finest = min(cfg.strides)
        polys = [_every(p, max(1, s // finest)) / s for s in cfg.strides for p in curve_xy]
        n_c = len(curve_ch)
        render_curves_flat(
            flat,
            np.repeat(starts[:-1], n_c),
            np.repeat([hw[0] for hw in shapes], n_c),
            np.repeat([hw[1] for hw in shapes], n_c),
            curve_ch * n_s,
            polys,
            cfg.sigma_curve,
            cfg.window_k * cfg.sigma_curve,
        )
    out = [
        Encoded(
            stride=s,
            heatmaps=flat[starts[j] : starts[j + 1]].reshape(n_k, *shapes[j]),
            weights=weights.copy(),
        )
        for j, s in enumerate(cfg.strides)
    ]
    return out


def _every(points: FloatArray, n: int) -> FloatArray:
    """Every n-th point, always keeping the last one."""
    if n == 1 or len(points) <= 2:
        return points
    keep = points[::n]
    if (len(points) - 1) % n:
        keep = np.concatenate([keep, points[-1:]])
    return keep


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


def window_radius(config: CodecConfig, sigma: float) -> float:
    """Half-width of the rendering window for a Gaussian of ``sigma`` (target px).

    >>> round(window_radius(CodecConfig(), 4.0), 2)
    15.0
    """
    return config.window_k * sigma
