"""Fast windowed rendering of point and curve Gaussians into target heatmaps (numpy only).

Points are separable: a 1-D Gaussian per axis inside ``+-k sigma`` and their outer product.

Curves use the exact Euclidean distance to a dense polyline, evaluated only in a narrow
band. The polyline is cut into pieces (at corners and every ~90 degrees of turning) and the
pieces into chunks of ~8 px. Each chunk's band is a slab in the chunk's chord frame (the
chord's extent plus a margin that covers the chunk's bending, times the normal extent
plus the band radius), whose pixels are enumerated row by row from exact x-intervals.
Every enumerated pixel starts at the vertex its chord coordinate points to, takes
curvature-corrected Newton steps along the piece to its nearest vertex, and then gets the
exact distance to the two segments meeting there, corrected across each segment by the
curve's bulge off the chord (``kappa t (L - t) / 2``, from the local turning), so that a
0.5 px polyline gives the spline's distance to ~1e-3 px. A pixel reached from several chunks
(overlapping margins, or two arms of one curve) keeps the largest value, which is the
Gaussian of the smallest distance. Cost is a small constant per band pixel, never
pixels x curve points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ComplexArray = npt.NDArray[np.complex128]

#: Arc length of one band-enumeration chunk (target px).
_CHUNK_PX = 4.0
#: Newton steps along the curve (each pixel usually stops after one or two).
_NEWTON_STEPS = 6
#: Curves are rendered as pieces that each turn by at most this much (radians).
_MAX_TURN_RAD = np.pi / 2


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
    n_k, h, w = out.shape
    n = len(channels)
    render_points_flat(
        out.reshape(n_k * h * w),
        np.zeros(n, np.int64),
        np.full(n, h, np.int64),
        np.full(n, w, np.int64),
        channels,
        xy,
        sigma,
        radius,
    )


def render_points_flat(
    flat: npt.NDArray[np.float32],
    base: IntArray,
    h: IntArray,
    w: IntArray,
    channels: Sequence[int],
    xy: Sequence[FloatArray] | FloatArray,
    sigma: float,
    radius: float,
) -> None:
    """:func:`render_points` into several maps held in one flat buffer (see curves)."""
    centres = np.asarray(xy, np.float64).reshape(-1, 2)
    if len(centres) == 0:
        return
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
    np.maximum.at(flat, idx.ravel(), val.ravel())


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
    n_k, h, w = out.shape
    n = len(polylines)
    render_curves_flat(
        out.reshape(n_k * h * w),
        np.zeros(n, np.int64),
        np.full(n, h, np.int64),
        np.full(n, w, np.int64),
        channels,
        polylines,
        sigma,
        radius,
    )


def render_curves_flat(
    flat: npt.NDArray[np.float32],
    base: IntArray,
    h: IntArray,
    w: IntArray,
    channels: Sequence[int],
    polylines: Sequence[FloatArray],
    sigma: float,
    radius: float,
) -> None:
    """:func:`render_curves` into several maps held in one flat buffer, in one pass.

    Polyline ``j`` is drawn into channel ``channels[j]`` of the [K, h[j], w[j]] map that
    starts at ``flat[base[j]]``; rendering both strides in one call halves the fixed cost.
    """
    if not polylines:
        return
    v, sizes, owner, turn_in, turn_out, curv = split_pieces(polylines, _MAX_TURN_RAD, radius)
    geo = _Geometry(v, sizes, turn_in, turn_out, curv, _CHUNK_PX)
    chunk_line = owner[geo.chunk_piece]
    band = _slab_pixels(geo, radius, h[chunk_line], w[chunk_line])
    if band is None:
        return
    px, py, per_chunk = band
    pz = px.astype(np.float32) + 1j * py.astype(np.float32)
    seed = _seed_vertex(geo, pz, per_chunk)
    d2 = _distance2(geo, pz, _newton(geo, pz, seed, per_chunk))
    val = np.exp(d2 * np.float32(-0.5 / (sigma * sigma)))
    wc = w[chunk_line]
    origin = base[chunk_line] + np.asarray(channels, np.int64)[chunk_line] * h[chunk_line] * wc
    target = np.repeat(origin, per_chunk) + py * np.repeat(wc, per_chunk) + px
    np.maximum.at(flat, target, val)


def split_pieces(
    polylines: Sequence[FloatArray], max_turn: float, min_radius: float
) -> tuple[ComplexArray, IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
    """Cut polylines into pieces with bounded turning and curvature (vectorised).

    A new piece starts where a polyline's accumulated turning passes a multiple of
    ``max_turn`` and at every vertex whose turn means a radius of curvature below
    ``min_radius`` (a corner, or a bend tighter than the band), so that inside a piece
    the radius is at least ``min_radius`` and the tangent turns by less than 90 degrees.
    For a pixel closer to such a piece than ``min_radius`` the distance along the piece
    has a single stationary point, its minimum, which the Newton walk relies on. Pieces
    share their joining vertex.

    Returns:
        ``(v, sizes, owner, turn_in, turn_out, curv_turn)``: the pieces' vertices
        concatenated as complex ``x + 1j*y``, the vertex count of each piece, the polyline
        each came from, the turn (radians) at each piece's first and last vertex (``inf``
        at a polyline end), and each vertex's signed turn as a measure of curvature (0 at
        polyline ends and at corners).

    >>> sq = [np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)]
    >>> v, sizes, owner, t_in, t_out, _ = split_pieces(sq, np.pi / 3, 0.5)
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
    turn_in = np.where(np.isin(starts, c_lo), np.inf, turn[starts])
    turn_out = np.where(last, np.inf, turn[ends])
    return z[pick], sizes, owner, turn_in, turn_out, curv_turn[pick]


class _Geometry:
    """Concatenated pieces as complex points, with per-vertex and per-chunk constants."""

    def __init__(
        self,
        v: ComplexArray,
        sizes: IntArray,
        turn_in: FloatArray,
        turn_out: FloatArray,
        curv_turn: FloatArray,
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
        self.seg_len = length
        # A zero-length segment (piece end) gets an arbitrary unit: its distance is then
        # just the distance to the vertex.
        unit = np.divide(seg, length, out=np.ones(n, np.complex128), where=length > 0)
        # The last vertex of a piece uses its incoming direction for the Newton frame.
        multi = self.hi > self.lo
        unit_n = unit.copy()
        unit_n[self.hi[multi]] = unit[self.hi[multi] - 1]
        self.unit = unit
        seg_sum = np.add.reduceat(length, self.lo)
        spacing = np.where(multi, seg_sum / np.maximum(sizes - 1, 1), 1.0)
        spacing = np.maximum(spacing, 1e-9)
        self.spacing = spacing
        # Newton frame: conj(unit) / spacing maps (p - v) to (t, n) in vertex steps; the
        # step is t / (1 - kappa n), exact to first order on both sides of a bend.
        self.frame = (np.conj(unit_n) / spacing[pid]).astype(np.complex64)
        turn = np.zeros(n)
        inner = np.zeros(n, dtype=bool)
        inner[1:] = (length[1:] > 0) & (length[:-1] > 0)
        turn[inner] = np.angle(unit[inner] * np.conj(unit[np.flatnonzero(inner) - 1]))
        self.kappa_sp = turn.astype(np.float32)  # curvature x spacing = turning per vertex
        # Single-precision copies for the per-pixel work (coordinates < 1e4 px, so the
        # rounding is below 1e-3 px).
        self.v32 = v.astype(np.complex64)
        self.unit32 = np.conj(unit).astype(np.complex64)
        self.len32 = length.astype(np.float32)
        # The incoming segment of each vertex, reversed (pointing back to vertex i - 1).
        back_len = np.zeros(n)
        back_len[1:] = length[:-1]
        back_len[self.lo] = 0.0
        back = np.ones(n, np.complex128)
        back[1:] = -unit[:-1]
        back[self.lo] = 1.0
        self.back32 = np.conj(back).astype(np.complex64)
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
        self.bulge_back32 = bulge_back.astype(np.float32)
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
        self.chunk_f32 = (np.conj(e) / spacing[cp]).astype(np.complex64)
        self.chunk_len = clen
        # Extents of each chunk's vertices in its chord frame, and how far its segments
        # (plus the neighbouring segment on either side) turn away from the chord.
        count = b - a + 1
        owner = np.repeat(np.arange(len(a)), count)
        starts = np.cumsum(count) - count
        verts = np.arange(len(owner)) - starts[owner] + a[owner]
        local = (v[verts] - v[a[owner]]) * np.conj(e[owner])
        self.t0 = np.minimum.reduceat(local.real, starts)
        self.t1 = np.maximum.reduceat(local.real, starts)
        self.n0 = np.minimum.reduceat(local.imag, starts)
        self.n1 = np.maximum.reduceat(local.imag, starts)
        seg_ix = np.clip(
            verts, self.lo_v[verts], np.maximum(self.hi_v[verts] - 1, self.lo_v[verts])
        )
        dev = np.abs(np.angle(unit_n[seg_ix] * np.conj(e[owner])))
        self.bend = np.maximum.reduceat(dev, starts)


def _slab_pixels(
    geo: _Geometry, radius: float, h: IntArray, w: IntArray
) -> tuple[IntArray, IntArray, IntArray] | None:
    """Pixels of every chunk's slab, row by row, grouped by chunk, and each chunk's count.

    A pixel within ``radius`` of the polyline whose nearest point lies in chunk j is in
    chunk j's slab: its normal offset from the chord is within the chunk's normal extent
    plus ``radius``, and its chord coordinate exceeds the chunk's extent by at most
    ``radius * sin(bend)``, with ``bend`` the largest angle between the chord and a segment
    of (or next to) the chunk; piece ends get a full ``radius`` for the caps. ``h`` and
    ``w`` give the map size of each chunk (pixels outside are dropped).
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
    rc = np.repeat(np.arange(len(rows)), rows)
    ry = np.arange(len(rc)) - np.repeat(np.cumsum(rows) - rows, rows) + y0[rc]
    # For a row y: t = (x - ax) ex + (y - ay) ey and n = -(x - ax) ey + (y - ay) ex.
    dy = ry - a.imag[rc]
    cx = ex[rc]
    cy = ey[rc]
    safe_x = np.where(np.abs(cx) > 1e-12, cx, 1e-12)
    safe_y = np.where(np.abs(cy) > 1e-12, -cy, 1e-12)
    ta = (t_lo[rc] - dy * cy) / safe_x
    tb = (t_hi[rc] - dy * cy) / safe_x
    na = (n_lo[rc] - dy * cx) / safe_y
    nb = (n_hi[rc] - dy * cx) / safe_y
    ax = a.real[rc]
    xlo = ax + np.maximum(np.minimum(ta, tb), np.minimum(na, nb))
    xhi = ax + np.minimum(np.maximum(ta, tb), np.maximum(na, nb))
    wr = w[rc]
    x0 = np.maximum(np.ceil(np.clip(xlo, -1.0, wr)).astype(np.int64), 0)
    x1 = np.minimum(np.floor(np.clip(xhi, -1.0, wr)).astype(np.int64), wr - 1)
    cnt = np.maximum(x1 - x0 + 1, 0)
    total = int(cnt.sum())
    if total == 0:
        return None
    # Pixels come out grouped by chunk, so per-chunk constants expand with np.repeat
    # (a sequential copy) rather than a gather.
    px = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt - x0, cnt)
    py = np.repeat(ry, cnt)
    per_chunk = np.bincount(rc, weights=cnt, minlength=len(rows)).astype(np.int64)
    return px, py, per_chunk


def _seed_vertex(geo: _Geometry, pz: ComplexArray, per_chunk: IntArray) -> IntArray:
    """Vertex of the chunk whose arc position matches the pixel's chord coordinate."""
    t = ((pz - np.repeat(geo.chunk_o32, per_chunk)) * np.repeat(geo.chunk_f32, per_chunk)).real
    a = np.repeat(geo.chunk_a, per_chunk)
    step = np.maximum(np.rint(t).astype(np.int64), 0)
    return np.minimum(a + step, np.repeat(geo.chunk_b, per_chunk))


def _newton(geo: _Geometry, pz: ComplexArray, seed: IntArray, per_chunk: IntArray) -> IntArray:
    """Walk each seed vertex to the pixel's nearest vertex along its piece.

    A step is the pixel's tangential offset in vertex spacings, divided by
    ``1 - kappa n`` (n the normal offset) so that it is right on both sides of a bend;
    pixels whose steps swap between two neighbours stop (both segments around either
    vertex are measured afterwards).
    """
    piece = geo.chunk_piece
    lo = np.repeat(geo.lo[piece], per_chunk)
    hi = np.repeat(geo.hi[piece], per_chunk)
    q = (pz - geo.v32[seed]) * geo.frame[seed]
    step = np.rint(q.real / np.maximum(1.0 - geo.kappa_sp[seed] * q.imag, np.float32(0.25)))
    i = np.minimum(np.maximum(seed + step.astype(np.int64), lo), hi)
    act = np.flatnonzero(i != seed)
    prev = seed
    for _ in range(_NEWTON_STEPS - 1):
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


def _distance2(geo: _Geometry, pz: ComplexArray, i: IntArray) -> FloatArray:
    """Squared distance from pixels to the curve near the two segments meeting at ``i``.

    When the walk stopped at the nearest vertex, or swapped between the two ends of the
    segment holding the foot point, one of these two segments holds the nearest point.
    Both are measured from the same offset ``q = p - v_i``: in the frame of the outgoing
    segment (length ``L_out``, zero at a piece end) and of the reversed incoming one. The
    offset across each segment is corrected by the spline's bulge off the chord
    (second order in the spacing), so a coarse polyline still gives the spline distance.
    """
    q = pz - geo.v32[i]
    a = q * geo.unit32[i]  # outgoing frame: real = along, imag = across
    b = q * geo.back32[i]  # incoming segment reversed (unit 1 at a piece start)
    zero = np.float32(0.0)
    len_a = geo.len32[i]
    len_b = geo.back_len32[i]
    ta = np.minimum(np.maximum(a.real, zero), len_a)
    tb = np.minimum(np.maximum(b.real, zero), len_b)
    over_a = a.real - ta
    over_b = b.real - tb
    across_a = a.imag + geo.bulge_out32[i] * ta * (len_a - ta)
    across_b = b.imag - geo.bulge_back32[i] * tb * (len_b - tb)
    return np.minimum(across_a * across_a + over_a * over_a, across_b * across_b + over_b * over_b)
