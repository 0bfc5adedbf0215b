"""Seeded synthetic echo cines (PLAX, A4C, A2C, A3C) with exact labels and measurements.

:func:`make_cine` is the fast in-memory API used by tests across echomark; the dataset
writer (:mod:`echomark.synth.dataset`) builds on it.

Label conventions (see ``docs/synthetic-data.md``): x = column, y = row, source pixels,
pixel centres at integers; coordinates are rounded to 0.1 px as the v1 release stores them.
Truth values are computed from the analytic anatomy, not from the rounded labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from echomark.errors import InputError
from echomark.geometry.curves import polyline_length
from echomark.labels.io import format_1dp
from echomark.labels.registry import LabelSpec, View, channels_for_views, load_registry
from echomark.labels.schema import ImageLabels, Label, LabelState
from echomark.synth.bmode import BmodeRenderer
from echomark.synth.config import Look
from echomark.synth.phantom import (
    A4cAnatomy,
    A4cState,
    CardiacPhase,
    PlaxAnatomy,
    PlaxState,
    WindowFn,
    biplane_volume,
    cardiac_phase,
)
from echomark.synth.render import (
    ScanGeometry,
    ScanMaps,
    ScannerStyle,
    compose_frame,
    make_scan_maps,
)

F64 = npt.NDArray[np.float64]

#: Views the generator can draw (A2C and A3C are planes through the same 3-D LV as A4C).
SYNTH_VIEWS = (View.PLAX, View.A4C, View.A2C, View.A3C)

#: Views of the default dataset and of the channel set (A2C/A3C names are A4C names).
BASE_VIEWS = (View.PLAX, View.A4C)

#: Control points per curve: enough for the chord-length spline to track the true boundary
#: within ~0.3 px (checked in tests/test_synth_cine.py).
CURVE_NODES = {
    "curve-lv-antsep-endo": 10,
    "curve-lv-antsep-rv": 9,
    "curve-lv-post-endo": 9,
    "curve-lv-post-epi": 9,
    "curve-lv-endo": 11,
    "curve-rv-endo": 11,
    "curve-la-endo": 11,
    "curve-ra-endo": 11,
}

#: How strongly node placement follows bends (0 = plain equal arc length).
_BEND_WEIGHT = 1.0

#: How strongly nodes crowd towards the curve ends (0 = none, 1 = Chebyshev spacing).
_END_PULL = 0.5

#: Curves whose middle control point must be a named landmark (hinge -> apex -> hinge).
_APEX_CURVES = ("curve-lv-endo", "curve-rv-endo")

#: Margin (px) inside the sector for a structure to count as visible.
_VISIBLE_MARGIN_PX = 3.0

#: Shortest visible part (cm) of a PLAX wall curve that is still labelled.
_MIN_PLAX_CURVE_CM = 1.5

_PLAX_ENDPOINTS = {
    "curve-lv-antsep-endo": "lv-antsep-endo",
    "curve-lv-antsep-rv": "lv-antsep-rv",
    "curve-lv-post-endo": "lv-post-endo",
    "curve-lv-post-epi": "lv-post-epi",
}


def channel_names() -> list[str]:
    """Every label name a synthetic image carries: registry PLAX ∪ A4C, derived included.

    The A2C and A3C names are a subset of the A4C ones, so every view has the same channels.
    """
    return channels_for_views(BASE_VIEWS, include_derived=True)


@dataclass(frozen=True)
class Pose:
    """Rigid placement of the heart frame in the world (cm): rotate, then translate."""

    angle_rad: float
    tx_cm: float
    ty_cm: float
    breath_cm: tuple[float, float]
    breath_period_s: float

    def at(self, t_s: float) -> tuple[float, float, float]:
        """(angle, tx, ty) at time ``t_s`` including slow breathing drift."""
        s = math.sin(2.0 * math.pi * t_s / self.breath_period_s)
        return (
            self.angle_rad,
            self.tx_cm + self.breath_cm[0] * s,
            self.ty_cm + self.breath_cm[1] * s,
        )


@dataclass(frozen=True)
class VideoSpec:
    """Everything random about one synthetic video (drawn by :func:`sample_video`)."""

    view: View
    anatomy: PlaxAnatomy | A4cAnatomy
    geometry: ScanGeometry
    style: ScannerStyle
    pose: Pose
    n_frames: int
    frame_time_ms: float
    heart_rate_bpm: float
    phase0: float
    systole: float

    def phase(self, frame: int) -> CardiacPhase:
        """Cardiac phase of a frame."""
        t_ms = frame * self.frame_time_ms
        cycle_ms = 60000.0 / self.heart_rate_bpm
        return cardiac_phase(self.phase0 + t_ms / cycle_ms, self.systole)

    def state(self, frame: int) -> PlaxState | A4cState:
        """Anatomy at a frame."""
        return self.anatomy.state(self.phase(frame))

    def to_heart(
        self, frame: int, xw: npt.NDArray[np.float32], yw: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Scan-plane (world, cm) sample grids -> heart-frame (u, v) in cm at a frame (float32).

        The inverse of the pose used by :meth:`to_px`, in float32 as the renderers sample it.
        """
        ang, tx, ty = self.pose.at(frame * self.frame_time_ms / 1000.0)
        c, s = np.float32(math.cos(ang)), np.float32(math.sin(ang))
        dxw = xw - np.float32(tx)
        dyw = yw - np.float32(ty)
        v = c * dyw - s * dxw
        descent = self.apex_descent(frame)
        if descent:
            v = v - np.float32(descent)
        return c * dxw + s * dyw, v

    def apex_descent(self, frame: int) -> float:
        """Shift (cm) of the heart frame along its axis at a frame (:attr:`A4cState.apex_descent`).

        From the anatomy and the frame's phase alone: no state is built, as to_px runs for
        every label and every placement tried.
        """
        if not isinstance(self.anatomy, A4cAnatomy):
            return 0.0
        return self.anatomy.apex_descent(self.phase(frame).contraction)

    def to_px(self, frame: int, uv: F64) -> F64:
        """Heart-frame points (N, 2) in cm -> pixel xy (N, 2) at a frame."""
        ang, tx, ty = self.pose.at(frame * self.frame_time_ms / 1000.0)
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        c, s = math.cos(ang), math.sin(ang)
        descent = self.apex_descent(frame)
        vv = uv[:, 1] + descent if descent else uv[:, 1]
        xw = tx + c * uv[:, 0] - s * vv
        yw = ty + s * uv[:, 0] + c * vv
        x, y = self.geometry.world_to_px(xw, yw)
        return np.stack([x, y], axis=1)


def _as_view(view: View | str) -> View:
    names = ", ".join(x.value for x in SYNTH_VIEWS)
    try:
        v = View(view)
    except ValueError:
        raise InputError(f"unknown view {view!r}; synthetic views are {names}") from None
    if v not in SYNTH_VIEWS:
        raise InputError(f"no synthetic {v.value} view; synthetic views are {names}")
    return v


#: Shortest systole (ED to ES) of a varied heart, whatever its rate (the quality gate's
#: floor is 150 ms; one frame of rounding at each end must stay above it).
_MIN_SYSTOLE_MS = 200.0


def sample_video(
    view: View | str,
    rng: np.random.Generator,
    *,
    n_frames: int = 30,
    size: tuple[int, int] | None = None,
    external: bool = False,
    anatomy: A4cAnatomy | None = None,
    timing_from: VideoSpec | None = None,
    varied: bool = False,
) -> VideoSpec:
    """Draw one video's anatomy, scanner set-up, pose and timing.

    Args:
        view: ``PLAX``, ``A4C``, ``A2C`` or ``A3C``.
        rng: Random generator (all randomness of the video comes from it).
        n_frames: Frames in the cine.
        size: ``(height, width)``; default drawn from 480-640 x 560-800.
        external: Use the external-validation scanner look (class 02).
        anatomy: An apical heart to image instead of drawing one (a biplane study's
            second view); it is shown in ``view``'s plane.
        timing_from: Copy frame count, frame time, heart rate and cycle phase from this
            video (ECG-gated partner views see the same instants).
        varied: Wide ranges: an LV phenotype (normal, dilated with poor function,
            hypertrophied, small, foreshortened), heart rate 45-140 bpm, imaging depth
            11-21 cm, sector half-angle 30-46 deg, view tilt up to 16 deg (apical) or
            0-30 deg (PLAX), apical LV endocardial apex 2.2-5 cm deep (before any fit).
    """
    v = _as_view(view)
    if n_frames < 1:
        raise InputError(f"a cine needs at least one frame, got {n_frames}", field="n_frames")
    if size is not None and min(size) < 32:
        raise InputError(f"image size {size} is too small (32 px minimum)", field="size")
    anat: PlaxAnatomy | A4cAnatomy
    # wide ranges only when asked, so the default draws (and the default dataset) stay put
    half_angle = (30.0, 46.0) if varied else (38.0, 45.0)
    if v is View.PLAX:
        anat = PlaxAnatomy.sample(rng)
        if varied:
            anat = anat.phenotype(rng)
        depth = (11.0, 19.0) if varied else (13.0, 17.5)
        geo = ScanGeometry.sample(rng, depth_range_cm=depth, size=size, half_angle_deg=half_angle)
        plax_tilt = (-30.0, 0.0) if varied else (-22.0, -6.0)
        angle = math.radians(float(rng.uniform(*plax_tilt)))
        # stack the layers from the chest wall down to the LV centre line at u = 0
        top = float(rng.uniform(1.2, 2.2))
        ty = top + anat.rv_wall + anat.rv_d + anat.ivs_d + 0.5 * anat.lvid_d
        tx = float(rng.uniform(-1.6, -0.2))
    else:
        if anatomy is not None:
            heart = anatomy
        else:
            heart = A4cAnatomy.sample(rng)
            if varied:
                heart = heart.phenotype(rng)
        anat = heart if v is View.A4C and anatomy is None else heart.with_plane(v, rng)
        depth = (12.0, 21.0) if varied else (14.5, 18.5)
        geo = ScanGeometry.sample(rng, depth_range_cm=depth, size=size, half_angle_deg=half_angle)
        tilt = 16.0 if varied else 8.0
        angle = math.radians(float(rng.uniform(-tilt, tilt)))
        # no RV beside the LV outside A4C: the LV sits nearer the sector centre line
        tx = float(rng.uniform(0.5, 1.3)) if v is View.A4C else float(rng.uniform(-0.5, 0.6))
        # real apical views often show chest wall and pericardium above the apex
        ty = float(rng.uniform(2.2, 5.0 if varied else 3.2))
    style = ScannerStyle.sample(rng, external=external)
    frame_time = float(np.round(rng.uniform(22.0, 40.0), 1))
    span_ms = n_frames * frame_time
    hr_lo = max(52.0, 1.08 * 60000.0 / span_ms)
    hr_lo = min(hr_lo, 120.0)  # short test cines cover part of a cycle only
    hr_hi = 140.0 if varied else 105.0
    if varied:
        hr_lo = min(max(45.0, 1.08 * 60000.0 / span_ms), 120.0)
    hr = float(rng.uniform(hr_lo, max(hr_lo, hr_hi))) if n_frames > 1 else 70.0
    pose = Pose(
        angle_rad=angle,
        tx_cm=tx,
        ty_cm=ty,
        breath_cm=(float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.12, 0.12))),
        breath_period_s=float(rng.uniform(3.0, 5.0)),
    )
    phase0 = float(rng.uniform(0.0, 1.0))
    systole = float(rng.uniform(0.34, 0.4))
    if varied:
        # systole shortens less than the cycle: at least 200 ms even at 140 bpm
        systole = max(systole, _MIN_SYSTOLE_MS * hr / 60000.0)
    if timing_from is not None:
        n_frames, frame_time = timing_from.n_frames, timing_from.frame_time_ms
        hr, phase0, systole = timing_from.heart_rate_bpm, timing_from.phase0, timing_from.systole
    spec = VideoSpec(
        view=v,
        anatomy=anat,
        geometry=geo,
        style=style,
        pose=pose,
        n_frames=int(n_frames),
        frame_time_ms=frame_time,
        heart_rate_bpm=hr,
        phase0=phase0,
        systole=systole,
    )
    return fit_lv_in_sector(spec)


#: Placements tried, nearest first, when a labelled LV structure leaves the sector: the
#: part of the drawn lateral offset kept (towards the sector centre line), and how much
#: deeper (cm, negative: shallower); then the same again with the imaging depth increased
#: (zoomed out) by each factor.
_FIT_LATERAL_KEEP = (1.0, 0.5, 0.0)
_FIT_DEEPER_CM = tuple(0.25 * k for k in range(-12, 25))
_FIT_ZOOM_OUT = (1.0, 1.1, 1.2, 1.35, 1.5, 1.7, 2.0)


#: The PLAX LV landmarks (IVS, LVID and LVPW calipers) that must be inside the sector.
_PLAX_LV_POINTS = ("lv-ivs-top", "lv-ivs-bottom", "lv-pw-top", "lv-pw-bottom")


def _lv_uv(spec: VideoSpec, frame: int) -> F64:
    """Heart-frame points (N, 2; cm) of a frame's labelled LV.

    The apical endocardial contour as the labels trace it, or the PLAX caliper landmarks.
    """
    state = spec.state(frame)
    if isinstance(state, PlaxState):
        pts = state.points()
        return np.array([pts[name] for name in _PLAX_LV_POINTS], dtype=np.float64)
    return state.curves()["curve-lv-endo"]


def _lv_outside(spec: VideoSpec, uv: Sequence[F64]) -> bool:
    """Whether the LV (heart-frame ``uv`` per frame) leaves the sector on any frame."""
    geo = spec.geometry
    for f, curve in enumerate(uv):
        xy = spec.to_px(f, curve)
        if not geo.inside(xy[:, 0], xy[:, 1], _VISIBLE_MARGIN_PX).all():
            return True
    return False


def fit_lv_in_sector(spec: VideoSpec) -> VideoSpec:
    """Place the heart so that its labelled LV lies inside the sector on every frame.

    The labelled LV is the apical endocardial contour, or the PLAX IVS/LVID/LVPW caliper
    landmarks (the PLAX wall curves are cut by the sector by design). A contour that leaves
    the sector cannot be traced, nor a landmark outside it placed, and the LV could not be
    measured. A drawn placement that fits is kept (no random draw is spent, so those
    videos are unchanged). Otherwise the heart moves towards the sector centre line and
    deeper, by the smallest shift that fits; if none fits, the imaging depth grows (a wider
    field of view at the same image size) until one does. The anatomy is never changed,
    so every phenotype keeps its size.

    Raises:
        InputError: When nothing fits even at twice the drawn depth.
    """
    uv = [_lv_uv(spec, f) for f in range(spec.n_frames)]
    if not _lv_outside(spec, uv):
        return spec
    pose, geo = spec.pose, spec.geometry
    shifts = sorted(
        ((keep, deeper) for keep in _FIT_LATERAL_KEEP for deeper in _FIT_DEEPER_CM),
        key=lambda t: (math.hypot((1.0 - t[0]) * pose.tx_cm, t[1]), t[1] < 0),
    )
    for zoom in _FIT_ZOOM_OUT:
        wider = replace(
            geo,
            depth_cm=zoom * geo.depth_cm,
            dx_cm_per_px=zoom * geo.dx_cm_per_px,
            dy_cm_per_px=zoom * geo.dy_cm_per_px,
        )
        for keep, deeper in shifts:
            moved = replace(pose, tx_cm=keep * pose.tx_cm, ty_cm=pose.ty_cm + deeper)
            placed = replace(spec, geometry=wider, pose=moved)
            if not _lv_outside(placed, uv):
                return placed
    raise InputError(
        f"the {spec.view.value} LV does not fit a sector of {geo.height}x{geo.width} px",
        field="size",
    )


# --------------------------------------------------------------------------- rendering
class Renderer:
    """Renders the frames of one :class:`VideoSpec` (keeps the per-video maps)."""

    def __init__(self, spec: VideoSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.maps: ScanMaps = make_scan_maps(spec.geometry, spec.style, rng)
        px = max(spec.geometry.dx_cm_per_px, spec.geometry.dy_cm_per_px)
        self.edge_cm = 2.0 * px  # soft edge over ~2 px: the system's point-spread

    def _window_fn(self, index: int) -> WindowFn:
        """Heart-frame box -> slices of the half-resolution grid covering it at a frame."""
        h2, w2 = self.maps.xw2.shape

        def window(u0: float, u1: float, v0: float, v1: float) -> tuple[slice, slice]:
            corners = np.array([[u0, v0], [u0, v1], [u1, v0], [u1, v1]])
            xy = self.spec.to_px(index, corners)
            # grid point (i, j) sits at pixel (2j + 0.5, 2i + 0.5)
            j = (xy[:, 0] - 0.5) / 2.0
            i = (xy[:, 1] - 0.5) / 2.0
            r0 = int(np.clip(math.floor(i.min()) - 1, 0, h2))
            r1 = int(np.clip(math.ceil(i.max()) + 2, 0, h2))
            c0 = int(np.clip(math.floor(j.min()) - 1, 0, w2))
            c1 = int(np.clip(math.ceil(j.max()) + 2, 0, w2))
            return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

        return window

    def frame(self, index: int) -> npt.NDArray[np.uint8]:
        """The uint8 (H, W) image of frame ``index``."""
        spec = self.spec
        u, v = spec.to_heart(index, self.maps.xw2, self.maps.yw2)
        echo = spec.state(index).echogenicity(u, v, self.edge_cm, self._window_fn(index))
        n_fields = self.maps.speckle.shape[0]
        pos = (n_fields - 1) * index / max(1, spec.n_frames - 1)
        return compose_frame(echo, self.maps, spec.style, pos)


# --------------------------------------------------------------------------- labels
def _round1(xy: F64) -> F64:
    """Round to 0.1 px exactly as the v1 writer prints coordinates (-0.0 becomes 0.0).

    A written and re-read label then equals the in-memory one bit for bit.
    """
    arr = np.asarray(xy, dtype=np.float64)
    flat = [float(format_1dp(v)) for v in arr.ravel().tolist()]
    return np.array(flat, dtype=np.float64).reshape(arr.shape)


def _arc_nodes(dense: F64, n: int) -> F64:
    """N nodes along a dense polyline, both ends included, denser where it bends.

    Nodes sit at equal steps of ``s + 0.5 L * (cumulative turning angle) / pi``: plain arc
    length on straight stretches, more nodes on bends (apex caps, the septum turning into
    the aorta), which keeps the chord-length spline on the true boundary.
    """
    seg = np.linalg.norm(np.diff(dense, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    d = np.diff(dense, axis=0)
    ang = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
    turn = np.abs(np.diff(ang))
    bend = np.concatenate([[0.0], np.cumsum(np.concatenate([[0.0], turn]))])
    w = s + _BEND_WEIGHT * s[-1] * bend / math.pi
    k = np.linspace(0.0, 1.0, n)
    # pull nodes towards the ends: the natural spline has zero curvature there
    q = (1.0 - _END_PULL) * k + _END_PULL * 0.5 * (1.0 - np.cos(math.pi * k))
    wq = q * w[-1]
    return np.stack([np.interp(wq, w, dense[:, 0]), np.interp(wq, w, dense[:, 1])], axis=1)


def curve_nodes(name: str, dense_px: F64) -> F64:
    """Spline control points for a dense true boundary (pixels).

    Curves through an apex keep the apex (the middle of the dense polyline as built by the
    phantom) as their middle node, like the reference tracing code expects.
    """
    n = CURVE_NODES.get(name, 9)
    if name in _APEX_CURVES:
        mid = len(dense_px) // 2
        half = (n - 1) // 2 + 1
        first = _arc_nodes(dense_px[: mid + 1], half)
        second = _arc_nodes(dense_px[mid:], half)
        return np.concatenate([first, second[1:]])
    return _arc_nodes(dense_px, n)


def _visible_run(inside: npt.NDArray[np.bool_]) -> tuple[int, int] | None:
    """Longest run of True as (start, stop) indices, or None."""
    best: tuple[int, int] | None = None
    start = -1
    for i, ok in enumerate([*inside.tolist(), False]):
        if ok and start < 0:
            start = i
        elif not ok and start >= 0:
            if best is None or i - start > best[1] - best[0]:
                best = (start, i)
            start = -1
    return best


def frame_geometry(spec: VideoSpec, frame: int) -> tuple[dict[str, F64], dict[str, F64]]:
    """Exact landmark points and dense boundary polylines of a frame, in pixels.

    Returns:
        ``(points, curves)``: point name -> xy (2,), curve name -> dense xy (M, 2). PLAX
        curves are the full analytic range; visibility is decided by :func:`true_labels`.
    """
    st = spec.state(frame)
    pts = {k: spec.to_px(frame, np.array(p))[0] for k, p in st.points().items()}
    curves: dict[str, F64] = {}
    if isinstance(st, PlaxState):
        for name, (u0, u1) in st.curve_ranges().items():
            u = np.linspace(u0, u1, 600)
            curves[name] = spec.to_px(frame, np.stack([u, st.curve_profile(name, u)], axis=1))
    else:
        for name, uv in st.curves().items():
            curves[name] = spec.to_px(frame, uv)
        # the roofs: deepest (largest y) point of each atrial boundary, as gls derives them
        for roof, cname in (("la-roof", "curve-la-endo"), ("ra-roof", "curve-ra-endo")):
            if cname not in curves:
                continue
            dense = curves[cname]
            pts[roof] = dense[int(np.argmax(dense[:, 1]))]
    return pts, curves


def true_labels(spec: VideoSpec, frame: int) -> tuple[ImageLabels, dict[str, F64]]:
    """The drawn labels of a frame (own view only) and the dense truth they were fitted to.

    Points outside the sector (with a 3 px margin) are ``off``. A4C curves partly outside
    are ``blurred`` (a labeller could not trace them), wholly outside ``off``. PLAX wall
    curves are labelled over their longest visible stretch (apex usually cut off), or
    ``off`` when less than 1.5 cm is visible.
    """
    geo = spec.geometry
    pts, curves = frame_geometry(spec, frame)
    labels: ImageLabels = {}
    fitted: dict[str, F64] = {}
    for name, xy in pts.items():
        ok = bool(geo.inside(xy[:1], xy[1:], _VISIBLE_MARGIN_PX)[0])
        labels[name] = Label.point(*_round1(xy).tolist()) if ok else Label.off()
    px_cm = 0.5 * (geo.dx_cm_per_px + geo.dy_cm_per_px)
    for name, dense in curves.items():
        inside = geo.inside(dense[:, 0], dense[:, 1], _VISIBLE_MARGIN_PX)
        if spec.view is View.PLAX:
            run = _visible_run(inside)
            if run is None or polyline_length(dense[run[0] : run[1]]) * px_cm < _MIN_PLAX_CURVE_CM:
                labels[name] = Label.off()
                continue
            dense = dense[run[0] : run[1]]
        elif not inside.all():
            labels[name] = Label.off() if not inside.any() else Label.blurred()
            continue
        fitted[name] = dense
        labels[name] = Label.curve(_round1(curve_nodes(name, dense)))
    return labels, fitted


def _three_point(a: Label, b: Label) -> Label:
    """A derived 3-node connector (start, midpoint, end) as the 2020 converter made them."""
    if a.state is LabelState.POINT and b.state is LabelState.POINT:
        p, q = a.xy[0], b.xy[0]
        return Label.curve(_round1(np.stack([p, 0.5 * (p + q), q])))
    if a.state is LabelState.OFF and b.state is LabelState.OFF:
        return Label.off()
    return Label.blurred()


def add_derived(labels: ImageLabels, view: View) -> None:
    """Fill the derived labels of the release converter from the drawn ones (in place).

    PLAX: curve end points (apex = min-x node, base = max-x node) and
    ``curve-lv-ed-connect`` (ivs-top -> pw-bottom). A4C: the three MV connectors.
    """
    if view is View.PLAX:
        for cname, stem in _PLAX_ENDPOINTS.items():
            cur = labels.get(cname, Label.blurred())
            if cur.state is LabelState.CURVE:
                xy = cur.xy
                labels[f"{stem}-apex"] = Label.point(*xy[int(np.argmin(xy[:, 0]))].tolist())
                labels[f"{stem}-base"] = Label.point(*xy[int(np.argmax(xy[:, 0]))].tolist())
            else:
                labels[f"{stem}-apex"] = Label(cur.state)
                labels[f"{stem}-base"] = Label(cur.state)
        labels["curve-lv-ed-connect"] = _three_point(
            labels.get("lv-ivs-top", Label.blurred()), labels.get("lv-pw-bottom", Label.blurred())
        )
    else:
        ant = labels.get("mv-ant-hinge", Label.blurred())
        post = labels.get("mv-post-hinge", Label.blurred())
        apex = labels.get("lv-apex-endo", Label.blurred())
        labels["curve-mv-hinge-connect"] = _three_point(ant, post)
        labels["curve-mv-ant-apex-connect"] = _three_point(ant, apex)
        labels["curve-mv-post-apex-connect"] = _three_point(post, apex)


def complete_labels(
    drawn: ImageLabels,
    view: View,
    channels: Sequence[str],
    registry: dict[str, LabelSpec],
) -> ImageLabels:
    """Every channel name for one image: drawn and derived labels, the rest off/blurred.

    Names of the other view are ``off`` (structure not in this view); names of this view
    that the phantom does not draw are ``blurred`` (not labelled).
    """
    labels = dict(drawn)
    add_derived(labels, view)
    out: ImageLabels = {}
    for name in channels:
        if name in labels:
            out[name] = labels[name]
        elif view in registry[name].views:
            out[name] = Label.blurred()
        else:
            out[name] = Label.off()
    return out


def blur_one(labels: ImageLabels, view: View, rng: np.random.Generator) -> str | None:
    """Mark one randomly chosen drawn, non-derived label ``blurred`` (in place)."""
    reg = load_registry()
    names = sorted(
        n
        for n, lab in labels.items()
        if lab.state.drawn and n in reg and not reg[n].derived and view in reg[n].views
    )
    if not names:
        return None
    name = names[int(rng.integers(len(names)))]
    labels[name] = Label.blurred()
    add_derived(labels, view)
    return name


# --------------------------------------------------------------------------- cine
@dataclass
class SynthCine:
    """One synthetic cine with its ground truth.

    Attributes:
        spec: Everything random about the video.
        frames: uint8 (T, H, W).
        labels: Frame index -> labels of every channel name (see :func:`channel_names`),
            for the frames that were labelled.
        truth: Per frame, measurement name -> (value, unit); exact, from the anatomy.
        ed_frame: Index of end-diastole (largest LV) within the cine.
        es_frame: Index of end-systole (smallest LV) within the cine.
    """

    spec: VideoSpec
    frames: npt.NDArray[np.uint8]
    labels: dict[int, ImageLabels]
    truth: list[dict[str, tuple[float, str]]]
    ed_frame: int
    es_frame: int

    @property
    def view(self) -> View:
        """PLAX, A4C, A2C or A3C."""
        return self.spec.view

    @property
    def spacing_cm_per_px(self) -> tuple[float, float]:
        """(PhysicalDeltaX, PhysicalDeltaY) in cm per pixel."""
        g = self.spec.geometry
        return g.dx_cm_per_px, g.dy_cm_per_px

    @property
    def frame_time_ms(self) -> float:
        """Time between frames (ms)."""
        return self.spec.frame_time_ms


def frame_labels(spec: VideoSpec, frames: Iterable[int]) -> dict[int, ImageLabels]:
    """Complete labels (every channel name) of the given frames of a video."""
    registry = load_registry()
    channels = channel_names()
    out: dict[int, ImageLabels] = {}
    for i in sorted(set(frames)):
        if not 0 <= i < spec.n_frames:
            raise InputError(f"frame {i} outside 0..{spec.n_frames - 1}", field="label_frames")
        drawn, _ = true_labels(spec, i)
        out[i] = complete_labels(drawn, spec.view, channels, registry)
    return out


def ed_es_frames(spec: VideoSpec) -> tuple[int, int]:
    """(ED, ES) frame indices: the frames of least and greatest contraction (first ones)."""
    c = np.array([spec.phase(i).contraction for i in range(spec.n_frames)])
    return int(np.argmin(c)), int(np.argmax(c))


def render_cine(
    spec: VideoSpec,
    rng: np.random.Generator,
    *,
    label_frames: Iterable[int] | None = None,
    render: bool = True,
    look: Look | str = Look.CLASSIC,
) -> SynthCine:
    """Render, label and measure a drawn video (see :func:`make_cine`).

    Args:
        spec: The video.
        rng: Generator of the rendering randomness (one draw seeds the renderer).
        label_frames: Frames to label; default all.
        render: Render images (False gives zero frames).
        look: ``classic`` or ``bmode`` image formation (same labels and truth).
    """
    geo = spec.geometry
    frames = np.zeros((spec.n_frames, geo.height, geo.width), dtype=np.uint8)
    render_rng = np.random.default_rng(rng.integers(2**63))
    if render:
        renderer: Renderer | BmodeRenderer
        if Look(look) is Look.BMODE:
            renderer = BmodeRenderer(spec, render_rng)
        else:
            renderer = Renderer(spec, render_rng)
        for i in range(spec.n_frames):
            frames[i] = renderer.frame(i)
    wanted = range(spec.n_frames) if label_frames is None else label_frames
    labels = frame_labels(spec, wanted)
    truth = [spec.state(i).truth() for i in range(spec.n_frames)]
    ed, es = ed_es_frames(spec)
    return SynthCine(spec, frames, labels, truth, ed, es)


def make_cine(
    view: View | str,
    seed: int | np.random.Generator = 0,
    *,
    n_frames: int = 30,
    label_frames: Iterable[int] | None = None,
    size: tuple[int, int] | None = None,
    external: bool = False,
    render: bool = True,
    look: Look | str = Look.CLASSIC,
    varied: bool = False,
) -> SynthCine:
    """Make one seeded synthetic cine with labels and exact truth.

    Args:
        view: ``"PLAX"``, ``"A4C"``, ``"A2C"`` or ``"A3C"`` (or :class:`View`).
        seed: Integer seed or a numpy Generator; the same seed gives identical output.
        n_frames: Number of frames T.
        label_frames: Frames to label; default all. Labels hold every channel name.
        size: ``(height, width)``; default drawn from 480-640 x 560-800.
        external: Use the external-validation scanner look.
        render: Render images (False gives zero frames: labels and truth only, fast).
        look: ``classic`` (default) or ``bmode`` image formation.
        varied: Draw anatomy, heart rate and scan set-up from the wide ranges (dilated,
            hypertrophied, small and foreshortened LVs; see :func:`sample_video`).

    >>> cine = make_cine("A4C", 1, n_frames=4, size=(96, 128))
    >>> cine.frames.shape, cine.frames.dtype.name, sorted(cine.labels)
    ((4, 96, 128), 'uint8', [0, 1, 2, 3])
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    spec = sample_video(view, rng, n_frames=n_frames, size=size, external=external, varied=varied)
    return render_cine(spec, rng, label_frames=label_frames, render=render, look=look)


@dataclass
class SynthStudy:
    """A biplane study: an A4C and an A2C cine of the same 3-D heart, ECG-gated alike.

    Both cines have the same frame count, frame time, heart rate and cycle phase, so frame
    ``f`` of one shows the same instant as frame ``f`` of the other and their ED/ES frames
    coincide.

    Attributes:
        a4c: The apical four-chamber cine.
        a2c: The apical two-chamber cine (orthogonal plane through the same long axis).
        truth: Per-study values (see :func:`study_truth`).
    """

    a4c: SynthCine
    a2c: SynthCine
    truth: dict[str, tuple[float, str]]


def study_truth(a4c: VideoSpec, a2c: VideoSpec) -> dict[str, tuple[float, str]]:
    """Exact biplane truth of a study at its ED and ES frames.

    * ``EDV_true`` / ``ESV_true`` (ml): volume of the 3-D LV cavity; ``EF_true`` (%).
    * ``EDV_biplane`` / ``ESV_biplane`` (ml), ``EF_biplane`` (%): the biplane method of
      discs (:func:`echomark.synth.phantom.biplane_volume`, 20 discs) applied to the exact
      A4C and A2C outlines; differs from the true volume by the method's own error only.
    """
    ed, es = ed_es_frames(a4c)
    out: dict[str, tuple[float, str]] = {}
    vols: dict[str, dict[str, float]] = {"true": {}, "biplane": {}}
    for tag, f in (("ED", ed), ("ES", es)):
        s4, s2 = a4c.state(f), a2c.state(f)
        assert isinstance(s4, A4cState) and isinstance(s2, A4cState)
        vols["true"][tag] = s4.truth()["LV_volume_true"][0]
        vols["biplane"][tag] = biplane_volume(s4.disc_outline(), s2.disc_outline())
    for method, v in vols.items():
        out[f"EDV_{method}"] = (v["ED"], "ml")
        out[f"ESV_{method}"] = (v["ES"], "ml")
        out[f"EF_{method}"] = (100.0 * (v["ED"] - v["ES"]) / v["ED"], "%")
    return out


def draw_study(
    rng: np.random.Generator,
    *,
    n_frames: int = 30,
    size: tuple[int, int] | None = None,
    external: bool = False,
    varied: bool = False,
) -> tuple[VideoSpec, VideoSpec, np.random.Generator, np.random.Generator]:
    """Draw a biplane study's two videos (no rendering) and their rendering generators."""
    spec4 = sample_video(
        View.A4C, rng, n_frames=n_frames, size=size, external=external, varied=varied
    )
    assert isinstance(spec4.anatomy, A4cAnatomy)
    heart = spec4.anatomy.with_plane(View.A4C, rng)
    spec4 = replace(spec4, anatomy=heart)
    spec2 = sample_video(
        View.A2C,
        rng,
        size=size,
        external=external,
        anatomy=heart,
        timing_from=spec4,
        varied=varied,
    )
    seeds = rng.integers(2**63, size=2)
    return spec4, spec2, np.random.default_rng(seeds[0]), np.random.default_rng(seeds[1])


def make_study(
    seed: int | np.random.Generator = 0,
    *,
    n_frames: int = 30,
    label_frames: Iterable[int] | None = None,
    size: tuple[int, int] | None = None,
    external: bool = False,
    render: bool = True,
    look: Look | str = Look.CLASSIC,
    varied: bool = False,
) -> SynthStudy:
    """Make a seeded biplane study (A4C + A2C of one heart) with exact volume truth.

    Arguments as for :func:`make_cine`.

    >>> st = make_study(1, n_frames=4, render=False)
    >>> st.a4c.ed_frame == st.a2c.ed_frame, st.truth["EF_true"][1]
    (True, '%')
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    spec4, spec2, rng4, rng2 = draw_study(
        rng, n_frames=n_frames, size=size, external=external, varied=varied
    )
    cine4 = render_cine(spec4, rng4, label_frames=label_frames, render=render, look=look)
    cine2 = render_cine(spec2, rng2, label_frames=label_frames, render=render, look=look)
    return SynthStudy(cine4, cine2, study_truth(spec4, spec2))
