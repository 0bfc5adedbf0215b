"""Decode heatmaps into labels: sub-pixel points and traced curves (numpy only).

Points: argmax, then one Newton step on the log-heatmap over a 3x3 stencil. The log of a
Gaussian is exactly quadratic, so the step lands on the true centre (no bias, unlike the
reference code's fixed quarter-pixel nudge); the stencil is moved inwards at the map edge,
which keeps it exact there too. Heatmap pixel ``i`` at stride ``s`` is input ``s * i``.

Curves: a minimum-cost 8-connected path (Dijkstra, cost ``(1 - heat)**e``) between two end
points -- decoded anchor points, or the two geodesic extremes of the ridge -- each path
pixel moved to the sub-pixel ridge (maximum of the local quadratic of the log-heatmap
across the ridge), ends placed where the ridge's cap says the curve stops, and the ridge
resampled to evenly spaced control points.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from echomark.geometry.curves import (
    arc_lengths,
    polyline_length,
    resample_polyline,
    sample_curve,
)
from echomark.heatmaps.config import CodecConfig, StrideCombine
from echomark.labels.schema import ImageLabels, Instance, Label, LabelState

FloatArray = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

#: Floor of heatmap values before taking logs.
_LOG_FLOOR = 1e-6
#: Values within this of the maximum count as ties (a Gaussian's neighbours are far lower).
_PLATEAU_TOL = 1e-4
#: A tie further than this (heatmap px, per axis) from the first one is another plateau.
_PLATEAU_REACH = 3
#: Pixels below this fraction of a curve's peak are not part of its tracing graph.
_GRAPH_FRACTION = 0.05
#: Pixels at or above this fraction of the peak form the ridge used to find free ends.
_RIDGE_FRACTION = 0.5


def _log_stencil(heatmap: F32, row: int, col: int) -> tuple[int, int, FloatArray]:
    """Log of the 3x3 patch around (row, col), moved inwards at the map edge, and its centre.

    The map must be at least 3 x 3.
    """
    h, w = heatmap.shape
    r = min(max(row, 1), h - 2)
    c = min(max(col, 1), w - 2)
    patch = np.log(np.maximum(heatmap[r - 1 : r + 2, c - 1 : c + 2].astype(np.float64), _LOG_FLOOR))
    return r, c, patch


def _stencil_derivatives(p: FloatArray) -> tuple[float, float, float, float, float]:
    """Gradient and Hessian ``(gx, gy, hxx, hyy, hxy)`` at the centre of a 3x3 patch.

    Central differences, exact for a quadratic (such as the log of a Gaussian).
    """
    gx = 0.5 * (p[1, 2] - p[1, 0])
    gy = 0.5 * (p[2, 1] - p[0, 1])
    hxx = p[1, 2] - 2 * p[1, 1] + p[1, 0]
    hyy = p[2, 1] - 2 * p[1, 1] + p[0, 1]
    hxy = 0.25 * (p[2, 2] - p[2, 0] - p[0, 2] + p[0, 0])
    return gx, gy, hxx, hyy, hxy


def refine_peak(heatmap: F32, row: int, col: int) -> tuple[float, float]:
    """Sub-pixel maximum near pixel (row, col): Newton step on the log over a 3x3 stencil.

    Returns:
        ``(x, y)`` in heatmap pixels. Exact for an isotropic or anisotropic Gaussian.

    >>> yy, xx = np.mgrid[0:9, 0:9]
    >>> g = np.exp(-((xx - 3.3) ** 2 + (yy - 5.8) ** 2) / 8).astype(np.float32)
    >>> [round(v, 4) for v in refine_peak(g, 6, 3)]
    [3.3, 5.8]
    """
    h, w = heatmap.shape
    if h < 3 or w < 3:
        return float(col), float(row)
    r, c, patch = _log_stencil(heatmap, row, col)
    gx, gy, hxx, hyy, hxy = _stencil_derivatives(patch)
    det = hxx * hyy - hxy * hxy
    if hxx < 0 and det > 0:
        dx = -(hyy * gx - hxy * gy) / det
        dy = -(hxx * gy - hxy * gx) / det
    else:  # not a proper maximum: fall back to per-axis parabolas where they curve down
        dx = -gx / hxx if hxx < 0 else 0.0
        dy = -gy / hyy if hyy < 0 else 0.0
    # The vertex lies within half a pixel of the argmax, except past an argmax on the map's
    # edge: there the maximum can lie beyond the last pixel centre, by up to (s - 0.5) / s
    # < 1 heatmap px for a point inside the input (e.g. input x = 607.4 of 608 at stride 4
    # is heatmap 151.85 on a 152-wide map). Allowing 1 px outward there keeps edge points
    # unbiased; the caller clamps to the input image.
    x = min(max(c + dx, col - (1.0 if col == 0 else 0.5)), col + (1.0 if col == w - 1 else 0.5))
    y = min(max(r + dy, row - (1.0 if row == 0 else 0.5)), row + (1.0 if row == h - 1 else 0.5))
    return float(x), float(y)


def decode_point(
    heatmap: F32, stride: int, input_hw: tuple[int, int] | None = None
) -> tuple[float, float, float]:
    """Peak of one point heatmap in input pixels.

    The refined position is kept inside the input image (``[-0.5, W - 0.5]``, pixel
    edges), or inside the area the heatmap covers when ``input_hw`` is not given.

    Returns:
        ``(x, y, conf)`` with conf the peak value.
    """
    w = heatmap.shape[1]
    peak = float(heatmap.max())
    # Ties and saturated plateaus (sigmoid outputs at 1.0) are common in network output:
    # take the first near-maximal pixel in row-major order (stable under tiny numerical
    # differences, e.g. torch vs ONNX) and, if it sits on a plateau, the plateau's centre.
    near = np.flatnonzero(heatmap.ravel() >= peak - _PLATEAU_TOL)
    row, col = divmod(int(near[0]), w)
    x, y = refine_peak(heatmap, row, col)
    if len(near) > 1:
        nr, nc = np.divmod(near, w)
        mine = (np.abs(nr - row) <= _PLATEAU_REACH) & (np.abs(nc - col) <= _PLATEAU_REACH)
        # A sampled Gaussian ties on at most 2 x 2 pixels, and is never flat on top.
        if mine.sum() > 4 or _is_flat(heatmap, row, col):
            x, y = float(nc[mine].mean()), float(nr[mine].mean())
    hi_y, hi_x = _input_limits(heatmap.shape, stride, input_hw)
    x = min(max(stride * x, -0.5), hi_x)
    y = min(max(stride * y, -0.5), hi_y)
    return x, y, peak


def _is_flat(heatmap: F32, row: int, col: int) -> bool:
    """True when the log-heatmap has (almost) no curvature at (row, col): a plateau.

    A Gaussian of sigma s has log-curvature -1/s**2 (-0.0625 for s = 4) on both axes.
    """
    h, w = heatmap.shape
    if h < 3 or w < 3:
        return True
    _, _, hxx, hyy, _ = _stencil_derivatives(_log_stencil(heatmap, row, col)[2])
    return bool(hxx > -1e-3 and hyy > -1e-3)


def _input_limits(
    shape: tuple[int, ...], stride: int, input_hw: tuple[int, int] | None
) -> tuple[float, float]:
    """Largest (y, x) a decoded input-pixel coordinate may take."""
    if input_hw is not None:
        return input_hw[0] - 0.5, input_hw[1] - 0.5
    return stride * shape[-2] - 0.5, stride * shape[-1] - 0.5


def _dijkstra(
    cost: FloatArray, start: int, goal: int | None = None
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Shortest 8-connected paths on a grid of node costs (inf = blocked).

    A step into a pixel costs its node cost times the step length (1 or sqrt 2).

    Returns:
        Distances (flat, inf where unreached) and predecessors (flat, -1 at the start).
    """
    h, w = cost.shape
    flat_cost = cost.ravel()
    dist = np.full(h * w, np.inf)
    pred = np.full(h * w, -1, np.int64)
    done = np.zeros(h * w, dtype=bool)
    dist[start] = 0.0
    heap = [(0.0, start)]
    steps = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
    lens = [math.hypot(a, b) for a, b in steps]
    while heap:
        d, node = heapq.heappop(heap)
        if done[node]:
            continue
        done[node] = True
        if node == goal:
            break
        r, c = divmod(node, w)
        for (dr, dc), ln in zip(steps, lens, strict=True):
            rr = r + dr
            cc = c + dc
            if rr < 0 or rr >= h or cc < 0 or cc >= w:
                continue
            nb = rr * w + cc
            nc = flat_cost[nb]
            if done[nb] or nc == np.inf:
                continue
            nd = d + nc * ln
            if nd < dist[nb]:
                dist[nb] = nd
                pred[nb] = node
                heapq.heappush(heap, (nd, nb))
    return dist, pred


def _backtrack(pred: npt.NDArray[np.int64], goal: int) -> list[int]:
    """Nodes from the start to ``goal`` along predecessors."""
    out = [goal]
    while pred[out[-1]] >= 0:
        out.append(int(pred[out[-1]]))
    return out[::-1]


def _ridge_point(logh: FloatArray, r: int, c: int) -> tuple[float, float]:
    """Move pixel (r, c) across the ridge to the maximum of the local log-quadratic.

    The direction is the Hessian's most negative eigenvector, i.e. across the ridge; the
    profile of a Gaussian tube is exactly quadratic in that direction for a straight curve.
    """
    h, w = logh.shape
    rr = min(max(r, 1), h - 2)
    cc = min(max(c, 1), w - 2)
    gx, gy, hxx, hyy, hxy = _stencil_derivatives(logh[rr - 1 : rr + 2, cc - 1 : cc + 2])
    # Gradient and curvature at (r, c) from the quadratic around (rr, cc).
    ox = c - cc
    oy = r - rr
    gx += hxx * ox + hxy * oy
    gy += hxy * ox + hyy * oy
    tr = hxx + hyy
    disc = math.sqrt(max((hxx - hyy) ** 2 / 4 + hxy * hxy, 0.0))
    lam = tr / 2 - disc  # most negative eigenvalue
    if lam >= 0:
        return float(c), float(r)
    if abs(hxy) > 1e-12:
        nx, ny = lam - hyy, hxy
    elif hxx <= hyy:
        nx, ny = 1.0, 0.0
    else:
        nx, ny = 0.0, 1.0
    norm = math.hypot(nx, ny)
    nx /= norm
    ny /= norm
    t = -(gx * nx + gy * ny) / lam
    t = max(-1.0, min(1.0, t))
    return c + t * nx, r + t * ny


def _trim_ends(points: FloatArray, values: FloatArray, peak: float, sigma: float) -> FloatArray:
    """Cut a traced ridge back to where the curve ends, using the Gaussian caps.

    Beyond a curve's end the ridge value falls as ``exp(-e**2 / (2 sigma**2))`` with the
    distance ``e`` past the end, so the outermost point at or above 0.6 of the peak at
    either end tells how far inside the end lies.
    """
    ok = np.flatnonzero(values >= 0.6 * peak)
    if len(ok) == 0 or len(points) < 2:
        return points
    s = arc_lengths(points)

    def past(j: int) -> float:
        return sigma * math.sqrt(2.0 * math.log(max(peak / max(float(values[j]), 1e-12), 1.0)))

    s0 = s[ok[0]] + past(int(ok[0]))
    s1 = s[ok[-1]] - past(int(ok[-1]))
    if s1 <= s0:
        mid = 0.5 * (s0 + s1)
        s0, s1 = mid, mid
    inner = (s > s0) & (s < s1)
    start = np.array([np.interp(s0, s, points[:, 0]), np.interp(s0, s, points[:, 1])])
    stop = np.array([np.interp(s1, s, points[:, 0]), np.interp(s1, s, points[:, 1])])
    return np.concatenate([start[None], points[inner], stop[None]])


def decode_curve(
    heatmap: F32,
    stride: int,
    config: CodecConfig,
    anchors_xy: Sequence[tuple[float, float]] | None = None,
    input_hw: tuple[int, int] | None = None,
) -> tuple[FloatArray, float] | None:
    """Trace one curve heatmap into control points (input px).

    Args:
        heatmap: [h, w] at ``stride``.
        stride: Its stride.
        config: Codec settings (sigma, path exponent, node spacing).
        anchors_xy: Points in input px the curve should run through, in order (first and
            last become the ends); ``None`` finds the ends on the ridge.
        input_hw: Network input size; nodes are kept inside it (see ``decode_point``).

    Returns:
        ``(nodes, conf)``: nodes (N, 2) in input px and the mean heatmap along the path; or
        None when no path joins the ends.
    """
    hm = heatmap.astype(np.float64)
    w = hm.shape[1]
    peak = float(hm.max())
    graph = hm >= _GRAPH_FRACTION * peak
    cost = np.where(
        graph, (1.0 - np.clip(hm, 0.0, 1.0)) ** config.path_cost_exponent + 1e-3, np.inf
    )
    path = None
    snapped = [False, False]
    joints: list[int] = []
    if anchors_xy is not None and len(anchors_xy) >= 2:
        path, snapped, joints = _anchored_path(
            hm, cost, stride, anchors_xy, config.sigma_curve, config.keep_anchors
        )
    free_ends = path is None
    if path is None:
        ridge = np.where(hm >= _RIDGE_FRACTION * peak, 1.0, np.inf)
        start = int(np.argmax(hm))
        dist, _ = _dijkstra(ridge, start)
        end1 = int(np.argmax(np.where(np.isfinite(dist), dist, -1.0)))
        dist, _ = _dijkstra(ridge, end1)
        end2 = int(np.argmax(np.where(np.isfinite(dist), dist, -1.0)))
        dist, pred = _dijkstra(cost, end1, end2)
        if not np.isfinite(dist[end2]):
            return None
        path = _backtrack(pred, end2)
    rows, cols = np.divmod(np.asarray(path, np.int64), w)
    values = hm[rows, cols]
    conf = float(values.mean())
    logh = np.log(np.maximum(hm, _LOG_FLOOR))
    pts = np.array([_ridge_point(logh, int(r), int(c)) for r, c in zip(rows, cols, strict=True)])
    if free_ends and len(pts) >= 2:
        pts = _trim_ends(pts, values, peak, config.sigma_curve)
    elif anchors_xy is not None:
        # Anchors on the band are the curve's ends; snapped ones keep the ridge point.
        if not snapped[0]:
            pts[0] = np.asarray(anchors_xy[0], np.float64) / stride
        if not snapped[-1]:
            pts[-1] = np.asarray(anchors_xy[-1], np.float64) / stride
    pts = pts * stride
    # where the interior anchors lie, as shares of the arc (smoothing keeps them)
    shares = _arc_shares(pts, joints) if config.keep_anchors else []
    pts = _smooth(pts, stride)
    length = polyline_length(pts)
    if length <= 0:
        return None
    n = round(length / config.decoded_node_spacing_px) + 1
    n = min(max(n, config.decoded_nodes_min), config.decoded_nodes_max)
    nodes = _resample_through(pts, shares, n)
    hi_y, hi_x = _input_limits(heatmap.shape, stride, input_hw)
    nodes[:, 0] = np.clip(nodes[:, 0], -0.5, hi_x)
    nodes[:, 1] = np.clip(nodes[:, 1], -0.5, hi_y)
    return nodes, conf


def _anchored_path(
    hm: FloatArray,
    cost: FloatArray,
    stride: int,
    anchors_xy: Sequence[tuple[float, float]],
    sigma: float,
    keep_anchors: bool = True,
) -> tuple[list[int] | None, list[bool], list[int]]:
    """Cheapest path through the anchors, or None when they cannot be joined.

    An end anchor outside the curve's band (e.g. a hinge decoded slightly off the ridge),
    or (with ``keep_anchors``) an interior one off its ridge (below half its peak), is
    moved to the nearest ridge pixel within ``4 sigma``, an interior one on to the crest;
    further away the anchors are not used and the caller traces the free ridge instead.

    Returns:
        The path (flat pixel indices), whether the first and last anchors were snapped,
        and the path index of each interior anchor.
    """
    h, w = hm.shape
    peak = float(hm.max())
    ridge_r, ridge_c = np.nonzero(hm >= _RIDGE_FRACTION * peak)
    nodes: list[int] = []
    snapped: list[bool] = []
    last = len(anchors_xy) - 1
    for i, (x, y) in enumerate(anchors_xy):
        c = min(max(round(x / stride), 0), w - 1)
        r = min(max(round(y / stride), 0), h - 1)
        # an interior anchor off the ridge (an apex peak in the myocardium) would drag the
        # outline off it: it moves to the ridge too
        off_ridge = keep_anchors and 0 < i < last and hm[r, c] < _RIDGE_FRACTION * peak
        moved = off_ridge or not np.isfinite(cost[r, c])
        if moved:
            if len(ridge_r) == 0:
                return None, [], []
            d2 = (ridge_r - y / stride) ** 2 + (ridge_c - x / stride) ** 2
            j = int(np.argmin(d2))
            if d2[j] > (4.0 * sigma) ** 2:
                return None, [], []
            r, c = int(ridge_r[j]), int(ridge_c[j])
            if keep_anchors and 0 < i < last:
                # the nearest band pixel is on the band's near edge: a waypoint there
                # would put a kink into the outline, so it climbs across to the crest
                r, c = _onto_crest(hm, r, c)
        nodes.append(r * w + c)
        snapped.append(moved)
    path: list[int] = []
    joints: list[int] = []
    for a, b in itertools.pairwise(nodes):
        if a != b:
            dist, pred = _dijkstra(cost, a, b)
            if not np.isfinite(dist[b]):
                return None, [], []
            leg = _backtrack(pred, b)
            path.extend(leg if not path else leg[1:])
        joints.append(max(len(path) - 1, 0))
    if len(path) < 2:
        return None, [], []
    return path, [snapped[0], snapped[-1]], joints[:-1]


def _onto_crest(hm: FloatArray, r: int, c: int, steps: int = 4) -> tuple[int, int]:
    """Move pixel (r, c) across its ridge, one sub-pixel ridge step at a time, to the crest."""
    h, w = hm.shape
    lo, hi = max(r - steps - 1, 0), min(r + steps + 2, h)
    left, right = max(c - steps - 1, 0), min(c + steps + 2, w)
    logh = np.log(np.maximum(hm[lo:hi, left:right], _LOG_FLOOR))
    rr, cc = r - lo, c - left
    for _ in range(steps):
        x, y = _ridge_point(logh, rr, cc)
        nr = min(max(round(y), 0), logh.shape[0] - 1)
        nc = min(max(round(x), 0), logh.shape[1] - 1)
        if (nr, nc) == (rr, cc):
            break
        rr, cc = nr, nc
    return rr + lo, cc + left


def _arc_shares(pts: FloatArray, indices: Sequence[int]) -> list[float]:
    """Arc length from the start to each ``pts[i]``, as a share of the whole polyline."""
    if not indices or len(pts) < 2:
        return []
    s = arc_lengths(pts)
    if s[-1] <= 0:
        return []
    return [float(s[i] / s[-1]) for i in indices if 0 < i < len(pts) - 1]


def _resample_through(pts: FloatArray, shares: Sequence[float], n: int) -> FloatArray:
    """``n`` control points along a polyline, one at each share of its arc length.

    Without shares the points are spaced evenly. With them (an interior anchor such as the
    LV apex), each stretch between two of them is spaced evenly on its own, so the spline
    through the points keeps the corner there instead of cutting it (24 px node spacing
    cut the apex of oracle LV outlines by up to 5 px).
    """
    s = arc_lengths(pts)
    total = float(s[-1])
    sq = np.linspace(0.0, total, n) if not shares else _positions_through(shares, n) * total
    return np.stack([np.interp(sq, s, pts[:, 0]), np.interp(sq, s, pts[:, 1])], axis=1)


def _positions_through(shares: Sequence[float], n: int) -> FloatArray:
    """``n`` arc positions in [0, 1], one at each share, evenly spaced between them."""
    cuts = sorted({0.0, 1.0, *(min(max(x, 0.0), 1.0) for x in shares)})
    legs = np.diff(cuts)
    keep = legs > 1e-6
    legs = legs[keep]
    starts = np.asarray(cuts[:-1])[keep]
    # segments per stretch, in proportion to its length, at least one each
    segs = np.maximum(1, np.round(legs * (n - 1)).astype(int))
    while segs.sum() > max(n - 1, len(segs)):
        segs[int(np.argmax(np.where(segs > 1, segs / legs, -np.inf)))] -= 1
    while segs.sum() < n - 1:
        segs[int(np.argmin(segs / legs))] += 1
    return np.concatenate(
        [
            np.linspace(a, a + b, k, endpoint=False)
            for a, b, k in zip(starts, legs, segs, strict=True)
        ]
        + [np.array([1.0])]
    )


def _smooth(pts: FloatArray, stride: int) -> FloatArray:
    """Average ridge points over +-1 heatmap pixel of arc, keeping both ends fixed.

    The per-pixel ridge points wobble by the rounding of the path; the bias of a short
    arc-window mean on a curve of radius R is about ``window**2 / (6 R)`` (tiny here).
    """
    if len(pts) < 5:
        return pts
    dense = resample_polyline(pts, 0.25 * stride)
    k = 4  # +-4 samples of 0.25 px = +-1 heatmap px
    if len(dense) <= 2 * k + 1:
        return dense
    csum = np.cumsum(np.concatenate([np.zeros((1, 2)), dense]), axis=0)
    mid = (csum[2 * k + 1 :] - csum[: -2 * k - 1]) / (2 * k + 1)
    out = dense.copy()
    out[k:-k] = mid
    return out


def decode_image(
    maps: Sequence[F32],
    strides: Sequence[int],
    channels: Sequence[str],
    kinds: Sequence[str],
    config: CodecConfig,
    anchors: Mapping[str, Sequence[str]],
    input_hw: tuple[int, int] | None = None,
) -> ImageLabels:
    """Implementation of :func:`echomark.heatmaps.decode` (arguments already checked)."""
    order = np.argsort(strides)  # finest first
    thr = config.presence_threshold
    out: ImageLabels = {}
    points_xy: dict[str, tuple[float, float]] = {}
    for k, (name, kind) in enumerate(zip(channels, kinds, strict=True)):
        if kind != "point":
            continue
        found = []
        for si in order:
            x, y, conf = decode_point(maps[si][k], int(strides[si]), input_hw)
            found.append((x, y, conf))
            if config.combine is StrideCombine.FINEST:
                break
        present = [f for f in found if f[2] >= thr]
        if not present:
            out[name] = Label.off()
            continue
        x = float(np.mean([f[0] for f in present]))
        y = float(np.mean([f[1] for f in present]))
        conf = float(np.mean([f[2] for f in present]))
        out[name] = Label(LabelState.POINT, (Instance(np.array([[x, y]]), conf=conf),))
        points_xy[name] = (x, y)
    fine = int(order[0])
    for k, (name, kind) in enumerate(zip(channels, kinds, strict=True)):
        if kind != "curve":
            continue
        hm = maps[fine][k]
        if float(hm.max()) < thr:
            out[name] = Label.off()
            continue
        names = anchors.get(name)
        anchor_xy = None
        if names is not None:
            ends = [n for n in names if n in points_xy]
            if len(ends) >= 2 and ends[0] == names[0] and ends[-1] == names[-1]:
                anchor_xy = [points_xy[n] for n in ends]
        traced = decode_curve(hm, int(strides[fine]), config, anchor_xy, input_hw)
        if traced is None:
            out[name] = Label.blurred()
            continue
        nodes, conf = traced
        out[name] = Label(LabelState.CURVE, (Instance(nodes, conf=conf),))
    for point, curve in config.points_on_curves.items():
        _put_on_curve(out, point, curve)
    return out


def _put_on_curve(labels: ImageLabels, point: str, curve: str) -> None:
    """Move a decoded point to the nearest point of its decoded curve (in place).

    Nothing moves unless both were decoded (point drawn, curve traced); the point keeps
    its own confidence.
    """
    p, c = labels.get(point), labels.get(curve)
    if p is None or c is None or p.state is not LabelState.POINT:
        return
    if c.state is not LabelState.CURVE or not c.instances:
        return
    dense = sample_curve(c.instances[0].xy, c.instances[0].straight, spacing=0.25)
    xy = p.instances[0].xy[0]
    j = int(np.argmin((dense[:, 0] - xy[0]) ** 2 + (dense[:, 1] - xy[1]) ** 2))
    moved = Instance(dense[j : j + 1].copy(), conf=p.instances[0].conf)
    labels[point] = Label(LabelState.POINT, (moved,))
