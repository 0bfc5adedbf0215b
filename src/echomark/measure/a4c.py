"""Apical LV measurements: length, cavity area, method-of-disks volume, endocardial length.

Everything is computed in mm: the endocardial curve is sampled densely in source pixels (the
space its spline is defined in), scaled to mm per axis, and only then measured, so
anisotropic pixels (PhysicalDeltaX ≠ PhysicalDeltaY) give correct areas, perpendiculars and
volumes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from echomark.calibration import Calibration
from echomark.geometry.curves import polyline_length, sample_curve
from echomark.labels.schema import ImageLabels, Instance
from echomark.measure._labels import DEFAULT_MIN_CONF, get_curve, get_first_point, get_point

FloatArray = npt.NDArray[np.float64]

LV_ENDO = "curve-lv-endo"
LV_APEX = ("lv-apex-endo",)
#: Mitral hinge pairs: the 2024 (gls) names first, then the 2020 ones.
MV_HINGES = (("mv-ant-wall-hinge", "mv-inf-wall-hinge"), ("mv-ant-hinge", "mv-post-hinge"))

#: Dense samples per curve: spacing = node-polyline length / this, so the sampling (and hence
#: every length ratio, e.g. GLS) is exactly scale-equivariant.
_SAMPLES = 2000

#: Disks in the method of disks (ASE/EACVI).
N_DISKS = 20


def dense_curve_mm(inst: Instance, cal: Calibration) -> FloatArray:
    """Densely sample a curve instance in pixels, then scale it to mm.

    Args:
        inst: Curve instance (control points in source pixels).
        cal: Pixel spacing.

    Returns:
        Points in mm, shape (K, 2), with the curve's end points first and last.
    """
    nodes_len = polyline_length(inst.xy)
    spacing = max(nodes_len / _SAMPLES, 1e-6)
    return cal.to_mm(sample_curve(inst.xy, inst.straight, spacing))


def polygon_area(xy: npt.ArrayLike) -> float:
    """Area of the closed polygon through ``xy`` (shoelace; closing edge implied).

    >>> polygon_area([[0, 0], [4, 0], [4, 3]])
    6.0
    """
    p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def disk_diameters(
    contour: npt.ArrayLike, base: npt.ArrayLike, apex: npt.ArrayLike, n_disks: int = N_DISKS
) -> tuple[FloatArray, float]:
    """Widths of a closed contour across ``n_disks`` equally spaced levels of the long axis.

    Level i sits at ``(i + 0.5) · L / n`` from ``base`` towards ``apex`` (L = long-axis
    length); the width is the total length of the contour's interior along the line
    perpendicular to the axis there (so a non-convex contour is measured correctly).

    Args:
        contour: Closed polygon (closing edge implied), shape (K, 2), in mm.
        base: Mid-annulus point, mm.
        apex: Apex point, mm.
        n_disks: Number of disks.

    Returns:
        ``(diameters (n_disks,), L)`` in mm.
    """
    p = np.asarray(contour, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(base, dtype=np.float64)
    axis = np.asarray(apex, dtype=np.float64) - b
    length = float(np.hypot(*axis))
    if length == 0.0 or len(p) < 3:
        return np.full(n_disks, math.nan), length
    u = axis / length
    v = np.array([-u[1], u[0]])
    rel = p - b
    a = rel @ u  # position along the axis
    w = rel @ v  # position across it
    a0, a1 = a, np.roll(a, -1)
    w0, w1 = w, np.roll(w, -1)
    levels = (np.arange(n_disks) + 0.5) * length / n_disks
    out = np.zeros(n_disks)
    for i, s in enumerate(levels):
        # half-open crossing rule: every vertex is counted once, so crossings pair up
        cross = ((a0 <= s) & (a1 > s)) | ((a1 <= s) & (a0 > s))
        if not np.any(cross):
            continue
        t = (s - a0[cross]) / (a1[cross] - a0[cross])
        ws = np.sort(w0[cross] + t * (w1[cross] - w0[cross]))
        if len(ws) % 2:
            out[i] = ws[-1] - ws[0]
        else:
            out[i] = float(np.sum(ws[1::2] - ws[0::2]))
    return out, length


def disks_volume_ml(
    contour: npt.ArrayLike, base: npt.ArrayLike, apex: npt.ArrayLike, n_disks: int = N_DISKS
) -> float:
    """Single-plane volume by the method of disks, in mL (contour in mm).

    ``V = Σ π/4 · dᵢ² · L/n``.

    >>> t = np.linspace(0, np.pi, 2001)
    >>> half = np.stack([20 * np.cos(t), 80 * np.sin(t)], axis=1)  # semi-axes 20, 80 mm
    >>> v = disks_volume_ml(half, [0, 0], [0, 80])
    >>> bool(abs(v / (2 / 3 * np.pi * 20**2 * 80 / 1000) - 1) < 0.001)
    True
    """
    d, length = disk_diameters(contour, base, apex, n_disks)
    return float(np.pi / 4.0 * np.sum(d**2) * length / n_disks / 1000.0)


@dataclass(frozen=True)
class LvApicalFrame:
    """Apical LV measurements of one frame (NaN where unavailable).

    Attributes:
        length_mm: Apex to mid-annulus.
        area_cm2: Cavity area inside the endocardial curve closed across the annulus.
        volume_ml: Single-plane method-of-disks volume.
        endo_length_mm: Arc length of the endocardial curve (for GLS).
    """

    length_mm: float
    area_cm2: float
    volume_ml: float
    endo_length_mm: float


@dataclass(frozen=True)
class LvGeometry:
    """The landmarks an apical measurement used, in mm (for overlays and checks)."""

    contour_mm: FloatArray | None
    base_mm: FloatArray | None
    apex_mm: FloatArray | None


def lv_geometry(
    labels: ImageLabels, cal: Calibration, *, min_conf: float = DEFAULT_MIN_CONF
) -> LvGeometry:
    """Find the dense endocardial contour, the mid-annulus and the apex of one frame (mm).

    The mid-annulus is the midpoint of the two mitral hinges when both are labelled, else of
    the endocardial curve's ends. The apex is ``lv-apex-endo`` when labelled, else the contour
    point farthest from the mid-annulus.
    """
    inst = get_curve(labels, LV_ENDO, min_conf)
    contour = dense_curve_mm(inst, cal) if inst is not None else None
    base = None
    for ant, inf in MV_HINGES:
        pa = get_point(labels, ant, min_conf)
        pb = get_point(labels, inf, min_conf)
        if pa is not None and pb is not None:
            base = cal.to_mm(0.5 * (pa + pb))
            break
    if base is None and contour is not None:
        base = 0.5 * (contour[0] + contour[-1])
    apex_px = get_first_point(labels, LV_APEX, min_conf)
    apex = cal.to_mm(apex_px) if apex_px is not None else None
    if apex is None and contour is not None and base is not None:
        apex = contour[int(np.argmax(np.linalg.norm(contour - base, axis=1)))].copy()
    return LvGeometry(contour, base, apex)


def lv_apical_frame(
    labels: ImageLabels, cal: Calibration, *, min_conf: float = DEFAULT_MIN_CONF
) -> LvApicalFrame:
    """LV length, area, disks volume and endocardial length of one apical frame.

    Args:
        labels: The frame's labels (``curve-lv-endo``, ``lv-apex-endo``, mitral hinges).
        cal: Pixel spacing.
        min_conf: Predicted labels at or below this confidence count as missing.

    Returns:
        The measurements (NaN for those whose inputs are missing).
    """
    g = lv_geometry(labels, cal, min_conf=min_conf)
    length = (
        float(np.hypot(*(g.apex_mm - g.base_mm)))
        if g.apex_mm is not None and g.base_mm is not None
        else math.nan
    )
    if g.contour_mm is None or len(g.contour_mm) < 3:
        return LvApicalFrame(length, math.nan, math.nan, math.nan)
    area = polygon_area(g.contour_mm) / 100.0
    endo = polyline_length(g.contour_mm)
    volume = (
        disks_volume_ml(g.contour_mm, g.base_mm, g.apex_mm)
        if g.apex_mm is not None and g.base_mm is not None
        else math.nan
    )
    return LvApicalFrame(length, area, volume, endo)


def area_length_volume_ml(area_cm2: float, length_mm: float) -> float:
    """Single-plane area–length volume ``8 · A² / (3π · L)`` in mL (A in cm², L in cm).

    >>> round(area_length_volume_ml(30.0, 80.0), 3)
    95.493
    """
    length_cm = length_mm / 10.0
    return 8.0 * area_cm2**2 / (3.0 * math.pi * length_cm) if length_cm > 0 else math.nan


def ejection_fraction_pct(edv_ml: float, esv_ml: float) -> float:
    """Ejection fraction ``100 · (EDV − ESV) / EDV`` in %.

    >>> ejection_fraction_pct(120.0, 48.0)
    60.0
    """
    return 100.0 * (edv_ml - esv_ml) / edv_ml if edv_ml > 0 else math.nan


def gls_pct(length_ed_mm: float, length_es_mm: float) -> float:
    """Global longitudinal strain ``100 · (L_ES − L_ED) / L_ED`` in % (normal is negative).

    >>> gls_pct(100.0, 80.0)
    -20.0
    """
    return 100.0 * (length_es_mm - length_ed_mm) / length_ed_mm if length_ed_mm > 0 else math.nan
