"""Analytic heart phantoms (PLAX and A4C) in a heart frame, in centimetres.

Each view is described by a per-video random :class:`PlaxAnatomy` / :class:`A4cAnatomy`
and, for one instant of the cardiac cycle, a frozen ``*State`` that knows

* the echogenicity (relative backscatter, 0 = blood-black, 1 = pericardium-bright) at any
  heart-frame points (:meth:`PlaxState.echogenicity`),
* the exact landmark points (:meth:`PlaxState.points`) and dense boundary polylines
  (:meth:`PlaxState.curves`) from which the labels are made, and
* the exact measurements (:meth:`PlaxState.truth`).

Heart frame: ``u`` and ``v`` in cm, ``v`` pointing away from the probe (down the image) and
``u`` to the image right before the pose rotation. PLAX: origin on the LV centre line at the
measurement level, ``u`` towards the base (aorta). A4C: origin at the LV endocardial apex,
``v`` from apex to base, ``+u`` lateral (image right). Every boundary is drawn from the same
functions that give the labels, so labels lie on the rendered anatomy by construction.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from echomark.labels.registry import View

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
#: Float arrays of either precision (images use float32, labels float64) or a scalar.
Arr = Any

#: Echogenicity of the tissue classes (relative backscatter amplitude).
BLOOD = 0.0035
TISSUE = 0.011
MYOCARDIUM = 0.085
VALVE = 0.4
FIBROUS = 0.22
PERICARDIUM = 1.0


# --------------------------------------------------------------------------- helpers
def _logistic(x: Arr) -> Arr:
    """Smooth step 0 -> 1 (infinitely differentiable, so splines follow it closely)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softplus(x: Arr, width: float) -> Arr:
    """Smooth ``max(x, 0)`` with a bend about ``width`` wide."""
    return width * np.logaddexp(0.0, x * (1.0 / width))


def _soft(dist: F32, edge: float) -> F32:
    """Soft inside-mask from an approximate signed distance (cm, positive inside)."""
    return np.clip(dist * np.float32(1.0 / edge) + np.float32(0.5), 0.0, 1.0).astype(
        np.float32, copy=False
    )


def _paint(e: F32, mask: F32, value: float) -> None:
    """Blend ``value`` into ``e`` where ``mask`` is 1 (in place)."""
    e += (np.float32(value) - e) * mask


def _capsule_dist(u: F32, v: F32, a: tuple[float, float], b: tuple[float, float]) -> F32:
    """Distance (cm) from points to the segment a-b."""
    du, dv = b[0] - a[0], b[1] - a[1]
    dd = max(du * du + dv * dv, 1e-12)
    t = np.clip(((u - a[0]) * du + (v - a[1]) * dv) * np.float32(1.0 / dd), 0.0, 1.0)
    pu = u - (a[0] + t * du)
    pv = v - (a[1] + t * dv)
    return np.sqrt(pu * pu + pv * pv)


#: Maps a heart-frame box (u0, u1, v0, v1) to the grid window covering it.
WindowFn = Callable[[float, float, float, float], tuple[slice, slice]]


@dataclass
class Canvas:
    """Echogenicity image being painted, with the heart-frame coordinates of its pixels.

    Attributes:
        e: Echogenicity, painted in place, float32 (h, w).
        u: Heart-frame u (cm) of every pixel.
        v: Heart-frame v (cm) of every pixel.
        window: Optional map from a heart-frame box to the covering grid slices, so small
            structures are painted on a window only; None paints everywhere.
    """

    e: F32
    u: F32
    v: F32
    window: WindowFn | None = None

    def sub(self, u0: float, u1: float, v0: float, v1: float) -> tuple[F32, F32, F32]:
        """Views (e, u, v) restricted to the window around a heart-frame box."""
        if self.window is None:
            return self.e, self.u, self.v
        rows, cols = self.window(u0, u1, v0, v1)
        return self.e[rows, cols], self.u[rows, cols], self.v[rows, cols]


def _paint_segment(
    cv: Canvas,
    a: tuple[float, float],
    b: tuple[float, float],
    radius: float,
    value: float,
    edge: float,
) -> None:
    """Paint a thick line (leaflet, cusp) from a to b."""
    pad = radius + 2.0 * edge
    e, u, v = cv.sub(
        min(a[0], b[0]) - pad, max(a[0], b[0]) + pad, min(a[1], b[1]) - pad, max(a[1], b[1]) + pad
    )
    if e.size:
        _paint(e, _soft(np.float32(radius) - _capsule_dist(u, v, a, b), edge), value)


def _paint_ellipse(
    cv: Canvas,
    centre: tuple[float, float],
    axes: tuple[float, float],
    value: float,
    edge: float,
    v_min: float | None = None,
) -> None:
    """Paint an axis-aligned ellipse, optionally only below depth ``v_min``."""
    pad = 2.0 * edge
    cu, cvv = centre
    ea, eb = axes
    e, u, v = cv.sub(cu - ea - pad, cu + ea + pad, cvv - eb - pad, cvv + eb + pad)
    if not e.size:
        return
    d = _ellipse_sd(u, v, cu, cvv, ea, eb)
    if v_min is not None:
        d = np.minimum(d, v - np.float32(v_min))
    _paint(e, _soft(d, edge), value)


def _ellipse_sd(u: F32, v: F32, cu: float, cv: float, a: float, b: float) -> F32:
    """Approximate signed distance to an axis-aligned ellipse (positive inside)."""
    q = np.sqrt(((u - cu) / a) ** 2 + ((v - cv) / b) ** 2)
    return (np.float32(1.0) - q) * np.float32(min(a, b))


def _unit(du: float, dv: float) -> tuple[float, float]:
    n = math.hypot(du, dv)
    return du / n, dv / n


def _lerp2(p: tuple[float, float], q: tuple[float, float], t: float) -> tuple[float, float]:
    return p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t


def _leaflet_tip(
    hinge: tuple[float, float],
    closed_to: tuple[float, float],
    open_dir: tuple[float, float],
    length: float,
    opening: float,
) -> tuple[float, float]:
    """Tip of a leaflet swinging from its closed to its open position."""
    cd = _unit(closed_to[0] - hinge[0], closed_to[1] - hinge[1])
    od = _unit(*open_dir)
    ang_c = math.atan2(cd[1], cd[0])
    ang_o = math.atan2(od[1], od[0])
    d_ang = (ang_o - ang_c + math.pi) % (2 * math.pi) - math.pi
    ang = ang_c + d_ang * opening
    closed_len = math.hypot(closed_to[0] - hinge[0], closed_to[1] - hinge[1])
    ln = closed_len + (length - closed_len) * opening
    return hinge[0] + ln * math.cos(ang), hinge[1] + ln * math.sin(ang)


# --------------------------------------------------------------------------- cycle
@dataclass(frozen=True)
class CardiacPhase:
    """One instant of the cardiac cycle.

    Attributes:
        phase: Fraction of the cycle since end-diastole, in [0, 1).
        contraction: 0 at end-diastole (largest LV), 1 at end-systole (smallest LV).
        av_open: Aortic-valve opening, 0 closed .. 1 open.
        mv_open: Mitral/tricuspid opening, 0 closed .. 1 open.
    """

    phase: float
    contraction: float
    av_open: float
    mv_open: float


def cardiac_phase(phase: float, systole: float = 0.37) -> CardiacPhase:
    """Contraction and valve opening at a cycle phase (0 = end-diastole).

    Systole is a raised cosine from 0 to 1 over ``systole`` of the cycle; diastole has
    rapid filling (to 0.15), diastasis (to 0.1) and the atrial kick (back to 0).

    >>> cardiac_phase(0.0).contraction, cardiac_phase(0.37).contraction
    (0.0, 1.0)
    """
    p = phase % 1.0
    ts = systole
    if p < ts:
        c = 0.5 * (1.0 - math.cos(math.pi * p / ts))
    elif p < ts + 0.25:
        c = 1.0 - 0.85 * 0.5 * (1.0 - math.cos(math.pi * (p - ts) / 0.25))
    elif p < 0.85:
        c = 0.15 - 0.05 * (p - ts - 0.25) / (0.85 - ts - 0.25)
    else:
        c = 0.1 * 0.5 * (1.0 + math.cos(math.pi * (p - 0.85) / 0.15))
    av = 0.0
    if 0.05 < p < ts - 0.02:
        av = math.sin(math.pi * (p - 0.05) / (ts - 0.07)) ** 0.35
    mv = 0.0
    if ts + 0.05 < p < 0.985:
        e_wave = math.sin(math.pi * min(1.0, (p - ts - 0.05) / 0.3)) ** 0.5
        a_wave = 0.85 * math.sin(math.pi * min(1.0, max(0.0, (p - 0.82) / 0.165))) ** 0.5
        mv = max(e_wave if p < ts + 0.35 else 0.0, a_wave, 0.4)
        mv *= min(1.0, (p - ts - 0.05) / 0.03, (0.985 - p) / 0.02)
    return CardiacPhase(p, c, av, mv)


# --------------------------------------------------------------------------- PLAX
@dataclass(frozen=True)
class PlaxAnatomy:
    """Per-video PLAX anatomy (cm, diastolic values) and its systolic changes."""

    lvid_d: float
    fs: float
    ivs_d: float
    lvpw_d: float
    ivs_thickening: float
    pw_thickening: float
    septal_share: float
    apex_len: float
    rv_d: float
    rv_wall: float
    ao_u: float
    mv_gap: float
    ao_d: float
    ao_tilt: float
    la_d: float
    la_len: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> PlaxAnatomy:
        """Draw a plausible adult anatomy."""
        return cls(
            lvid_d=float(rng.uniform(3.9, 5.8)),
            fs=float(rng.uniform(0.22, 0.40)),
            ivs_d=float(rng.uniform(0.7, 1.35)),
            lvpw_d=float(rng.uniform(0.7, 1.25)),
            ivs_thickening=float(rng.uniform(0.25, 0.45)),
            pw_thickening=float(rng.uniform(0.35, 0.6)),
            septal_share=float(rng.uniform(0.3, 0.45)),
            apex_len=float(rng.uniform(5.5, 7.0)),
            rv_d=float(rng.uniform(2.0, 3.0)),
            rv_wall=float(rng.uniform(0.3, 0.5)),
            ao_u=float(rng.uniform(1.5, 2.1)),
            mv_gap=float(rng.uniform(0.6, 1.0)),
            ao_d=float(rng.uniform(2.0, 3.0)),
            ao_tilt=float(np.deg2rad(rng.uniform(5.0, 16.0))),
            la_d=float(rng.uniform(2.8, 4.0)),
            la_len=float(rng.uniform(3.4, 4.6)),
        )

    def phenotype(self, rng: np.random.Generator) -> PlaxAnatomy:
        """This heart changed into a drawn phenotype (normal 40 % of the time).

        Dilated (20 %): LVIDd 25-50 % larger, fractional shortening cut to 35-75 %, walls
        thinned; hypertrophied (25 %): septum and posterior wall 1.4-2.0 times thicker,
        cavity 5-20 % smaller; small (15 %): cavity 10-25 % smaller.
        """
        kind = rng.choice(4, p=[0.4, 0.2, 0.25, 0.15])
        u = rng.uniform(0.0, 1.0, size=3)
        lerp = lambda lo, hi, k: lo + (hi - lo) * float(u[k])  # noqa: E731
        if kind == 1:
            thin = lerp(0.7, 0.9, 2)
            return replace(
                self,
                lvid_d=self.lvid_d * lerp(1.25, 1.5, 0),
                fs=self.fs * lerp(0.35, 0.75, 1),
                ivs_d=self.ivs_d * thin,
                lvpw_d=self.lvpw_d * thin,
                apex_len=self.apex_len * 1.15,
            )
        if kind == 2:
            thick = lerp(1.4, 2.0, 0)
            return replace(
                self,
                lvid_d=self.lvid_d * lerp(0.8, 0.95, 1),
                ivs_d=self.ivs_d * thick,
                lvpw_d=self.lvpw_d * thick * lerp(0.85, 1.0, 2),
            )
        if kind == 3:
            return replace(self, lvid_d=self.lvid_d * lerp(0.75, 0.9, 0))
        return self

    def state(self, ph: CardiacPhase) -> PlaxState:
        """The anatomy at one instant."""
        c = ph.contraction
        d = self.lvid_d * (1.0 - self.fs * c)
        vc = (self.lvid_d - d) * (self.septal_share - 0.5)
        return PlaxState(
            anat=self,
            ph=ph,
            d=d,
            vc=vc,
            t_ivs=self.ivs_d * (1.0 + self.ivs_thickening * c),
            t_pw=self.lvpw_d * (1.0 + self.pw_thickening * c),
            rv_d=self.rv_d * (1.0 - 0.12 * c),
            apex_len=self.apex_len * (1.0 - 0.08 * c),
            la_d=self.la_d * (1.0 + 0.1 * c),
        )


@dataclass(frozen=True)
class PlaxState:
    """PLAX anatomy at one instant; all lengths in cm, heart frame."""

    anat: PlaxAnatomy
    ph: CardiacPhase
    d: float
    vc: float
    t_ivs: float
    t_pw: float
    rv_d: float
    apex_len: float
    la_d: float

    # ---- boundary profiles v(u); valid for float arrays (dtype kept) and scalars
    def half_width(self, u: Arr) -> Arr:
        """LV cavity half-height: flat at the base, closing as a quartic towards the apex."""
        um = np.minimum(u, 0.0) * (1.0 / self.apex_len)
        um2 = um * um
        return 0.5 * self.d * (1.0 - um2 * um2)

    def ao_top(self, u: Arr) -> Arr:
        """Aortic lumen, anterior inner edge: level with the LV, rising beyond the valve."""
        a = self.anat
        return -0.5 * a.lvid_d - _softplus(u - a.ao_u, 0.35) * math.tan(a.ao_tilt)

    def ao_diam(self, u: Arr) -> Arr:
        """Aortic lumen diameter with a sinus-of-Valsalva bulge above the valve."""
        a = self.anat
        x = (u - (a.ao_u + 0.9)) * (1.0 / 0.7)
        return a.ao_d * (1.0 + 0.14 * np.exp(-(x * x)))

    def ao_bottom(self, u: Arr) -> Arr:
        """Aortic lumen, posterior inner edge."""
        return self.ao_top(u) + self.ao_diam(u)

    def _base_blend(self, u: Arr) -> Arr:
        """~0 over the LV body, ~1 from the aortic valve on (basal septum -> aorta)."""
        return _logistic((u - (self.anat.ao_u - 0.65)) * (1.0 / 0.28))

    def profiles(self, u: Arr) -> dict[str, Arr]:
        """All wall boundaries v(u) at once (shared work for the image)."""
        hw = self.half_width(u)
        blend = self._base_blend(u)
        ao_t = self.ao_top(u)
        sep_b = self.vc - hw + blend * (ao_t - (self.vc - 0.5 * self.d))
        sep_t = sep_b - self.t_ivs * (1.0 - 0.55 * blend)
        um = np.minimum(u, 0.0) * (1.0 / (0.8 * self.apex_len))
        taper = np.clip(1.0 - um * um, 0.0, 1.0)
        rv_in = sep_t - self.rv_d * taper * (1.0 - 0.25 * blend)
        pw_t = self.vc + hw
        return {
            "sep_bottom": sep_b,
            "sep_top": sep_t,
            "rv_inner": rv_in,
            "pw_top": pw_t,
            "pw_bottom": pw_t + self.t_pw,
            "ao_top": ao_t,
            "ao_bottom": ao_t + self.ao_diam(u),
        }

    def sep_bottom(self, u: Arr) -> Arr:
        """Septum, LV side (anteroseptal endocardium); joins the aortic anterior wall."""
        return self.profiles(u)["sep_bottom"]

    def sep_top(self, u: Arr) -> Arr:
        """Septum, RV side; thins towards the aortic root."""
        return self.profiles(u)["sep_top"]

    def rv_inner(self, u: Arr) -> Arr:
        """RV free wall (anterior), inner edge."""
        return self.profiles(u)["rv_inner"]

    def pw_top(self, u: Arr) -> Arr:
        """Posterior wall, LV side."""
        return self.profiles(u)["pw_top"]

    def pw_bottom(self, u: Arr) -> Arr:
        """Posterior wall, epicardium."""
        return self.profiles(u)["pw_bottom"]

    @property
    def mv_u(self) -> float:
        """U of the posterior mitral annulus."""
        return self.anat.ao_u + self.anat.mv_gap

    @property
    def la_centre(self) -> tuple[float, float]:
        """Centre of the LA ellipse (below the aortic root, right of the annulus)."""
        a = self.anat
        cu = self.mv_u + 0.5 * a.la_len - 0.45
        top = float(self.ao_bottom(cu)) + 0.28
        return cu, top + 0.5 * self.la_d

    # ---- labels
    def points(self) -> dict[str, tuple[float, float]]:
        """Exact landmark positions (heart frame, cm)."""
        a = self.anat
        p = {k: float(x) for k, x in self.profiles(0.0).items()}
        lu, lv = self.la_centre
        return {
            "lv-ivs-top": (0.0, p["sep_top"]),
            "lv-ivs-bottom": (0.0, p["sep_bottom"]),
            "lv-pw-top": (0.0, p["pw_top"]),
            "lv-pw-bottom": (0.0, p["pw_bottom"]),
            "rv-top-inner": (a.ao_u, float(self.rv_inner(a.ao_u))),
            "rv-bottom-inner": (a.ao_u, float(self.sep_top(a.ao_u))),
            "la-top-inner": (lu, lv - 0.5 * self.la_d),
            "la-bottom-inner": (lu, lv + 0.5 * self.la_d),
        }

    def curve_ranges(self) -> dict[str, tuple[float, float]]:
        """u-range (apical end, basal end) of each PLAX boundary curve."""
        a = self.anat
        u0 = -0.85 * self.apex_len
        return {
            "curve-lv-antsep-endo": (u0, a.ao_u - 0.05),
            "curve-lv-antsep-rv": (u0 + 0.4, a.ao_u - 0.6),
            "curve-lv-post-endo": (u0, self.mv_u),
            "curve-lv-post-epi": (u0 + 0.2, self.mv_u + 0.15),
        }

    def curve_profile(self, name: str, u: F64) -> F64:
        """v(u) of a PLAX boundary curve."""
        fn = {
            "curve-lv-antsep-endo": self.sep_bottom,
            "curve-lv-antsep-rv": self.sep_top,
            "curve-lv-post-endo": self.pw_top,
            "curve-lv-post-epi": self.pw_bottom,
        }[name]
        return fn(u)

    def truth(self) -> dict[str, tuple[float, str]]:
        """Exact IVS / LVID / LVPW (mm) along the measurement line (u = 0).

        The four PLAX points lie on the line u = 0 (perpendicular to the LV long axis), so
        the distances are differences of the wall profiles there.
        """
        p = self.profiles(0.0)
        return {
            "IVS": (10.0 * float(p["sep_bottom"] - p["sep_top"]), "mm"),
            "LVID": (10.0 * float(p["pw_top"] - p["sep_bottom"]), "mm"),
            "LVPW": (10.0 * float(p["pw_bottom"] - p["pw_top"]), "mm"),
        }

    # ---- image
    def echogenicity(self, u: F32, v: F32, edge: float, window: WindowFn | None = None) -> F32:
        """Backscatter amplitude at heart-frame points (same shape as u).

        Args:
            u: Heart-frame u (cm), float32 array.
            v: Heart-frame v (cm), same shape.
            edge: Width (cm) of the soft edges (the point-spread of the system).
            window: Optional heart-box -> grid-window map (speeds up small structures).
        """
        a = self.anat
        e = np.full(u.shape, TISSUE, dtype=np.float32)
        cv = Canvas(e, u, v, window)
        prof = self.profiles(u)
        sep_b, sep_t, rv_in = prof["sep_bottom"], prof["sep_top"], prof["rv_inner"]
        pw_t, pw_b = prof["pw_top"], prof["pw_bottom"]
        mv_u = self.mv_u
        # pericardium under the posterior wall, then myocardium and RV wall
        peri = np.minimum(v - pw_b + 0.05, pw_b + 0.32 - v)
        _paint(e, _soft(np.minimum(peri, mv_u + 0.9 - u), edge), PERICARDIUM)
        heart = np.minimum(v - (rv_in - a.rv_wall), pw_b - v)
        _paint(e, _soft(np.minimum(heart, mv_u + 0.15 - u), edge), MYOCARDIUM)
        # aortic root block (walls) and LA wall ring
        ao_t, ao_b = prof["ao_top"], prof["ao_bottom"]
        ao_blk = np.minimum(v - (ao_t - 0.3), ao_b + 0.28 - v)
        _paint(e, _soft(np.minimum(ao_blk, u - (a.ao_u - 0.6)), edge), FIBROUS * 0.75)
        lu, lv = self.la_centre
        la_a, la_b = 0.5 * a.la_len, 0.5 * self.la_d
        _paint_ellipse(cv, (lu, lv), (la_a + 0.25, la_b + 0.25), 0.12, edge)
        # descending aorta behind the LA
        da_c = (self.mv_u + 0.3, lv + la_b + 1.25)
        _paint_ellipse(cv, da_c, (0.95, 0.95), 0.3, edge)
        _paint_ellipse(cv, da_c, (0.75, 0.75), BLOOD, edge)
        # cavities: RV (with RVOT), LV, aortic lumen, LA
        rv = np.minimum(v - rv_in, sep_t - v)
        _paint(e, _soft(rv, edge), BLOOD)
        lv_cav = np.minimum(v - sep_b, pw_t - v)
        _paint(e, _soft(np.minimum(lv_cav, mv_u - u), edge), BLOOD)
        ao = np.minimum(v - ao_t, ao_b - v)
        _paint(e, _soft(np.minimum(ao, u - a.ao_u + 0.5), edge), BLOOD)
        _paint_ellipse(cv, (lu, lv), (la_a, la_b), BLOOD, edge)
        # posterior aortic wall = anterior LA wall / aortic-mitral continuity
        pw_ao = np.minimum(v - ao_b, ao_b + 0.24 - v)
        _paint(e, _soft(np.minimum(pw_ao, u - a.ao_u), edge), FIBROUS)
        self._paint_valves(cv, edge)
        return e

    def _paint_valves(self, cv: Canvas, edge: float) -> None:
        a = self.anat
        ph = self.ph
        # mitral leaflets: anterior from the aortic-mitral continuity, posterior from the annulus
        hinge_a = (a.ao_u + 0.08, float(self.ao_bottom(a.ao_u)) + 0.12)
        hinge_p = (self.mv_u, float(self.pw_top(self.mv_u)) - 0.05)
        mid = _lerp2(hinge_a, hinge_p, 0.62)
        coapt = (mid[0] - 0.35, mid[1] + 0.05)
        tip_a = _leaflet_tip(hinge_a, coapt, (-1.0, 0.25), 0.42 * a.lvid_d, ph.mv_open)
        tip_p = _leaflet_tip(hinge_p, coapt, (-0.8, 0.55), 1.3, ph.mv_open)
        _paint_segment(cv, hinge_a, tip_a, 0.07, VALVE, edge)
        _paint_segment(cv, hinge_p, tip_p, 0.08, VALVE, edge)
        # aortic cusps: closed they meet in the lumen, open they lie along the walls
        top = (a.ao_u, float(self.ao_top(a.ao_u)))
        bot = (a.ao_u, float(self.ao_bottom(a.ao_u)))
        centre = (a.ao_u + 0.45, 0.5 * (top[1] + bot[1]))
        up = a.ao_u + 1.2
        tip_t = _lerp2(centre, (up, float(self.ao_top(up)) + 0.12), ph.av_open)
        tip_b = _lerp2(centre, (up, float(self.ao_bottom(up)) - 0.12), ph.av_open)
        _paint_segment(cv, top, tip_t, 0.045, VALVE * 0.8, edge)
        _paint_segment(cv, bot, tip_b, 0.045, VALVE * 0.8, edge)


# --------------------------------------------------------------------------- A4C
def _bullet(s: Arr, blunt: int, taper: float) -> Arr:
    """Normalised chamber half-width along its axis (0 at the apex, s = 1 at the annulus).

    ``sqrt(1 - (1 - s)^blunt) * (1 - taper s^2)``: a smooth rounded cap (radius of
    curvature grows with ``blunt``, 3 or 4), widest about two thirds down, narrowing to the
    annulus. Infinitely differentiable inside, so a few spline nodes follow it closely.
    """
    sc = np.minimum(np.maximum(s, 0.0), 1.5)
    q = 1.0 - sc
    qn = q * q * q
    if blunt == 4:
        qn = qn * q
    return np.sqrt(np.maximum(1.0 - qn, 0.0)) * (1.0 - taper * sc * sc)


@functools.cache
def _gauss_legendre01(n: int) -> tuple[F64, F64]:
    t, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (t + 1.0), 0.5 * w


def _bullet_integral(blunt: int, taper: float) -> float:
    """Integral of :func:`_bullet` over [0, 1] (Gauss-Legendre after s = t^2).

    >>> round(_bullet_integral(3, 0.0), 6) == round(
    ...     float(np.mean(_bullet((np.arange(200000) + 0.5) / 200000, 3, 0.0))), 6)
    True
    """
    t, w = _gauss_legendre01(96)
    return float(np.sum(w * _bullet(t * t, blunt, taper) * 2.0 * t))


def _disc_diameters(boundary: F64, mid: tuple[float, float], n_discs: int) -> tuple[float, F64]:
    """Length line and disc diameters of a cavity outline (see :func:`_discs_volume`).

    Returns:
        ``(length, diameters)``: apex-to-mid-annulus length (cm) and the cavity width
        perpendicular to the length line at heights ``(i + 1/2) L / n_discs`` (cm).
    """
    length = math.hypot(*mid)
    ax = np.array(mid) / length
    perp = np.array([-ax[1], ax[0]])
    closed = np.concatenate([boundary, boundary[:1]])
    t = closed @ ax
    w = closed @ perp
    levels = (np.arange(n_discs) + 0.5) * length / n_discs
    t0, t1, w0, w1 = t[:-1], t[1:], w[:-1], w[1:]
    diam = np.zeros(n_discs)
    for i, lev in enumerate(levels):
        hit = (t0 - lev) * (t1 - lev) <= 0.0
        hit &= t0 != t1
        f = (lev - t0[hit]) / (t1[hit] - t0[hit])
        ws = w0[hit] + f * (w1[hit] - w0[hit])
        diam[i] = float(ws.max() - ws.min()) if ws.size else 0.0
    return length, diam


def _discs_volume(boundary: F64, mid: tuple[float, float], n_discs: int = 20) -> float:
    """Single-plane method-of-discs volume (ml) of a cavity outline in cm.

    Args:
        boundary: Endocardium hinge -> apex -> hinge, (N, 2), apex at the origin; closed
            by the straight annulus line from its last point back to its first.
        mid: Mid-annulus point; the length line runs from the origin to it.
        n_discs: Number of discs.

    >>> t = np.linspace(0.0, np.pi, 4001)
    >>> semi = np.stack([np.cos(t), 1.0 - np.sin(t)], axis=1)  # unit half-disc, apex at 0
    >>> round(_discs_volume(semi, (0.0, 1.0), 2000), 3) == round(2 * np.pi / 3, 3)
    True
    """
    length, diam = _disc_diameters(boundary, mid, n_discs)
    vol = 0.0
    for d in diam.tolist():
        vol += math.pi * d * d / 4.0 * length / n_discs
    return vol


def biplane_volume(
    a4c: tuple[F64, tuple[float, float]],
    a2c: tuple[F64, tuple[float, float]],
    n_discs: int = 20,
) -> float:
    """Biplane method-of-discs volume (ml) from two orthogonal apical outlines.

    Each view is ``(boundary, mid)`` as for :func:`_discs_volume`. Each view's discs sit at
    ``(i + 1/2)/n_discs`` of its own length line; disc ``i`` is an ellipse with the two
    views' diameters as axes, and the disc height is the longer length over ``n_discs``:
    ``V = sum(pi/4 a_i b_i) L_max / n_discs``.

    >>> t = np.linspace(0.0, np.pi, 4001)
    >>> semi = np.stack([np.cos(t), 1.0 - np.sin(t)], axis=1)  # unit hemisphere sections
    >>> round(biplane_volume((semi, (0.0, 1.0)), (semi, (0.0, 1.0)), 2000), 3)
    2.094
    """
    l4, d4 = _disc_diameters(a4c[0], a4c[1], n_discs)
    l2, d2 = _disc_diameters(a2c[0], a2c[1], n_discs)
    return float(np.sum(math.pi / 4.0 * d4 * d2)) * max(l4, l2) / n_discs


#: Shares of the varied LV phenotypes: normal, dilated, hypertrophied, small, foreshortened.
#: Real apical views are often foreshortened (the SonoSite cine in pydicom-data is: its LV is
#: 0.68-0.72 as wide as long at end-diastole, wider than 9 in 10 hearts drawn with 15 %).
PHENOTYPE_SHARES = (0.3, 0.2, 0.15, 0.1, 0.25)
#: Width factor of a varied normal LV (drawn normal widths alone were narrow for adults).
NORMAL_WIDER = (1.0, 1.2)
#: Length and width factors of a foreshortened LV: the plane misses the apex, not the base.
#: Its blunt cap already makes it round; shorter or wider ones (0.65-0.85 long, 1.0-1.2 wide)
#: gave 3 % of varied LVs an area / length² over the quality gate's plausible 0.75.
FORESHORTENED_LENGTH = (0.72, 0.85)
FORESHORTENED_WIDER = (1.0, 1.05)
#: Share of varied apical hearts drawn with thin walls that thicken more in systole. The
#: SonoSite cine's septum is about 0.7 cm at end-diastole and about doubles at end-systole;
#: the drawn walls (0.85-1.2 cm side walls, 0.6-0.85 cm apex, thickening by 40 %) are
#: thicker and stiffer. Half, not all: every heart thin made end-diastolic outlines on the
#: real cine wider but found the landmarks less often (docs/synthetic-data.md).
THIN_SHARE = 0.5
#: Factor on a thin-walled heart's diastolic wall thicknesses (normal adult walls are
#: 0.6-1.0 cm at end-diastole, ASE 2015).
WALL_THINNER = (0.6, 1.0)
#: Systolic thickening (fraction of the diastolic thickness) of a thin-walled heart; normal
#: myocardium thickens by 40-100 %. Other hearts keep 0.4.
THICKENING = (0.4, 1.0)

#: Share of varied apical hearts whose papillary muscles show inside the LV cavity. Real
#: apical views show them as grey bulges off the wall, inside the traced endocardium (the
#: guidelines count them as cavity); the drawn cavities were empty, and on the SonoSite
#: cine the end-diastolic outline ran inside the grey along the lateral wall.
PAPILLARY_SHARE = 0.75
#: Papillary muscle draws: echogenicity (fraction of the myocardium's), centre depth
#: (fraction of the LV length from the apex), half-length along the axis and half-thickness
#: (cm) at end-diastole, and how far its centre stands in from the wall (fraction of the
#: half-thickness: 0 centred on the endocardium, 1 just touching it).
PAPILLARY_ECHO = (0.35, 1.0)
PAPILLARY_AT = (0.45, 0.7)
PAPILLARY_HALF_LENGTH = (0.6, 1.1)
PAPILLARY_HALF_THICKNESS = (0.3, 0.55)
PAPILLARY_OFF_WALL = (0.2, 0.8)
#: Sideways slant (per unit towards the apex, towards the LV axis) of the open mitral
#: leaflets of a varied heart; 0 opens them parallel to the axis, along the walls. Plain
#: hearts, and every tricuspid valve, keep :data:`MV_OPEN_SLANT`.
MV_OPEN_SLANT_RANGE = (0.0, 0.4)
MV_OPEN_SLANT = 0.3
#: Systolic thickening of a varied heart's apical wall (fraction of its diastolic
#: thickness). The epicardial apex of a real heart hardly moves while the base descends
#: towards it, so a thickening apical wall moves the endocardial apex towards the base; the
#: plain generator keeps the endocardial apex still and grows the wall outwards.
APICAL_THICKENING = (0.3, 1.2)

#: Direction (radians, about the LV long axis) of the image-right half of each apical plane:
#: 0 = lateral, pi/2 = anterior, pi = septal, 3 pi/2 = inferior. A4C shows lateral (right)
#: and septal (left), A2C anterior and inferior, A3C anteroseptal and inferolateral.
PLANE_ANGLE = {View.A4C: 0.0, View.A2C: 0.5 * math.pi, View.A3C: 0.75 * math.pi}


def _around(phi: float, lat: float, sep: float, ant: float, inf: float) -> float:
    """A quantity given on the four walls, continued smoothly round the long axis.

    ``M + Q cos 2phi + D4 cos phi + D2 sin phi`` through the lateral (phi = 0), anterior,
    septal and inferior values.

    >>> round(_around(math.pi / 2, 1.0, 2.0, 3.0, 4.0), 12)
    3.0
    """
    m = 0.25 * (lat + sep + ant + inf)
    q = 0.25 * (lat + sep - ant - inf)
    return (
        m
        + q * math.cos(2 * phi)
        + 0.5 * (lat - sep) * math.cos(phi)
        + 0.5 * (ant - inf) * math.sin(phi)
    )


@dataclass(frozen=True)
class LvOrthogonal:
    """The LV walls out of the A4C plane, which make the analytic LV a 3-D shape.

    The endocardium is ``r(s, phi) = bullet(s) (M + Q cos 2phi + (D4 cos phi + D2 sin phi)
    s^2)`` about the long axis (apex at the origin, annulus plane at ``s = 1``); its A4C
    section is the A4C outline (lateral ``w_lat``, septal ``w_sep``) and its A2C section has
    half-width scales ``w_ant`` (image right) and ``w_inf`` (left).
    """

    w_ant: float
    w_inf: float
    t_ant: float
    t_inf: float
    ao_d: float
    ao_angle: float

    @classmethod
    def sample(cls, rng: np.random.Generator, a4c: A4cAnatomy) -> LvOrthogonal:
        """Draw the anterior/inferior walls (relative to the A4C ones) and the aortic root.

        Widths are 0.85-1.15 times the mean A4C width scale and thicknesses 0.85-1.15
        times the mean A4C wall, so a dilated or hypertrophied LV is so in every plane.
        """
        w = 0.5 * (a4c.w_lat + a4c.w_sep)
        t = 0.5 * (a4c.t_lat + a4c.t_sep)
        return cls(
            w_ant=w * float(rng.uniform(0.88, 1.15)),
            w_inf=w * float(rng.uniform(0.88, 1.12)),
            t_ant=t * float(rng.uniform(0.85, 1.15)),
            t_inf=t * float(rng.uniform(0.85, 1.15)),
            ao_d=float(rng.uniform(2.0, 2.8)),
            ao_angle=float(np.deg2rad(rng.uniform(25.0, 45.0))),
        )


@dataclass(frozen=True)
class A4cAnatomy:
    """Per-video A4C anatomy (cm, diastolic values) and its systolic changes."""

    lv_len: float
    w_lat: float
    w_sep: float
    blunt: int
    taper: float
    long_short: float
    width_short: float
    t_lat: float
    t_sep: float
    t_apex: float
    rv_apex_v: float
    rv_w: float
    rv_wall: float
    tv_offset: float
    la_ratio: float
    la_bulge: float
    ra_ratio: float
    ra_bulge: float
    """Atria: ``*_bulge`` = widest half-width / annulus half-width, ``*_len`` = vertical /
    horizontal semi-axis ratio of the atrial ellipse (grows in systole)."""
    thickening: float = 0.4
    """Systolic wall thickening, a fraction of the diastolic thickness."""
    orth: LvOrthogonal | None = None
    """The walls out of the A4C plane; None for a plain A4C video (no 3-D truth)."""
    view: View = View.A4C
    """The apical plane imaged: A4C, A2C or A3C (sections of the same 3-D LV)."""
    groove: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Bright atrioventricular groove and pericardium behind the atria: echogenicity (0: not
    drawn), gap beyond the atrial wall and thickness (cm). In real apical views this band is
    often the brightest structure, brighter than the mitral annulus."""
    papillary: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    """Papillary muscles inside the LV cavity: echogenicity (fraction of the myocardium's;
    0: not drawn), centre depth (fraction of the LV length from the apex), half-length and
    half-thickness (cm) at end-diastole, and how far the centre stands in from the wall
    (fraction of the half-thickness). A4C shows the anterolateral one (image right), A2C
    both, A3C the posteromedial one (image left). They lie inside the endocardial labels."""
    mv_open_slant: float = MV_OPEN_SLANT
    """Sideways slant of the open mitral leaflets towards the LV axis (0: along the walls)."""
    apical_thickening: float | None = None
    """Systolic thickening of the apical wall with the epicardial apex held still: the
    endocardial apex descends by the growth and the cavity shortens by it as well, the base
    moving as before (see :attr:`A4cState.apex_descent`). None: the wall thickens by
    ``thickening`` and grows outwards from a still endocardial apex."""

    def phenotype(self, rng: np.random.Generator) -> A4cAnatomy:
        """This heart changed into a drawn phenotype, with a drawn groove behind the atria.

        The phenotype is :meth:`_phenotype`'s; the groove (echogenicity 0.25-1.0, gap
        0.1-0.8 cm, thickness 0.25-0.7 cm) is drawn after it, in 80 % of hearts, then the
        valve and papillary muscles and the apical wall's systolic thickening
        (:data:`APICAL_THICKENING`, from a child stream of ``rng``). Then, in
        :data:`THIN_SHARE` of hearts, the walls are thinned by :data:`WALL_THINNER` and
        thicken in systole by :data:`THICKENING`; the endocardium does not move.
        """
        out = self._phenotype(rng)
        g = rng.uniform(0.0, 1.0, size=7)
        if g[0] < 0.8:
            out = replace(out, groove=(0.25 + 0.75 * g[1], 0.1 + 0.7 * g[2], 0.25 + 0.45 * g[3]))
        out = out._with_valve_and_papillary(rng)
        # from a child stream, which leaves every later draw, and so every other heart, as
        # it was before the apex moved
        lo, hi = APICAL_THICKENING
        apex = rng.spawn(1)[0]
        out = replace(out, apical_thickening=float(apex.uniform(lo, hi)))
        if g[4] >= THIN_SHARE:
            return out
        thin = WALL_THINNER[0] + (WALL_THINNER[1] - WALL_THINNER[0]) * float(g[5])
        return replace(
            out,
            t_lat=out.t_lat * thin,
            t_sep=out.t_sep * thin,
            t_apex=out.t_apex * thin,
            thickening=THICKENING[0] + (THICKENING[1] - THICKENING[0]) * float(g[6]),
        )

    def _with_valve_and_papillary(self, rng: np.random.Generator) -> A4cAnatomy:
        """This heart with a drawn mitral opening slant, and papillary muscles in some.

        Papillary muscles in :data:`PAPILLARY_SHARE` of hearts (ranges: the ``PAPILLARY_*``
        constants); one stream of seven draws either way.
        """
        k = rng.uniform(0.0, 1.0, size=7)
        lo, hi = MV_OPEN_SLANT_RANGE
        out = replace(self, mv_open_slant=lo + (hi - lo) * float(k[0]))
        if k[1] >= PAPILLARY_SHARE:
            return out
        draws = (
            PAPILLARY_ECHO,
            PAPILLARY_AT,
            PAPILLARY_HALF_LENGTH,
            PAPILLARY_HALF_THICKNESS,
            PAPILLARY_OFF_WALL,
        )
        vals = tuple(a + (b - a) * float(k[2 + i]) for i, (a, b) in enumerate(draws))
        return replace(out, papillary=(vals[0], vals[1], vals[2], vals[3], vals[4]))

    def _phenotype(self, rng: np.random.Generator) -> A4cAnatomy:
        """This heart changed into a drawn phenotype (shares: :data:`PHENOTYPE_SHARES`).

        * normal (30 %): 0-20 % wider (:data:`NORMAL_WIDER`);
        * dilated (20 %): 10-30 % longer, 25-60 % wider, rounder, poor function (shortening
          cut to 35-80 %), walls thinned;
        * hypertrophied (15 %): walls 1.4-2.0 times thicker, cavity 5-25 % narrower;
        * small (10 %): 10-25 % shorter, 10-20 % narrower;
        * foreshortened (25 %): the plane misses the true apex: 15-28 % shorter, 0-5 % wider
          (:data:`FORESHORTENED_LENGTH`, :data:`FORESHORTENED_WIDER`), blunt cap, thicker
          apical wall.
        """
        kind = rng.choice(5, p=list(PHENOTYPE_SHARES))
        u = rng.uniform(0.0, 1.0, size=4)
        lerp = lambda lo, hi, k: lo + (hi - lo) * float(u[k])  # noqa: E731
        if kind == 1:
            wide = lerp(1.25, 1.6, 1)
            return replace(
                self,
                lv_len=self.lv_len * lerp(1.1, 1.3, 0),
                w_lat=self.w_lat * wide,
                w_sep=self.w_sep * wide,
                blunt=4,
                width_short=self.width_short * lerp(0.35, 0.8, 2),
                long_short=self.long_short * lerp(0.35, 0.8, 2),
                t_lat=self.t_lat * lerp(0.7, 0.9, 3),
                t_sep=self.t_sep * lerp(0.7, 0.9, 3),
            )
        if kind == 2:
            thick = lerp(1.4, 2.0, 0)
            narrow = lerp(0.75, 0.95, 1)
            return replace(
                self,
                w_lat=self.w_lat * narrow,
                w_sep=self.w_sep * narrow,
                t_lat=self.t_lat * thick,
                t_sep=self.t_sep * thick,
                t_apex=self.t_apex * thick,
            )
        if kind == 3:
            narrow = lerp(0.8, 0.9, 1)
            return replace(
                self,
                lv_len=self.lv_len * lerp(0.75, 0.9, 0),
                w_lat=self.w_lat * narrow,
                w_sep=self.w_sep * narrow,
            )
        if kind == 4:
            wide = lerp(*FORESHORTENED_WIDER, 3)
            return replace(
                self,
                lv_len=self.lv_len * lerp(*FORESHORTENED_LENGTH, 0),
                w_lat=self.w_lat * wide,
                w_sep=self.w_sep * wide,
                blunt=4,
                taper=self.taper * lerp(0.3, 0.8, 1),
                t_apex=self.t_apex * lerp(1.1, 1.5, 2),
            )
        wide = lerp(*NORMAL_WIDER, 1)
        return replace(self, w_lat=self.w_lat * wide, w_sep=self.w_sep * wide)

    def with_plane(self, view: View, rng: np.random.Generator | None = None) -> A4cAnatomy:
        """The same heart imaged in another apical plane.

        Args:
            view: A4C, A2C or A3C.
            rng: Draws the out-of-plane walls when this anatomy has none yet.
        """
        orth = self.orth
        if orth is None and rng is not None:
            orth = LvOrthogonal.sample(rng, self)
        if orth is None and view is not View.A4C:
            raise ValueError(f"{view.value} needs the out-of-plane LV walls (pass rng)")
        return replace(self, orth=orth, view=view)

    def section(self) -> tuple[float, float, float, float]:
        """Diastolic (right, left) half-width scales and wall thicknesses in this plane."""
        if self.view is View.A4C:
            return self.w_lat, self.w_sep, self.t_lat, self.t_sep
        o = self.orth
        assert o is not None  # with_plane guarantees it
        if self.view is View.A2C:
            return o.w_ant, o.w_inf, o.t_ant, o.t_inf
        phi = PLANE_ANGLE[self.view]
        w = (self.w_lat, self.w_sep, o.w_ant, o.w_inf)
        t = (self.t_lat, self.t_sep, o.t_ant, o.t_inf)
        return (
            _around(phi, *w),
            _around(phi + math.pi, *w),
            _around(phi, *t),
            _around(phi + math.pi, *t),
        )

    def volume_3d(self, length: float, width_scale: float) -> float:
        """Exact volume (ml) of the 3-D LV cavity with this length and width scale.

        ``pi L int_0^1 b(s)^2 (M^2 + Q^2/2 + (D4^2 + D2^2) s^4 / 2) ds`` times the squared
        width scale; the integrand is a polynomial in s, so Gauss-Legendre is exact.
        """
        o = self.orth
        if o is None:
            raise ValueError("a plain A4C anatomy has no 3-D LV (see with_plane)")
        m = 0.25 * (self.w_lat + self.w_sep + o.w_ant + o.w_inf)
        q = 0.25 * (self.w_lat + self.w_sep - o.w_ant - o.w_inf)
        d4 = 0.5 * (self.w_lat - self.w_sep)
        d2 = 0.5 * (o.w_ant - o.w_inf)
        s, w = _gauss_legendre01(24)
        b = _bullet(s, self.blunt, self.taper)
        f = b * b * (m * m + 0.5 * q * q + 0.5 * (d4 * d4 + d2 * d2) * s**4)
        return float(math.pi * length * width_scale**2 * np.sum(w * f))

    @classmethod
    def sample(cls, rng: np.random.Generator) -> A4cAnatomy:
        """Draw a plausible adult anatomy."""
        return cls(
            lv_len=float(rng.uniform(7.0, 8.8)),
            w_lat=float(rng.uniform(2.05, 2.65)),
            w_sep=float(rng.uniform(1.75, 2.25)),
            blunt=int(rng.integers(3, 5)),
            taper=float(rng.uniform(0.12, 0.22)),
            long_short=float(rng.uniform(0.08, 0.16)),
            width_short=float(rng.uniform(0.2, 0.34)),
            t_lat=float(rng.uniform(0.85, 1.2)),
            t_sep=float(rng.uniform(0.85, 1.15)),
            t_apex=float(rng.uniform(0.6, 0.85)),
            rv_apex_v=float(rng.uniform(1.3, 2.6)),
            rv_w=float(rng.uniform(2.3, 3.1)),
            rv_wall=float(rng.uniform(0.3, 0.45)),
            tv_offset=float(rng.uniform(0.4, 0.9)),
            la_ratio=float(rng.uniform(1.15, 1.5)),
            la_bulge=float(rng.uniform(1.08, 1.3)),
            ra_ratio=float(rng.uniform(1.1, 1.45)),
            ra_bulge=float(rng.uniform(1.12, 1.35)),
        )

    def apex_descent(self, contraction: float) -> float:
        """How far (cm) the endocardial apex has moved towards the base at this contraction.

        The apical wall's growth when it thickens inwards (:attr:`apical_thickening`); 0 when
        it grows outwards (the plain generator).
        """
        if self.apical_thickening is None:
            return 0.0
        return self.t_apex * self.apical_thickening * contraction

    def state(self, ph: CardiacPhase) -> A4cState:
        """The anatomy at one instant."""
        c = ph.contraction
        ws = 1.0 - self.width_short * c
        thick = 1.0 + self.thickening * c
        w_r, w_l, t_r, t_l = self.section()
        descent = self.apex_descent(c)
        t_apex = self.t_apex * thick if self.apical_thickening is None else self.t_apex + descent
        return A4cState(
            anat=self,
            ph=ph,
            length=self.lv_len * (1.0 - self.long_short * c) - descent,
            w_lat=w_r * ws,
            w_sep=w_l * ws,
            t_lat=t_r * thick,
            t_sep=t_l * thick,
            t_apex=t_apex,
            rv_w=self.rv_w * (1.0 - 0.25 * c),
            la_ratio=self.la_ratio * (1.0 + 0.12 * c),
            ra_ratio=self.ra_ratio * (1.0 + 0.1 * c),
            width_scale=ws,
            apex_descent=descent,
        )


@dataclass(frozen=True)
class A4cState:
    """Apical anatomy at one instant; all lengths in cm, heart frame (origin: LV apex).

    ``w_lat`` / ``t_lat`` are the image-right and ``w_sep`` / ``t_sep`` the image-left
    half-width scale and wall thickness of the imaged plane (lateral and septal in A4C,
    anterior and inferior in A2C, anteroseptal and inferolateral in A3C).
    """

    anat: A4cAnatomy
    ph: CardiacPhase
    length: float
    w_lat: float
    w_sep: float
    t_lat: float
    t_sep: float
    t_apex: float
    rv_w: float
    la_ratio: float
    ra_ratio: float
    width_scale: float = 1.0
    apex_descent: float = 0.0
    """How far (cm) the endocardial apex, the heart frame's origin, lies towards the base
    from its end-diastolic place: the video's pose shifts the frame by it, so the epicardial
    apex stays still (0 unless the anatomy has an ``apical_thickening``)."""

    @property
    def view(self) -> View:
        """The apical plane imaged."""
        return self.anat.view

    # ---- profiles (half-widths at depth v; lateral = image right, septal = left)
    def _sides(self, s: Arr, w_lat: float, w_sep: float) -> tuple[Arr, Arr]:
        """Lateral and septal half-widths, equal near the apex (a smooth, symmetric cap).

        They reach ``w_lat`` / ``w_sep`` (times the bullet) at the annulus.
        """
        b = _bullet(s, self.anat.blunt, self.anat.taper)
        mean, diff = 0.5 * (w_lat + w_sep), 0.5 * (w_lat - w_sep)
        sc = np.minimum(np.maximum(s, 0.0), 1.5)
        s2 = sc * sc
        return b * (mean + diff * s2), b * (mean - diff * s2)

    def lv_lat(self, v: Arr) -> Arr:
        """LV endocardium, lateral half-width at depth v."""
        return self._sides(v * (1.0 / self.length), self.w_lat, self.w_sep)[0]

    def lv_sep(self, v: Arr) -> Arr:
        """LV endocardium, septal half-width at depth v."""
        return self._sides(v * (1.0 / self.length), self.w_lat, self.w_sep)[1]

    def _lv_sides_sd(self, u: Arr, v: Arr) -> Arr:
        """Signed distance (cm, positive inside) to the nearer LV side wall at depth v."""
        lat, sep = self._sides(v * (1.0 / self.length), self.w_lat, self.w_sep)
        return np.minimum(u + sep, lat - u)

    def _epi(self, v: Arr, grow: float = 0.0) -> tuple[Arr, Arr]:
        """Epicardial half-widths (lateral, septal), optionally grown by ``grow`` cm."""
        t_ap = self.t_apex + grow
        s = (v + t_ap) * (1.0 / (self.length + t_ap))
        return self._sides(s, self.w_lat + self.t_lat + grow, self.w_sep + self.t_sep + grow)

    def epi_sep(self, v: Arr) -> Arr:
        """Septum, RV side, as a (positive) half-width left of the LV axis."""
        return self._epi(v)[1]

    @property
    def tv_v(self) -> float:
        """Depth of the tricuspid annulus (more apical than the mitral)."""
        return self.length - self.anat.tv_offset

    def _rv_s(self, v: Arr, grow: float = 0.0) -> Arr:
        a = self.anat
        return (v - a.rv_apex_v + grow) * (1.0 / (self.tv_v - a.rv_apex_v + grow))

    def rv_centre(self, v: Arr) -> Arr:
        """RV axis: half an RV width left of the septum, following its curve.

        The cavity touches the septum where it is widest and leaves a wedge of myocardium
        between its apex and the septum (filled by :meth:`_ventricles_sd`).
        """
        return -self.epi_sep(v) - 0.5 * self.rv_w

    def rv_half(self, v: Arr) -> Arr:
        """RV cavity half-width about :meth:`rv_centre`."""
        return 0.5 * self.rv_w * _bullet(self._rv_s(v), 3, 0.1)

    def rv_half_outer(self, v: Arr, grow: float = 0.0) -> Arr:
        """RV half-width to the outside of its free wall (optionally grown)."""
        t = self.anat.rv_wall + grow
        return (0.5 * self.rv_w + t) * _bullet(self._rv_s(v, t), 3, 0.1)

    def _ventricles_sd(self, u: Arr, v: Arr, grow: float) -> Arr:
        """Signed distance (approx., cm) to the outside of both ventricles' walls."""
        epi_l, epi_s = self._epi(v, grow)
        ln = self.length
        base = ln + 0.2 + grow - v
        # the v-limits only matter where a bullet has closed to zero width
        lv = np.minimum(np.minimum(u + epi_s, epi_l - u), np.minimum(base, v + self.t_apex + grow))
        rv_c = self.rv_centre(v)
        top = self.anat.rv_apex_v - self.anat.rv_wall - grow
        rv = np.minimum(self.rv_half_outer(v, grow) - np.abs(u - rv_c), np.minimum(base, v - top))
        # myocardium between the RV axis and the septum (the RV apex sits off the septum)
        bridge = np.minimum(np.minimum(u - rv_c, -epi_s + 0.2 - u), v - top)
        return np.maximum(np.maximum(lv, rv), np.minimum(bridge, base))

    # ---- hinges and atria
    def hinges(self) -> dict[str, tuple[float, float]]:
        """MV (and in A4C TV) hinge points (heart frame).

        ``mv-ant-hinge`` is the image-right hinge in every apical view (lateral in A4C,
        anterior in A2C, the aorto-mitral continuity in A3C), ``mv-post-hinge`` the left.
        """
        ln = self.length
        out = {
            "mv-ant-hinge": (float(self.lv_lat(ln)), ln),
            "mv-post-hinge": (-float(self.lv_sep(ln)), ln),
        }
        if self.view is View.A4C:
            tv = self.tv_v
            c, h = float(self.rv_centre(tv)), float(self.rv_half(tv))
            out["tv-sep-hinge"] = (c + h, tv)
            out["tv-ant-hinge"] = (c - h, tv)
        return out

    @staticmethod
    def _atrium(
        right: tuple[float, float], left: tuple[float, float], ratio: float, bulge: float
    ) -> tuple[float, float, float, float, float]:
        """Ellipse (cu, cv, a, b, phi0) through both hinges, bulging below the annulus.

        Semi-axes ``a = bulge * annulus half-width`` and ``b = ratio * a``; ``phi0`` is the
        ellipse angle of the right-hand hinge.
        """
        half = 0.5 * (right[0] - left[0])
        a = half * bulge
        cos0 = half / a
        sin0 = math.sqrt(max(0.0, 1.0 - cos0 * cos0))
        b = a * ratio
        return 0.5 * (right[0] + left[0]), right[1] + b * sin0, a, b, -math.acos(cos0)

    def la_ellipse(self) -> tuple[float, float, float, float, float]:
        """LA ellipse ``(cu, cv, a, b, phi0)``."""
        h = self.hinges()
        return self._atrium(
            h["mv-ant-hinge"], h["mv-post-hinge"], self.la_ratio, self.anat.la_bulge
        )

    def ra_ellipse(self) -> tuple[float, float, float, float, float]:
        """RA ellipse ``(cu, cv, a, b, phi0)``."""
        h = self.hinges()
        return self._atrium(h["tv-sep-hinge"], h["tv-ant-hinge"], self.ra_ratio, self.anat.ra_bulge)

    # ---- labels
    def points(self) -> dict[str, tuple[float, float]]:
        """Exact landmark positions (heart frame, cm)."""
        a = self.anat
        pts = self.hinges()
        pts["lv-apex-endo"] = (0.0, 0.0)
        pts["lv-apex-epi"] = (0.0, -self.t_apex)
        if self.view is View.A4C:
            pts["rv-apex-endo"] = (float(self.rv_centre(a.rv_apex_v)), a.rv_apex_v)
        return pts

    def curves(self, n: int = 400) -> dict[str, F64]:
        """Dense true boundaries (heart frame), each from its 'ant' hinge round to the other.

        * ``curve-lv-endo``: mv-ant-hinge -> LV apex -> mv-post-hinge (every apical view).
        * A4C only: ``curve-rv-endo``: tv-ant-hinge -> RV apex -> tv-sep-hinge.
        * ``curve-la-endo``: mv-ant-hinge -> LA roof -> mv-post-hinge.
        * ``curve-ra-endo``: tv-ant-hinge -> RA roof -> tv-sep-hinge.
        """
        a = self.anat
        # cosine spacing puts samples densely near the apex where the width changes fast
        t = 0.5 * (1.0 - np.cos(np.linspace(0.0, math.pi, n)))
        v = self.length * t
        lat = np.stack([self.lv_lat(v), v], axis=1)[::-1]
        sep = np.stack([-self.lv_sep(v), v], axis=1)
        lv = np.concatenate([lat, sep[1:]])
        if self.view is not View.A4C:
            return {"curve-lv-endo": lv}
        vr = a.rv_apex_v + (self.tv_v - a.rv_apex_v) * t
        c, h = self.rv_centre(vr), self.rv_half(vr)
        free = np.stack([c - h, vr], axis=1)[::-1]
        septal = np.stack([c + h, vr], axis=1)
        rv = np.concatenate([free, septal[1:]])
        out = {"curve-lv-endo": lv, "curve-rv-endo": rv}
        for name, (cu, cv, ea, eb, p0), reverse in (
            ("curve-la-endo", self.la_ellipse(), False),
            ("curve-ra-endo", self.ra_ellipse(), True),
        ):
            phi = np.linspace(p0, math.pi - p0, 2 * n)
            pts = np.stack([cu + ea * np.cos(phi), cv + eb * np.sin(phi)], axis=1)
            # RA: start at tv-ant-hinge (its left hinge), i.e. walk the other way round
            out[name] = pts[::-1] if reverse else pts
        return out

    def truth(self) -> dict[str, tuple[float, str]]:
        """Exact LV measurements of this instant.

        * ``LV_length``: LV endocardial apex to the midpoint of the two MV hinges (mm).
        * ``LV_area``: cavity area inside the endocardium, closed by the straight line
          between the hinges (mm²).
        * ``LV_volume_al``: single-plane area-length volume ``8 A² / (3 π L)`` (ml).
        * ``LV_volume_mod``: single-plane method of discs, 20 discs perpendicular to the
          length line at its 20 mid-heights, ``Σ π d²/4 · L/20`` (ml).
        * ``LV_volume_true``: the exact volume of the 3-D LV cavity (ml), when the anatomy
          has one (A2C, A3C and the videos of a biplane study).
        """
        a = self.anat
        h = self.hinges()
        mid = (0.5 * (h["mv-ant-hinge"][0] + h["mv-post-hinge"][0]), self.length)
        length_cm = math.hypot(*mid)
        area_cm2 = (self.w_lat + self.w_sep) * self.length * _bullet_integral(a.blunt, a.taper)
        vol_ml = 8.0 * area_cm2**2 / (3.0 * math.pi * length_cm)
        out = {
            "LV_length": (10.0 * length_cm, "mm"),
            "LV_area": (100.0 * area_cm2, "mm2"),
            "LV_volume_al": (vol_ml, "ml"),
            "LV_volume_mod": (_discs_volume(self.curves(2000)["curve-lv-endo"], mid), "ml"),
        }
        if a.orth is not None:
            out["LV_volume_true"] = (a.volume_3d(self.length, self.width_scale), "ml")
        return out

    def disc_outline(self) -> tuple[F64, tuple[float, float]]:
        """``(curve-lv-endo, mid-annulus)`` in cm, as the disc methods take them."""
        h = self.hinges()
        mid = (0.5 * (h["mv-ant-hinge"][0] + h["mv-post-hinge"][0]), self.length)
        return self.curves(2000)["curve-lv-endo"], mid

    # ---- image
    def echogenicity(self, u: F32, v: F32, edge: float, window: WindowFn | None = None) -> F32:
        """Backscatter amplitude at heart-frame points (see :meth:`PlaxState.echogenicity`)."""
        if self.view is not View.A4C:
            return self._echo_lv_only(u, v, edge, window)
        ln = np.float32(self.length)
        e = np.full(u.shape, TISSUE, dtype=np.float32)
        cv = Canvas(e, u, v, window)
        # atrial walls (rings) and pericardium around the ventricles
        la = self.la_ellipse()
        ra = self.ra_ellipse()
        self._paint_groove(cv, edge, (la, ra))
        for cu, cv_, ea, eb, _ in (la, ra):
            _paint_ellipse(cv, (cu, cv_), (ea + 0.3, eb + 0.3), 0.1, edge)
        _paint(e, _soft(self._ventricles_sd(u, v, 0.3), edge), PERICARDIUM * 0.5)
        _paint(e, _soft(self._ventricles_sd(u, v, 0.0), edge), MYOCARDIUM)
        rv_c = self.rv_centre(v)
        # cavities
        # the cavities run slightly past their annuli into the atria (both blood, no seam)
        lv = np.minimum(self._lv_sides_sd(u, v), np.minimum(v, ln + 0.1 - v))
        _paint(e, _soft(lv, edge), BLOOD)
        rvh = self.rv_half(v)
        tv = np.float32(self.tv_v)
        rv = np.minimum(np.minimum(rvh - np.abs(u - rv_c), v - self.anat.rv_apex_v), tv + 0.1 - v)
        _paint(e, _soft(rv, edge), BLOOD)
        for (cu, cv_, ea, eb, _), cut in ((la, ln), (ra, tv)):
            _paint_ellipse(cv, (cu, cv_), (ea, eb), BLOOD, edge, v_min=float(cut))
        self._paint_papillary(cv, edge)
        # fibrous crux between the valves, then the leaflets
        h = self.hinges()
        _paint_segment(cv, h["mv-post-hinge"], h["tv-sep-hinge"], 0.2, FIBROUS, edge)
        self._paint_valves(cv, edge, h)
        return e

    def _paint_papillary(self, cv: Canvas, edge: float) -> None:
        """Papillary muscles bulging off the wall into the LV cavity (nothing when not drawn).

        Each is an ellipse along the axis, cut to the cavity so the wall keeps its own
        echo. It rides on the wall, thickens and shortens with it in systole.
        """
        echo, at, half_len, half_thick, off = self.anat.papillary
        if echo <= 0.0:
            return
        c = self.ph.contraction
        vc = at * self.length
        a_u = half_thick * (1.0 + self.anat.thickening * c)
        a_v = half_len * (1.0 - 0.5 * self.anat.long_short * c)
        sides = {View.A4C: (1.0,), View.A2C: (1.0, -1.0), View.A3C: (-1.0,)}[self.view]
        pad = 2.0 * edge
        for side in sides:
            wall = float(self.lv_lat(vc)) if side > 0 else float(self.lv_sep(vc))
            cu = side * (wall - off * a_u)
            e, u, v = cv.sub(cu - a_u - pad, cu + a_u + pad, vc - a_v - pad, vc + a_v + pad)
            if not e.size:
                continue
            inside = np.minimum(_ellipse_sd(u, v, cu, vc, a_u, a_v), self._lv_sides_sd(u, v))
            _paint(e, _soft(inside.astype(np.float32), edge), MYOCARDIUM * echo)

    def _paint_groove(
        self,
        cv: Canvas,
        edge: float,
        atria: Sequence[tuple[float, float, float, float, float]],
    ) -> None:
        """The bright band round the far side of the atria (nothing when not drawn)."""
        echo, gap, width = self.anat.groove
        if echo <= 0.0:
            return
        # every band first, then every inside, so one atrium's band never crosses the other
        for grow, value in ((0.3 + gap + width, echo), (0.3 + gap, TISSUE)):
            for cu, cv_, ea, eb, _ in atria:
                start = cv_ - 0.3 * eb  # wraps a little round the atrium's sides
                axes = (ea + grow, eb + grow)
                _paint_ellipse(cv, (cu, cv_), axes, value, edge, v_min=start)

    def _lv_sd(self, u: Arr, v: Arr, grow: float) -> Arr:
        """Signed distance (approx., cm) to the outside of the LV wall (grown by ``grow``)."""
        epi_l, epi_s = self._epi(v, grow)
        base = self.length + 0.2 + grow - v
        return np.minimum(
            np.minimum(u + epi_s, epi_l - u), np.minimum(base, v + self.t_apex + grow)
        )

    def _echo_lv_only(self, u: F32, v: F32, edge: float, window: WindowFn | None) -> F32:
        """A2C / A3C: LV, LA and mitral valve; A3C adds the aortic root on the right."""
        ln = np.float32(self.length)
        e = np.full(u.shape, TISSUE, dtype=np.float32)
        cv = Canvas(e, u, v, window)
        la = self.la_ellipse()
        self._paint_groove(cv, edge, (la,))
        cu, cv_, ea, eb, _ = la
        _paint_ellipse(cv, (cu, cv_), (ea + 0.3, eb + 0.3), 0.1, edge)
        _paint(e, _soft(self._lv_sd(u, v, 0.3), edge), PERICARDIUM * 0.5)
        _paint(e, _soft(self._lv_sd(u, v, 0.0), edge), MYOCARDIUM)
        _paint_ellipse(cv, (cu, cv_), (ea, eb), BLOOD, edge, v_min=float(ln))
        h = self.hinges()
        ao = self._aorta(h) if self.view is View.A3C else None
        if ao is not None:
            p0, p1, r = ao
            _paint_segment(cv, p0, p1, r + 0.22, FIBROUS * 0.8, edge)
        lv = np.minimum(self._lv_sides_sd(u, v), np.minimum(v, ln + 0.1 - v))
        _paint(e, _soft(lv, edge), BLOOD)
        self._paint_papillary(cv, edge)
        if ao is not None:
            p0, p1, r = ao
            _paint_segment(cv, p0, p1, r, BLOOD, edge)
            # cusps: closed they meet mid-lumen, open they lie along the walls
            d = _unit(p1[0] - p0[0], p1[1] - p0[1])
            n = (-d[1], d[0])
            root = _lerp2(p0, p1, 0.12)
            mid = (root[0] + 0.45 * d[0], root[1] + 0.45 * d[1])
            for sgn in (1.0, -1.0):
                base = (root[0] + sgn * r * n[0], root[1] + sgn * r * n[1])
                open_tip = (base[0] + 1.0 * d[0] - sgn * 0.1 * n[0], base[1] + 1.0 * d[1])
                _paint_segment(
                    cv, base, _lerp2(mid, open_tip, self.ph.av_open), 0.045, VALVE * 0.8, edge
                )
        self._paint_valves(cv, edge, h)
        return e

    def _aorta(
        self, h: dict[str, tuple[float, float]]
    ) -> tuple[tuple[float, float], tuple[float, float], float] | None:
        """A3C aortic root: centre line start, end and lumen radius (cm).

        It leaves the base to the right of the aorto-mitral hinge (``mv-ant-hinge``) and
        runs away from the probe; a thin band of basal wall keeps it off the hinge.
        """
        o = self.anat.orth
        if o is None:
            return None
        r = 0.5 * o.ao_d
        hu, hv = h["mv-ant-hinge"]
        p0 = (hu + r + 0.18, hv - 0.35)
        d = (math.sin(o.ao_angle), math.cos(o.ao_angle))
        return p0, (p0[0] + 4.5 * d[0], p0[1] + 4.5 * d[1]), r

    def _paint_valves(self, cv: Canvas, edge: float, h: dict[str, tuple[float, float]]) -> None:
        o = self.ph.mv_open
        slant = self.anat.mv_open_slant
        valves = [("mv-post-hinge", "mv-ant-hinge", 2.2, 1.4, slant)]
        if self.view is View.A3C:
            # the anterior leaflet hangs from the aorto-mitral continuity (image right)
            valves = [("mv-post-hinge", "mv-ant-hinge", 1.4, 2.2, slant)]
        if self.view is View.A4C:
            valves.append(("tv-sep-hinge", "tv-ant-hinge", 1.5, 2.0, MV_OPEN_SLANT))
        for ant, post, ant_len, post_len, sl in valves:
            p, q = h[ant], h[post]
            mid = _lerp2(p, q, 0.55 if ant.startswith("mv") else 0.5)
            coapt = (mid[0], mid[1] - 0.25)
            sgn = 1.0 if p[0] < q[0] else -1.0
            tip_p = _leaflet_tip(p, coapt, (sl * sgn, -1.0), ant_len, o)
            tip_q = _leaflet_tip(q, coapt, (-sl * sgn, -1.0), post_len, o)
            _paint_segment(cv, p, tip_p, 0.07, VALVE, edge)
            _paint_segment(cv, q, tip_q, 0.07, VALVE, edge)
