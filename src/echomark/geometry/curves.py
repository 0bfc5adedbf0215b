"""Curves from control points: natural cubic splines by chord length, lengths, distances.

All coordinates are ``xy`` arrays of shape (N, 2): x = column, y = row, in pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from echomark.geometry.transform import apply_matrix, as_matrix, is_affine, max_scale

FloatArray = npt.NDArray[np.float64]

#: Spline evaluations per output spacing before :func:`sample_curve`'s arc-length
#: resampling; its points lie on chords of that finer polyline, within about
#: ``(spacing / 8)**2 / (8 R)`` of the spline for radius of curvature R.
_OVERSAMPLE = 8


def dedupe_nodes(
    xy: npt.ArrayLike, straight: Sequence[bool] | None = None
) -> tuple[FloatArray, list[bool] | None]:
    """Drop consecutive duplicate nodes (they break chord-length parameterisation).

    Args:
        xy: Control points, shape (N, 2).
        straight: Optional per-node straight-to-next flags, length N.

    Returns:
        The kept nodes, shape (M, 2), and their flags (the flag of the last of a run of
        duplicates is kept, since it describes the segment that leaves the run).

    >>> dedupe_nodes([[0, 0], [0, 0], [1, 0]])[0].tolist()
    [[0.0, 0.0], [1.0, 0.0]]
    """
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return pts, (None if straight is None else [])
    keep = np.ones(len(pts), dtype=bool)
    keep[:-1] = np.any(pts[1:] != pts[:-1], axis=1)
    flags = (
        None if straight is None else [bool(s) for s, k in zip(straight, keep, strict=True) if k]
    )
    return pts[keep], flags


def solve_tridiagonal(
    diag: Sequence[float], off: Sequence[float], rhs: Sequence[complex]
) -> list[complex]:
    """Solve a symmetric tridiagonal system by the Thomas algorithm (no pivoting).

    Works on Python numbers, which for the few dozen unknowns of a label's spline is
    several times faster than numpy; complex right-hand sides solve x and y at once. The
    system must be diagonally dominant, as a natural spline's is.

    Args:
        diag: Diagonal, length n >= 1.
        off: Off-diagonal, length n - 1 (``off[k]`` couples unknowns k and k + 1).
        rhs: Right-hand side, length n.

    Returns:
        The solution, length n.

    >>> solve_tridiagonal([2.0, 2.0], [1.0], [3.0, 3.0])
    [1.0, 1.0]
    """
    d = list(diag)
    r = list(rhs)
    for k in range(1, len(d)):
        w = off[k - 1] / d[k - 1]
        d[k] -= w * off[k - 1]
        r[k] -= w * r[k - 1]
    sol = [0j] * len(d)
    sol[-1] = r[-1] / d[-1]
    for k in range(len(d) - 2, -1, -1):
        sol[k] = (r[k] - off[k] * sol[k + 1]) / d[k]
    return sol


def _pieces(nodes: FloatArray, straight: Sequence[bool] | None) -> list[FloatArray]:
    """Split nodes into pieces: runs of curved segments, and single straight segments."""
    n_seg = len(nodes) - 1
    flags = [False] * n_seg if straight is None else [bool(s) for s in straight[:n_seg]]
    pieces: list[FloatArray] = []
    start = 0
    for i in range(n_seg):
        if flags[i]:
            if i > start:
                pieces.append(nodes[start : i + 1])
            pieces.append(nodes[i : i + 2])
            start = i + 1
    if start < n_seg:
        pieces.append(nodes[start:])
    return pieces


def arc_lengths(poly: npt.ArrayLike) -> FloatArray:
    """Arc length from the first vertex to each vertex of a polyline, shape (M, 2) -> (M,).

    >>> arc_lengths([[0, 0], [3, 4], [3, 5]]).tolist()
    [0.0, 5.0, 6.0]
    """
    p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    d = np.diff(p, axis=0)
    return np.concatenate([[0.0], np.cumsum(np.hypot(d[:, 0], d[:, 1]))])


def resample_polyline(poly: npt.ArrayLike, spacing: float) -> FloatArray:
    """Resample a polyline at uniform arc length, keeping both end points.

    Args:
        poly: Polyline vertices, shape (M, 2).
        spacing: Largest allowed distance between consecutive output points (px).

    Returns:
        Points of shape (K, 2) with equal spacing <= ``spacing``.

    >>> resample_polyline([[0, 0], [4, 0]], 1.0)[:, 0].tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0]
    """
    p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    if len(p) < 2:
        return p.copy()
    s = arc_lengths(p)
    total = s[-1]
    if total == 0.0:
        return p[:1].copy()
    n = int(np.ceil(total / spacing - 1e-9)) + 1
    sq = np.linspace(0.0, total, n)
    return np.stack([np.interp(sq, s, p[:, 0]), np.interp(sq, s, p[:, 1])], axis=1)


def spline_points(
    xy: npt.ArrayLike,
    straight: Sequence[bool] | None = None,
    step: float = 0.25,
) -> FloatArray:
    """Points on the curve through control points, at parameter steps of at most ``step``.

    Same curve as :func:`sample_curve` (natural cubic spline by chord length, straight
    segments honoured) but without the arc-length resampling: every node is among the
    points, and consecutive points are about ``step`` apart along the arc (exactly so on
    straight segments). Cheaper when the caller resamples anyway. One curve of
    :func:`spline_points_many`.

    >>> spline_points([[0, 0], [2, 0]], step=0.5).tolist()
    [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [1.5, 0.0], [2.0, 0.0]]
    """
    return spline_points_many([(xy, straight)], step)[0]


def spline_points_many(
    curves: Sequence[tuple[npt.ArrayLike, Sequence[bool] | None]], step: float
) -> list[FloatArray]:
    """:func:`spline_points` of several curves ``(xy, straight)`` in one vectorised pass.

    >>> [p.shape for p in spline_points_many([([[0, 0], [1, 0]], None), ([[5, 5]], None)], 0.5)]
    [(3, 2), (1, 2)]
    """
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    z, sizes = _spline_flat(curves, step)
    pts = np.stack([z.real, z.imag], axis=1)
    return np.split(pts, np.cumsum(sizes)[:-1])


def _spline_flat(
    curves: Sequence[tuple[npt.ArrayLike, Sequence[bool] | None]], step: float
) -> tuple[npt.NDArray[np.complex128], npt.NDArray[np.int64]]:
    """Samples of several curves as one complex array ``x + iy``, and each curve's count.

    Each curve is split into pieces (runs of spline segments, and straight segments); the
    natural-spline systems of all pieces form one block-tridiagonal system, solved in a
    single sweep. Segment ``i`` of a piece (chord ``h``) is sampled at ``ceil(h / step)``
    equal parameter steps from its start node; each curve ends with its last node.
    """
    n_curves = len(curves)
    pieces: list[FloatArray] = []
    piece_curve: list[int] = []
    last_node: list[FloatArray] = []
    has_node = np.zeros(n_curves, dtype=bool)
    for c, (xy, straight) in enumerate(curves):
        nodes, flags = dedupe_nodes(xy, straight)
        if len(nodes) == 0:
            continue
        has_node[c] = True
        last_node.append(nodes[-1])
        if len(nodes) > 1:
            for piece in _pieces(nodes, flags):
                pieces.append(piece)
                piece_curve.append(c)
    if pieces:
        xy_all = np.concatenate(pieces)
        z = xy_all[:, 0] + 1j * xy_all[:, 1]
        size = np.array([len(p) for p in pieces])
        end = np.cumsum(size) - 1
        # Segment i joins nodes i and i + 1 of one piece.
        valid = np.ones(len(z) - 1, dtype=bool)
        valid[end[:-1]] = False
        dz = z[1:] - z[:-1]
        h = np.where(valid, np.abs(dz), 1.0)
        slope = dz / h
        # Natural cubic spline: M = 0 at piece ends; interior node i of a piece gives
        # h[i-1] M[i-1] + 2 (h[i-1] + h[i]) M[i] + h[i] M[i+1] = 6 (slope[i] - slope[i-1]).
        interior = np.ones(len(z), dtype=bool)
        interior[end] = False
        interior[end - size + 1] = False
        node = np.flatnonzero(interior)
        mz = np.zeros(len(z), np.complex128)
        if len(node):
            diag = (2.0 * (h[node - 1] + h[node])).tolist()
            rhs = (6.0 * (slope[node] - slope[node - 1])).tolist()
            adjacent = np.diff(node) == 1
            off = np.where(adjacent, h[node[:-1]], 0.0).tolist()  # between unknowns k, k+1
            mz[node] = solve_tridiagonal(diag, off, rhs)
        seg = np.flatnonzero(valid)
        hs = h[seg]
        m0 = mz[seg]
        m1 = mz[seg + 1]
        start = z[seg]
        coef1 = slope[seg] - hs * (2.0 * m0 + m1) / 6.0
        coef2 = m0 / 2.0
        coef3 = (m1 - m0) / (6.0 * hs)
        count = np.maximum(np.ceil(hs / step).astype(np.int64), 1)
        seg_curve = np.repeat(np.asarray(piece_curve), size - 1)
        n_seg = np.bincount(seg_curve, minlength=n_curves)
        n_samples = np.bincount(seg_curve, weights=count, minlength=n_curves).astype(np.int64)
    else:
        start = coef1 = coef2 = coef3 = np.zeros(0, np.complex128)
        hs = np.zeros(0)
        count = np.zeros(0, np.int64)
        n_seg = n_samples = np.zeros(n_curves, np.int64)
    if not last_node:
        return np.zeros(0, np.complex128), n_samples
    # After each curve's segments, its last node (a zero-length "segment" of one step).
    at = np.cumsum(n_seg)[has_node]
    ends = np.asarray(last_node)
    start = np.insert(start, at, ends[:, 0] + 1j * ends[:, 1])
    coef1 = np.insert(coef1, at, 0j)
    coef2 = np.insert(coef2, at, 0j)
    coef3 = np.insert(coef3, at, 0j)
    hs = np.insert(hs, at, 0.0)
    count = np.insert(count, at, 1)
    first = np.cumsum(count) - count
    u = np.arange(int(first[-1] + count[-1]), dtype=np.float64)
    u -= np.repeat(first, count)
    u *= np.repeat(hs / count, count)
    # Power basis in u from each segment's start node, evaluated by Horner.
    zz = np.repeat(coef3, count)
    zz *= u
    zz += np.repeat(coef2, count)
    zz *= u
    zz += np.repeat(coef1, count)
    zz *= u
    zz += np.repeat(start, count)
    return zz, n_samples + has_node


def dense_curve(
    xy: npt.ArrayLike,
    straight: Sequence[bool] | None,
    matrix: npt.ArrayLike,
    spacing_px: float,
    *,
    scale: float | None = None,
) -> FloatArray:
    """Points along a curve in destination pixels, at most ``spacing_px`` apart.

    The spline (see :func:`spline_points`) is evaluated in source pixels at parameter
    steps whose image under the matrix is at most ``spacing_px`` long, and the points are
    then mapped through ``matrix``. The image of a polyline under an affine map is exactly
    the polyline of the mapped points, so this draws the source curve, which splining
    mapped control points would not (a non-uniform scale changes the chord lengths, so
    the parameterisation). Projective maps are handled the same way, with the perspective
    divide per point. The points are not equally spaced; resample with
    :func:`resample_polyline` if needed.

    Args:
        xy: Control points in source pixels, shape (N, 2).
        straight: Optional straight-to-next flags, one per node.
        matrix: 3x3 source -> destination pixel matrix.
        spacing_px: Largest spacing of the result, destination pixels.
        scale: ``max_scale(matrix)`` if the caller already has it.

    Returns:
        Points, shape (M, 2), destination pixels, starting and ending at the mapped end
        nodes.

    >>> dense_curve([[0.0, 0.0], [10.0, 0.0]], None, np.diag([2.0, 2.0, 1.0]), 5.0)[:, 0].tolist()
    [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]
    """
    m = as_matrix(matrix)
    # Parameter steps are chord lengths; arcs are a little longer, hence the 1.2.
    step = spacing_px / (1.2 * max(max_scale(m) if scale is None else scale, 1e-12))
    for _ in range(4):
        dst = apply_matrix(m, spline_points(xy, straight, step))
        if len(dst) < 2:
            return dst
        d = np.diff(dst, axis=0)
        longest = float(np.hypot(d[:, 0], d[:, 1]).max())
        if longest <= spacing_px * (1 + 1e-9):
            break
        step *= 0.9 * spacing_px / longest  # projective maps, or spline speed above 1
    return dst


def dense_curves(
    curves: Sequence[tuple[npt.ArrayLike, Sequence[bool] | None]],
    matrix: npt.ArrayLike,
    spacing_px: float,
) -> list[FloatArray]:
    """:func:`dense_curve` of several curves ``(xy, straight)`` at once (vectorised).

    Every curve is sampled in one pass (:func:`spline_points_many`) and mapped in one
    pass. A curve whose mapped points come out further apart than ``spacing_px`` (a
    projective matrix, or a spline faster than its chords) is redone by
    :func:`dense_curve`'s refining loop.

    >>> xy = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 5.0], [25.0, 20.0]])
    >>> curves = [(xy, None), (xy, (False, True, False, False))]
    >>> m = np.array([[2.0, 0.5, 1.0], [0.0, 1.5, 3.0], [0.0, 0.0, 1.0]])
    >>> fast = dense_curves(curves, m, 0.7)
    >>> all(np.allclose(f, dense_curve(*c, m, 0.7)) for f, c in zip(fast, curves))
    True
    """
    m = as_matrix(matrix)
    scale = max_scale(m)
    step = spacing_px / (1.2 * max(scale, 1e-12))
    zz, sizes = _spline_flat(curves, step)
    x = zz.real
    y = zz.imag
    dst = np.empty((len(zz), 2))
    dst[:, 0] = m[0, 0] * x + m[0, 1] * y + m[0, 2]
    dst[:, 1] = m[1, 0] * x + m[1, 1] * y + m[1, 2]
    if not is_affine(m):
        dst /= (m[2, 0] * x + m[2, 1] * y + m[2, 2])[:, None]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    d = np.diff(dst, axis=0)
    gap = np.hypot(d[:, 0], d[:, 1])
    out = []
    for c, (xy, straight) in enumerate(curves):
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        if hi - lo >= 2 and float(gap[lo : hi - 1].max()) > spacing_px * (1 + 1e-9):
            out.append(dense_curve(xy, straight, m, spacing_px, scale=scale))
        else:
            out.append(dst[lo:hi])
    return out


def sample_curve(
    xy: npt.ArrayLike,
    straight: Sequence[bool] | None = None,
    spacing: float = 1.0,
) -> FloatArray:
    """Densely sample the curve through control points.

    The curve is a natural cubic spline parameterised by cumulative chord length (the 2020
    training code's definition). Where ``straight[i]`` is set, the segment from node i to
    node i + 1 is a straight line and the spline restarts after it (C0 joins). Output
    points are equally spaced along the arc, at most ``spacing`` apart, and start and end
    exactly at the first and last node.

    Args:
        xy: Control points, shape (N, 2) (x = column, y = row).
        straight: Optional straight-to-next flags, one per node.
        spacing: Largest spacing between output points, in the same pixels as ``xy``.

    Returns:
        Dense points, shape (K, 2). A single node returns itself.

    >>> sample_curve([[0, 0], [3, 4]], spacing=2.5).round(12).tolist()
    [[0.0, 0.0], [1.5, 2.0], [3.0, 4.0]]
    >>> pts = sample_curve([[0, 0], [1, 1], [2, 0]], spacing=0.1)
    >>> bool(abs(pts[:, 1].max() - 1.0) < 0.05)
    True
    """
    if spacing <= 0:
        raise ValueError(f"spacing must be positive, got {spacing}")
    return resample_polyline(spline_points(xy, straight, spacing / _OVERSAMPLE), spacing)


def polyline_length(poly: npt.ArrayLike) -> float:
    """Total length of a polyline, shape (M, 2).

    >>> polyline_length([[0, 0], [3, 4], [3, 5]])
    6.0
    """
    p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())


def curve_length(
    xy: npt.ArrayLike, straight: Sequence[bool] | None = None, spacing: float = 0.25
) -> float:
    """Arc length of the spline through control points (see :func:`sample_curve`).

    >>> round(curve_length([[0, 0], [10, 0], [20, 0]]), 6)
    20.0
    """
    # Measured on the parameter samples (which include every node, so corners at
    # straight segments are not cut as an arc-length resampling would).
    return polyline_length(spline_points(xy, straight, spacing))


def point_to_polyline_distance(
    points: npt.ArrayLike, poly: npt.ArrayLike, chunk: int = 4096
) -> FloatArray:
    """Euclidean distance from each point to the nearest point of a polyline.

    Args:
        points: Query points, shape (P, 2).
        poly: Polyline vertices, shape (M, 2); M = 1 is a single point.
        chunk: Query points handled per vectorised block (bounds memory at chunk x M).

    Returns:
        Distances, shape (P,).

    >>> point_to_polyline_distance([[1, 1], [5, 0]], [[0, 0], [2, 0]]).tolist()
    [1.0, 3.0]
    """
    q = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    if len(p) == 0:
        raise ValueError("polyline has no vertices")
    if len(p) == 1:
        return np.linalg.norm(q - p[0], axis=1)
    a = p[:-1]
    d = p[1:] - a
    dd = np.maximum((d * d).sum(axis=1), 1e-300)
    out = np.empty(len(q))
    for s in range(0, len(q), chunk):
        qq = q[s : s + chunk, None, :]
        t = np.clip(((qq - a) * d).sum(axis=2) / dd, 0.0, 1.0)
        proj = a + t[..., None] * d
        out[s : s + chunk] = np.sqrt(((qq - proj) ** 2).sum(axis=2).min(axis=1))
    return out


def curve_distances(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[float, float]:
    """Symmetric mean distance and Hausdorff distance between two dense polylines.

    Each polyline should be densely sampled (e.g. by :func:`sample_curve`); distances are
    taken from every vertex of one to the other polyline's segments.

    Returns:
        ``(mean, hausdorff)``: the mean of both directed mean distances, and the largest
        directed distance.

    >>> curve_distances([[0, 0], [10, 0]], [[0, 1], [10, 1]])
    (1.0, 1.0)
    """
    pa = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    pb = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    dab = point_to_polyline_distance(pa, pb)
    dba = point_to_polyline_distance(pb, pa)
    mean = 0.5 * (float(dab.mean()) + float(dba.mean()))
    return mean, float(max(dab.max(), dba.max()))
