"""Curves from control points: natural cubic splines by chord length, lengths, distances.

All coordinates are ``xy`` arrays of shape (N, 2): x = column, y = row, in pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

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


def _natural_second_derivatives(t: FloatArray, y: FloatArray) -> FloatArray:
    """Second derivatives of the natural cubic spline through (t, y); y shape (N, 2).

    Solves the tridiagonal system by the Thomas algorithm on Python complex numbers
    (x + iy): for the 3-50 nodes of a label this is several times faster than a dense
    ``np.linalg.solve``.
    """
    n = len(t)
    m = np.zeros_like(y)
    if n < 3:
        return m
    h = np.diff(t).tolist()
    z = (y[:, 0] + 1j * y[:, 1]).tolist()
    slope = [(z[i + 1] - z[i]) / h[i] for i in range(n - 1)]
    rhs = [6.0 * (slope[i + 1] - slope[i]) for i in range(n - 2)]
    diag = [2.0 * (h[i] + h[i + 1]) for i in range(n - 2)]
    # The off-diagonal entry between unknowns i and i + 1 is h[i + 1].
    arr = np.array(solve_tridiagonal(diag, h[1 : n - 2], rhs))
    m[1:-1, 0] = arr.real
    m[1:-1, 1] = arr.imag
    return m


def _eval_spline(
    t: FloatArray, y: FloatArray, m: FloatArray, tq: FloatArray, i: npt.NDArray[np.intp]
) -> FloatArray:
    """Evaluate the cubic spline (knots t, values y, second derivatives m) at tq in knot i."""
    # Complex x + iy keeps every gather one-dimensional (much faster than row gathers).
    yz = y[:, 0] + 1j * y[:, 1]
    mz = m[:, 0] + 1j * m[:, 1]
    h = np.diff(t)
    # Power-basis coefficients per knot interval in u = tq - t[i], evaluated by Horner.
    c1 = (yz[1:] - yz[:-1]) / h - h * (2.0 * mz[:-1] + mz[1:]) / 6.0
    c2 = mz[:-1] / 2.0
    c3 = (mz[1:] - mz[:-1]) / (6.0 * h)
    u = tq - t[i]
    z = yz[i] + u * (c1[i] + u * (c2[i] + u * c3[i]))
    return np.stack([z.real, z.imag], axis=1)


def _piece_fine(nodes: FloatArray, step: float) -> FloatArray:
    """Finely sampled points along one piece (a line for 2 nodes, else a spline).

    Each segment between nodes gets ``ceil(chord / step)`` parameter steps, and the nodes
    themselves are among the samples (so the curve passes through them).
    """
    d = np.diff(nodes, axis=0)
    chords = np.hypot(d[:, 0], d[:, 1])
    t = np.concatenate([[0.0], np.cumsum(chords)])
    steps = np.maximum(np.ceil(chords * (1 / step)).astype(np.intp), 1)
    seg = np.repeat(np.arange(len(chords)), steps)
    total = int(steps.sum())
    first = np.cumsum(steps) - steps
    frac = (np.arange(total) - first[seg]) / steps[seg]
    if len(nodes) == 2:
        s = np.concatenate([frac, [1.0]])[:, None]
        return nodes[0] * (1 - s) + nodes[1] * s
    m = _natural_second_derivatives(t, nodes)
    tq = t[seg] + frac * chords[seg]
    return np.concatenate([_eval_spline(t, nodes, m, tq, seg), nodes[-1:]])


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
    d = np.diff(p, axis=0)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(d[:, 0], d[:, 1]))])
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
    straight segments). Cheaper when the caller resamples anyway.

    >>> spline_points([[0, 0], [2, 0]], step=0.5).tolist()
    [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [1.5, 0.0], [2.0, 0.0]]
    """
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    nodes, flags = dedupe_nodes(xy, straight)
    if len(nodes) <= 1:
        return nodes.copy()
    pcs = _pieces(nodes, flags)
    parts = [_piece_fine(p, step) for p in pcs]
    return np.concatenate([p[:-1] for p in parts[:-1]] + [parts[-1]])


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

    >>> sample_curve([[0, 0], [3, 4]], spacing=2.5).tolist()
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
