"""Fast windowed rendering of point and curve Gaussians into target heatmaps (numpy only).

Points are separable: a 1-D Gaussian per axis inside ``+-k sigma`` and their outer product.

Curves use the exact Euclidean distance to a dense polyline, evaluated only in a narrow
band. The polyline is cut into pieces (at corners and every ~90 degrees of turning) and the
pieces into chunks of ~4 px. Each chunk's band is a slab in the chunk's chord frame (the
chord's extent plus a margin that covers the chunk's bending, times the normal extent
plus the band radius), whose pixels are enumerated row by row from exact x-intervals.
Every enumerated pixel starts at the vertex its chord coordinate points to and gets the
exact distance to the two segments meeting there, corrected across each segment by the
curve's bulge off the chord (``kappa t (L - t) / 2``, from the local turning), so that a
0.5 px polyline gives the spline's distance to ~1e-3 px. Pixels whose projection runs
past (or into the last quarter of) either segment -- about one in ten -- then take
curvature-corrected Newton steps along the piece to their nearest vertex and are measured
again there. A pixel reached from several chunks (overlapping margins, or two arms of one
curve) keeps the largest value, which is the Gaussian of the smallest distance. Cost is a
small constant per band pixel, never pixels x curve points; the per-pixel work is float32
on contiguous arrays (one gather per vertex attribute).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ComplexArray = npt.NDArray[np.complex128]
FloatArray32 = npt.NDArray[np.float32]

#: Arc length of one band-enumeration chunk (target px).
_CHUNK_PX = 4.0
#: Newton steps along the curve (each pixel usually stops after one or two).
_NEWTON_STEPS = 6
#: Curves are rendered as pieces that each turn by at most this much (radians).
_MAX_TURN_RAD = np.pi / 2
#: A pixel whose projection falls beyond this fraction of one of its seed vertex's two
#: segments walks to a better vertex (the nearest point may lie on the next segment).
_NEAR_END = 0.75


def render_points(
    out: npt.NDArray[np.float32],
    channels: Sequence[int],
    xy: Sequence[FloatArray] | FloatArray,
    sigma: float,
    radius: float,
) -> None:
    """Max-combine Gaussian dots into ``out`` in place.

    Args:
        out: Heatmaps, shape (K, h, w), float32.
        channels: Channel index of each point.
        xy: Point centres in target px, shape (P, 2).
        sigma: Gaussian sigma (target px).
        radius: Only pixels within ``radius`` (per axis) of the centre are written.

    >>> hm = np.zeros((1, 5, 5), np.float32)
    >>> render_points(hm, [0], np.array([[2.0, 1.0]]), 1.0, 4.0)
    >>> float(hm[0, 1, 2]), round(float(hm[0, 1, 3]), 4)
    (1.0, 0.6065)
    """
    flat, base, h, w = _one_map(out, len(channels))
    idx, val = point_values(base, h, w, channels, xy, sigma, radius)
    np.maximum.at(flat, idx, val)


def _one_map(
    out: npt.NDArray[np.float32], n: int
) -> tuple[npt.NDArray[np.float32], IntArray, IntArray, IntArray]:
    """``out`` (K, h, w) as a flat buffer, with the bases and sizes ``*_values`` take.

    The flat buffer is a view of a contiguous ``out``, so writes into it land in ``out``.
    """
    n_k, h, w = out.shape
    return (
        out.reshape(n_k * h * w),
        np.zeros(n, np.int64),
        np.full(n, h, np.int64),
        np.full(n, w, np.int64),
    )


def point_values(
    base: IntArray,
    h: IntArray,
    w: IntArray,
    channels: Sequence[int],
    xy: Sequence[FloatArray] | FloatArray,
    sigma: float,
    radius: float,
) -> tuple[IntArray, npt.NDArray[np.float32]]:
    """Flat indices and values of the point windows of :func:`render_points`.

    Point ``j`` is drawn into channel ``channels[j]`` of the [K, h[j], w[j]] map that
    starts at flat index ``base[j]``, so one call can fill the maps of every stride.

    Returns:
        ``(index, value)``; an index may repeat (max-combine them, e.g. ``np.maximum.at``).
    """
    centres = np.asarray(xy, np.float64).reshape(-1, 2)
    if len(centres) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    ch = np.asarray(channels, np.int64)
    size = 2 * int(np.ceil(radius)) + 2
    x0 = np.ceil(centres[:, 0] - radius).astype(np.int64)
    y0 = np.ceil(centres[:, 1] - radius).astype(np.int64)
    xs = x0[:, None] + np.arange(size)  # (P, size)
    ys = y0[:, None] + np.arange(size)
    inv = -0.5 / (sigma * sigma)
    gx = np.exp(inv * (xs - centres[:, 0:1]) ** 2)
    gy = np.exp(inv * (ys - centres[:, 1:2]) ** 2)
    ok_x = (xs >= 0) & (xs < w[:, None]) & (xs <= centres[:, 0:1] + radius)
    ok_y = (ys >= 0) & (ys < h[:, None]) & (ys <= centres[:, 1:2] + radius)
    gx = np.where(ok_x, gx, 0.0).astype(np.float32)
    gy = np.where(ok_y, gy, 0.0).astype(np.float32)
    val = gy[:, :, None] * gx[:, None, :]
    # Off-map window cells are redirected to a valid cell with value 0 (max is a no-op).
    col = np.where(ok_x, xs, 0)
    row = np.where(ok_y, ys, 0)
    idx = (base[:, None] + (ch[:, None] * h[:, None] + row) * w[:, None])[:, :, None] + col[
        :, None, :
    ]
    return idx.ravel(), val.ravel()


def render_curves(
    out: npt.NDArray[np.float32],
    channels: Sequence[int],
    polylines: Sequence[FloatArray],
    sigma: float,
    radius: float,
) -> None:
    """Max-combine Gaussians of the distance to each polyline into ``out`` in place.

    Every pixel within ``radius`` of a polyline gets ``exp(-d**2 / (2 sigma**2))`` with ``d``
    the exact distance to that polyline (some pixels a little further out get their exact
    value too); pixels further away are left alone.

    Args:
        out: Heatmaps, shape (K, h, w), float32.
        channels: Channel index of each polyline.
        polylines: Dense polylines in target px, each shape (M, 2) with M >= 1 and nearly
            uniform spacing (e.g. from :func:`echomark.geometry.resample_polyline`).
        sigma: Gaussian sigma (target px).
        radius: Band half-width (target px).

    >>> hm = np.zeros((1, 5, 7), np.float32)
    >>> render_curves(hm, [0], [np.array([[1.0, 2.0], [5.0, 2.0]])], 1.0, 4.0)
    >>> [round(float(v), 4) for v in hm[0, :, 3]]
    [0.1353, 0.6065, 1.0, 0.6065, 0.1353]
    """
    flat, base, h, w = _one_map(out, len(polylines))
    target, val = curve_values(base, h, w, channels, polylines, sigma, radius)
    np.maximum.at(flat, target, val)


def curve_values(
    base: IntArray,
    h: IntArray,
    w: IntArray,
    channels: Sequence[int],
    polylines: Sequence[FloatArray],
    sigma: float,
    radius: float,
) -> tuple[IntArray, npt.NDArray[np.float32]]:
    """Flat indices and values of the curve bands of :func:`render_curves`.

    Polyline ``j`` is drawn into channel ``channels[j]`` of the [K, h[j], w[j]] map that
    starts at flat index ``base[j]``; rendering both strides in one call halves the fixed
    cost.

    Returns:
        ``(index, value)``; an index may repeat (max-combine them, e.g. ``np.maximum.at``).
    """
    empty = np.zeros(0, np.int64), np.zeros(0, np.float32)
    if not polylines:
        return empty
    v, sizes, owner, turn_in, turn_out, curv, turn = split_pieces(polylines, _MAX_TURN_RAD, radius)
    geo = _Geometry(v, sizes, turn_in, turn_out, curv, turn, _CHUNK_PX)
    chunk_line = owner[geo.chunk_piece]
    wc = w[chunk_line]
    origin = base[chunk_line] + np.asarray(channels, np.int64)[chunk_line] * h[chunk_line] * wc
    band = _slab_pixels(geo, radius, h[chunk_line], wc, origin)
    if band is None:
        return empty
    x, y, target, per_chunk = band
    seed = _seed_vertex(geo, x, y, per_chunk)
    # Most seeds already sit next to the segment holding the foot point; only pixels
    # whose projection runs past (or near the end of) the seed's two segments walk, and
    # are measured again.
    d2, beyond = _distance2(geo, x, y, seed)
    walk = np.flatnonzero(beyond)
    if len(walk):
        xw = x[walk]
        yw = y[walk]
        i = _newton(geo, xw + 1j * yw, seed[walk])
        d2[walk] = _distance2(geo, xw, yw, i)[0]
    d2 *= np.float32(-0.5 / (sigma * sigma))
    return target, np.exp(d2, out=d2)


def split_pieces(
    polylines: Sequence[FloatArray], max_turn: float, min_radius: float
) -> tuple[ComplexArray, IntArray, IntArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Cut polylines into pieces with bounded turning and curvature (vectorised).

    A new piece starts where a polyline's accumulated turning passes a multiple of
    ``max_turn`` and at every vertex whose turn means a radius of curvature below
    ``min_radius`` (a corner, or a bend tighter than the band), so that inside a piece
    the radius is at least ``min_radius`` and the tangent turns by less than 90 degrees.
    For a pixel closer to such a piece than ``min_radius`` the distance along the piece
    has a single stationary point, its minimum, which the Newton walk relies on. Pieces
    share their joining vertex.

    Returns:
        ``(v, sizes, owner, turn_in, turn_out, curv_turn, vertex_turn)``: the pieces'
        vertices concatenated as complex ``x + 1j*y``, the vertex count of each piece, the
        polyline each came from, the turn (radians) at each piece's first and last vertex
        (``inf`` at a polyline end), each vertex's signed turn as a measure of curvature
        for the chord correction (0 at polyline ends and at corners), and each vertex's
        signed turn for the Newton walk (0 at piece ends).

    >>> sq = [np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)]
    >>> v, sizes, owner, t_in, t_out, _, _ = split_pieces(sq, np.pi / 3, 0.5)
    >>> sizes.tolist(), owner.tolist(), np.round(t_in, 3).tolist()
    ([2, 2, 2], [0, 0, 0], [inf, 1.571, 1.571])
    """
    sizes_in = np.array([len(p) for p in polylines], np.int64)
    if np.any(sizes_in < 1):
        raise ValueError("every polyline needs at least one vertex")
    xy = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for p in polylines])
    z = xy[:, 0] + 1j * xy[:, 1]
    n = len(z)
    c_hi = np.cumsum(sizes_in) - 1
    c_lo = c_hi - sizes_in + 1
    seg = np.zeros(n, np.complex128)
    seg[:-1] = z[1:] - z[:-1]
    seg[c_hi] = 0.0
    length = np.abs(seg)
    interior = np.ones(n, dtype=bool)  # vertices with a segment on both sides
    interior[c_lo] = False
    interior[c_hi] = False
    idx = np.flatnonzero(interior)
    signed = np.zeros(n)
    signed[idx] = np.angle(seg[idx] * np.conj(seg[idx - 1]))
    turn = np.abs(signed)
    # Curvature for the chord correction: a turn much sharper than both neighbours' is a
    # corner (straight segment meeting the spline), whose adjacent segments are straight.
    around = np.zeros(n)
    around[1:-1] = np.maximum(turn[:-2], turn[2:])
    curv_turn = np.where(turn > 3.0 * around + 0.02, 0.0, signed)
    short = np.zeros(n)
    short[idx] = np.minimum(length[idx], length[idx - 1])
    corner = interior & (turn * min_radius > short)
    cum = np.cumsum(np.where(corner, 0.0, turn))
    # Turning counts from each polyline's start, so that where one polyline is cut does
    # not depend on the polylines before it (each channel's target is its own).
    cum -= np.repeat(cum[c_lo], sizes_in)
    band = np.floor(cum / max_turn)
    wrap = np.zeros(n, dtype=bool)
    wrap[1:] = band[1:] != band[:-1]
    cut = interior & (corner | wrap)
    starts = np.sort(np.concatenate([c_lo, np.flatnonzero(cut)]))
    owner = np.searchsorted(c_lo, starts, side="right") - 1
    ends = np.concatenate([starts[1:], [0]])
    last = np.concatenate([owner[1:] != owner[:-1], [True]])
    ends[last] = c_hi[owner[last]]
    sizes = ends - starts + 1
    first_of = np.cumsum(sizes) - sizes
    pick = np.arange(int(sizes.sum())) - np.repeat(first_of, sizes) + np.repeat(starts, sizes)
    polyline_start = np.zeros(n, dtype=bool)
    polyline_start[c_lo] = True
    turn_in = np.where(polyline_start[starts], np.inf, turn[starts])
    turn_out = np.where(last, np.inf, turn[ends])
    vertex_turn = signed[pick]
    hi = np.cumsum(sizes) - 1
    vertex_turn[hi] = 0.0
    vertex_turn[hi - sizes + 1] = 0.0
    return z[pick], sizes, owner, turn_in, turn_out, curv_turn[pick], vertex_turn


class _Geometry:
    """Concatenated pieces as complex points, with per-vertex and per-chunk constants."""

    def __init__(
        self,
        v: ComplexArray,
        sizes: IntArray,
        turn_in: FloatArray,
        turn_out: FloatArray,
        curv_turn: FloatArray,
        vertex_turn: FloatArray,
        chunk_px: float,
    ) -> None:
        n_p = len(sizes)
        self.hi = np.cumsum(sizes) - 1
        self.lo = self.hi - sizes + 1
        n = len(v)
        self.v = v
        self.turn_in = turn_in
        self.turn_out = turn_out
        pid = np.repeat(np.arange(n_p), sizes)
        # Outgoing segment of each vertex: unit direction and length (0 at piece ends).
        seg = np.zeros(n, np.complex128)
        seg[:-1] = v[1:] - v[:-1]
        seg[self.hi] = 0.0
        length = np.abs(seg)
        # A zero-length segment (piece end) gets an arbitrary unit: its distance is then
        # just the distance to the vertex.
        unit = np.divide(seg, length, out=np.ones(n, np.complex128), where=length > 0)
        # The last vertex of a piece uses its incoming direction for the Newton frame.
        multi = self.hi > self.lo
        unit_n = unit.copy()
        unit_n[self.hi[multi]] = unit[self.hi[multi] - 1]
        seg_sum = np.add.reduceat(length, self.lo)
        spacing = np.where(multi, seg_sum / np.maximum(sizes - 1, 1), 1.0)
        spacing = np.maximum(spacing, 1e-9)
        # Newton frame: conj(unit) / spacing maps (p - v) to (t, n) in vertex steps; the
        # step is t / (1 - kappa n), exact to first order on both sides of a bend.
        self.frame = (np.conj(unit_n) / spacing[pid]).astype(np.complex64)
        # Curvature x spacing = turning per vertex (0 at piece ends).
        self.kappa_sp = vertex_turn.astype(np.float32)
        # Single-precision copies for the per-pixel work (coordinates < 1e4 px, so the
        # rounding is below 1e-3 px).
        self.v32 = v.astype(np.complex64)
        self.len32 = length.astype(np.float32)
        # The incoming segment of each vertex, reversed (pointing back to vertex i - 1).
        back_len = np.zeros(n)
        back_len[1:] = length[:-1]
        back_len[self.lo] = 0.0
        back = np.ones(n, np.complex128)
        back[1:] = -unit[:-1]
        back[self.lo] = 1.0
        # Real single-precision columns for the per-pixel distance (contiguous gathers).
        self.vx32 = v.real.astype(np.float32)
        self.vy32 = v.imag.astype(np.float32)
        self.ux32 = unit.real.astype(np.float32)
        self.uy32 = unit.imag.astype(np.float32)
        self.bx32 = back.real.astype(np.float32)
        self.by32 = back.imag.astype(np.float32)
        self.back_len32 = back_len.astype(np.float32)
        # Chord correction: the spline between two vertices bulges off the chord by
        # kappa t (L - t) / 2 (to the outside of the bend); kappa per segment is the mean
        # of its end vertices' turn / spacing. Halved here, in the outgoing frame and in
        # the reversed incoming frame (where the bend changes sign).
        kv = curv_turn / spacing[pid]
        kseg = np.zeros(n)
        kseg[:-1] = 0.5 * (kv[:-1] + kv[1:])
        kseg[self.hi] = 0.0
        self.bulge_out32 = (0.5 * kseg).astype(np.float32)
        bulge_back = np.zeros(n)
        bulge_back[1:] = 0.5 * kseg[:-1]
        bulge_back[self.lo] = 0.0
        self.bulge_in32 = (-bulge_back).astype(np.float32)  # the reversed frame flips it
        self.lo_v = self.lo[pid]
        self.hi_v = self.hi[pid]
        # Chunks: vertex ranges [a, b] (sharing end vertices) of about chunk_px each.
        per = np.maximum(1, np.rint(chunk_px / spacing).astype(np.int64))
        n_chunks = np.maximum(1, -(-(self.hi - self.lo) // per))
        cp = np.repeat(np.arange(n_p), n_chunks)
        within = np.arange(len(cp)) - np.repeat(np.cumsum(n_chunks) - n_chunks, n_chunks)
        a = self.lo[cp] + within * per[cp]
        b = np.minimum(np.concatenate([a[1:], [0]]), self.hi[cp])
        last = np.concatenate([cp[1:] != cp[:-1], [True]])
        b[last] = self.hi[cp[last]]
        self.chunk_a = a
        self.chunk_b = b
        self.chunk_piece = cp
        chord = v[b] - v[a]
        clen = np.abs(chord)
        e = np.where(clen > 0, chord / np.where(clen > 0, clen, 1.0), unit_n[a])
        e = np.where(np.abs(e) > 0, e, 1.0 + 0j)
        self.chunk_e = e
        self.chunk_o32 = v[a].astype(np.complex64)
        ce = np.conj(e)
        self.chunk_f32 = (ce / spacing[cp]).astype(np.complex64)
        # Extents of each chunk's vertices a..b in its chord frame, and how far the
        # directions of its segments and the one leaving b turn away from the chord. The
        # chunks' ranges [a, next a) tile the vertex array (the last one of a piece
        # reaching its end b); a chunk's own b is taken separately.
        reps = np.diff(a, append=n)
        local = (v - np.repeat(v[a], reps)) * np.repeat(ce, reps)
        local_b = (v[b] - v[a]) * ce
        self.t0 = np.minimum(np.minimum.reduceat(local.real, a), local_b.real)
        self.t1 = np.maximum(np.maximum.reduceat(local.real, a), local_b.real)
        self.n0 = np.minimum(np.minimum.reduceat(local.imag, a), local_b.imag)
        self.n1 = np.maximum(np.maximum.reduceat(local.imag, a), local_b.imag)
        # Largest angle between a unit direction and the chord: the arccos of the
        # smallest dot product (one arccos per chunk rather than an angle per vertex).
        dot = (unit_n * np.repeat(ce, reps)).real
        dot_b = (unit_n[b] * ce).real
        dot_min = np.minimum(np.minimum.reduceat(dot, a), dot_b)
        self.bend = np.arccos(np.clip(dot_min, -1.0, 1.0))


def _slab_pixels(
    geo: _Geometry, radius: float, h: IntArray, w: IntArray, origin: IntArray
) -> tuple[FloatArray32, FloatArray32, IntArray, IntArray] | None:
    """Pixels of every chunk's slab, row by row, grouped by chunk, and each chunk's count.

    A pixel within ``radius`` of the polyline whose nearest point lies in chunk j is in
    chunk j's slab: its normal offset from the chord is within the chunk's normal extent
    plus ``radius``, and its chord coordinate exceeds the chunk's extent by at most
    ``radius * sin(bend)``, with ``bend`` the largest angle between the chord and a segment
    of (or next to) the chunk; piece ends get a full ``radius`` for the caps. ``h`` and
    ``w`` give the map size of each chunk (pixels outside are dropped), ``origin`` the flat
    index of its map's pixel (0, 0).

    Returns:
        ``(x, y, target, per_chunk)``: pixel coordinates (float32), flat indices into the
        maps, and the number of pixels of each chunk; None when no pixel is in a map.
    """
    e = geo.chunk_e
    ex = e.real
    ey = e.imag
    cp = geo.chunk_piece
    first = np.concatenate([[True], cp[1:] != cp[:-1]])
    last = np.concatenate([cp[1:] != cp[:-1], [True]])
    # At a joint between pieces the neighbouring piece turns away by the joint's turn;
    # at a polyline end (turn inf) the margin is the full radius (the round cap).
    bend_lo = geo.bend + np.where(first, geo.turn_in[cp], 0.0)
    bend_hi = geo.bend + np.where(last, geo.turn_out[cp], 0.0)
    t_lo = geo.t0 - (radius * np.sin(np.minimum(bend_lo, np.pi / 2)) + 0.01)
    t_hi = geo.t1 + (radius * np.sin(np.minimum(bend_hi, np.pi / 2)) + 0.01)
    n_lo = geo.n0 - radius
    n_hi = geo.n1 + radius
    a = geo.v[geo.chunk_a]
    # Corners of the slab give each chunk's row range.
    corners = (
        a[:, None]
        + np.stack([t_lo + 1j * n_lo, t_lo + 1j * n_hi, t_hi + 1j * n_lo, t_hi + 1j * n_hi], axis=1)
        * e[:, None]
    )
    y0 = np.maximum(np.ceil(corners.imag.min(axis=1)).astype(np.int64), 0)
    y1 = np.minimum(np.floor(corners.imag.max(axis=1)).astype(np.int64), h - 1)
    rows = np.maximum(y1 - y0 + 1, 0)
    if rows.sum() == 0:
        return None
    # For a row y: t = (x - ax) ex + (y - ay) ey and n = -(x - ax) ey + (y - ay) ex, so
    # each of the slab's four sides bounds x at (side - dy * c) / s + ax: per chunk
    # constants (expanded to rows with np.repeat, a sequential copy) and one multiply-add
    # per row and side.
    inv_x = 1.0 / np.where(np.abs(ex) > 1e-12, ex, 1e-12)
    inv_y = 1.0 / np.where(np.abs(ey) > 1e-12, -ey, 1e-12)
    ax = a.real
    ay = a.imag
    ry = np.arange(int(rows.sum())) - np.repeat(np.cumsum(rows) - rows - y0, rows)
    dy = ry - np.repeat(ay, rows)
    slope_t = np.repeat(-ey * inv_x, rows)
    slope_n = np.repeat(-ex * inv_y, rows)
    ta = np.repeat(ax + t_lo * inv_x, rows) + dy * slope_t
    tb = np.repeat(ax + t_hi * inv_x, rows) + dy * slope_t
    na = np.repeat(ax + n_lo * inv_y, rows) + dy * slope_n
    nb = np.repeat(ax + n_hi * inv_y, rows) + dy * slope_n
    xlo = np.maximum(np.minimum(ta, tb), np.minimum(na, nb))
    xhi = np.minimum(np.maximum(ta, tb), np.maximum(na, nb))
    wr = np.repeat(w, rows)
    x0 = np.maximum(np.ceil(np.clip(xlo, -1.0, wr)).astype(np.int64), 0)
    x1 = np.minimum(np.floor(np.clip(xhi, -1.0, wr)).astype(np.int64), wr - 1)
    cnt = np.maximum(x1 - x0 + 1, 0)
    total = int(cnt.sum())
    if total == 0:
        return None
    # Pixels come out grouped by chunk, so per-chunk constants expand with np.repeat
    # (a sequential copy) rather than a gather.
    rank = np.arange(total)
    shift = np.cumsum(cnt) - cnt - x0  # x = rank - shift within each row
    target = np.repeat(np.repeat(origin, rows) + ry * wr - shift, cnt)
    target += rank
    x = rank.astype(np.float32)
    x -= np.repeat(shift.astype(np.float32), cnt)
    y = np.repeat(ry.astype(np.float32), cnt)
    row_end = np.cumsum(cnt)
    chunk_end = np.cumsum(rows)
    ends = np.concatenate([[0], row_end])[chunk_end]
    per_chunk = np.diff(ends, prepend=0)
    return x, y, target, per_chunk


def _seed_vertex(geo: _Geometry, x: FloatArray32, y: FloatArray32, per_chunk: IntArray) -> IntArray:
    """Vertex of the chunk whose arc position matches the pixel's chord coordinate.

    The chord coordinate in vertex spacings is ``Re((p - v_a) f)`` with ``f`` the chunk's
    ``conj(e) / spacing``, i.e. ``x Re f - y Im f + c`` per chunk; the seed is ``a`` plus
    its rounding, clamped to the chunk's vertices ``[a, b]``.
    """
    f = geo.chunk_f32.astype(np.complex128)
    o = geo.chunk_o32.astype(np.complex128)
    c = geo.chunk_a - o.real * f.real + o.imag * f.imag
    t = x * np.repeat(f.real.astype(np.float32), per_chunk)
    t -= y * np.repeat(f.imag.astype(np.float32), per_chunk)
    t += np.repeat(c.astype(np.float32), per_chunk)
    np.rint(t, out=t)
    np.maximum(t, np.repeat(geo.chunk_a.astype(np.float32), per_chunk), out=t)
    np.minimum(t, np.repeat(geo.chunk_b.astype(np.float32), per_chunk), out=t)
    return t.astype(np.intp)


def _newton(geo: _Geometry, pz: ComplexArray, seed: IntArray) -> IntArray:
    """Walk each seed vertex to the pixel's nearest vertex along its piece.

    A step is the pixel's tangential offset in vertex spacings, divided by
    ``1 - kappa n`` (n the normal offset) so that it is right on both sides of a bend;
    pixels whose steps swap between two neighbours stop (both segments around either
    vertex are measured afterwards).
    """
    lo = geo.lo_v[seed]
    hi = geo.hi_v[seed]
    i = seed.copy()
    prev = seed
    act = np.arange(len(seed))
    for _ in range(_NEWTON_STEPS):
        if len(act) == 0:
            break
        ia = i[act]
        q = (pz[act] - geo.v32[ia]) * geo.frame[ia]
        step = np.rint(q.real / np.maximum(1.0 - geo.kappa_sp[ia] * q.imag, np.float32(0.25)))
        nxt = np.minimum(np.maximum(ia + step.astype(np.int64), lo[act]), hi[act])
        going = (nxt != ia) & (nxt != prev[act])
        prev = prev.copy() if prev is seed else prev
        prev[act] = ia
        i[act] = nxt
        act = act[going]
    return i


def _distance2(
    geo: _Geometry, x: FloatArray32, y: FloatArray32, i: IntArray
) -> tuple[FloatArray32, npt.NDArray[np.bool_]]:
    """Squared distance from pixels to the curve near the two segments meeting at ``i``.

    Also says which pixels' projections run past the far end of either segment, or near
    it (their nearest point may lie further along the piece).

    When the walk stopped at the nearest vertex, or swapped between the two ends of the
    segment holding the foot point, one of these two segments holds the nearest point.
    Both are measured from the same offset ``q = p - v_i``: in the frame of the outgoing
    segment (length ``L_out``, zero at a piece end) and of the reversed incoming one. The
    offset across each segment is corrected by the spline's bulge off the chord (second
    order in the spacing), so a coarse polyline still gives the spline distance.
    """
    zero = np.float32(0.0)
    near_end = np.float32(_NEAR_END)
    qx = x - np.take(geo.vx32, i)
    qy = y - np.take(geo.vy32, i)
    best = np.empty(0, np.float32)
    beyond = np.empty(0, np.bool_)
    for k, (cx, cy, lens, bulge) in enumerate(
        (
            (geo.ux32, geo.uy32, geo.len32, geo.bulge_out32),
            (geo.bx32, geo.by32, geo.back_len32, geo.bulge_in32),
        )
    ):
        ux = np.take(cx, i)
        uy = np.take(cy, i)
        along = qx * ux
        along += qy * uy
        across = qy * ux
        across -= qx * uy
        length = np.take(lens, i)
        # Past (or within the last quarter of) a segment that has a far end: walk on.
        far = along > near_end * length
        far &= length > zero
        t = np.minimum(np.maximum(along, zero), length)
        along -= t
        along *= along
        length -= t
        length *= t
        length *= np.take(bulge, i)
        across += length
        across *= across
        along += across
        if k == 0:
            best, beyond = along, far
        else:
            np.minimum(best, along, out=best)
            beyond |= far
    return best, beyond
