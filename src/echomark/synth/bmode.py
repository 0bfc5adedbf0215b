"""B-mode image formation along the beams: scatterers, point-spread, log compression, overlays.

The ``bmode`` look of :func:`echomark.synth.cine.make_cine` (the ``classic`` look lives in
:mod:`echomark.synth.render`). Per frame:

1. the phantom's echogenicity is sampled on a polar grid (beam lines x depth samples) of
   the video's sector; walls running along the beam lose echo (lateral drop-out), the
   myocardium is greyed by a per-video level;
2. scatterers: a complex white-noise texture fixed in the heart frame (so the speckle moves
   with the heart), times the amplitude, plus near-field clutter, blood-pool haze and
   reverberation bands fixed in beam coordinates;
3. convolution with a depth-dependent point-spread function (short along the beam, a beam
   width that is narrowest at the focus), envelope detection, log compression;
4. attenuation with imperfect time-gain compensation, shadowing behind strong reflectors
   and a rib, gain, dynamic range and a grey map;
5. scan conversion to the pixel grid, the probe footprint, and burnt-in overlays (text,
   ECG trace with a sweeping cursor, depth scale) when the video has them.

The sector geometry and the heart pose are those of the :class:`~echomark.synth.cine.VideoSpec`,
so labels and truth are exactly those of the classic look.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from echomark.synth.phantom import BLOOD, FIBROUS, MYOCARDIUM, PERICARDIUM, TISSUE, WindowFn
from echomark.synth.render import depth_marker_pixels

if TYPE_CHECKING:
    from echomark.synth.cine import VideoSpec

F32 = npt.NDArray[np.float32]
C64 = npt.NDArray[np.complex64]
U8 = npt.NDArray[np.uint8]

#: Spacing (cm) of the heart-frame scatterer texture and its extent (u0, v0, nu, nv).
_TEX_STEP = 0.02
_TEX_ORIGIN = (-12.0, -9.0)
_TEX_SHAPE = (1300, 1000)  # (v, u) samples: 26 x 20 cm

#: Smoothing (cm) of the echo map whose gradient direction decides the drop-out: about a
#: wall thickness, so a whole wall running along the beam fades, not just its edges.
_DROPOUT_SIGMA_CM = 0.4

#: Depth bands with their own lateral beam width.
_BANDS = 12

#: Words of burnt-in scanner text (none identifies anyone).
_WORDS = (
    "Gen",
    "THI",
    "Pen",
    "Res",
    "Crd",
    "P21",
    "P4-2",
    "S",
    "2D",
    "Cardiac",
    "Adult",
    "CHI",
    "HPen",
    "Echo",
)


#: Blood-pool echo below the black end of the grey map (dB): the gain a sonographer sets.
BLOOD_MARGIN_DB = (-8.0, 8.0)
#: Least height of the myocardium's echo above the black end of the grey map (a fraction
#: of the dynamic range).
MYOCARDIUM_ABOVE_BLACK = 0.3
#: Dynamic range of the grey map (dB).
DYNAMIC_RANGE_DB = (30.0, 70.0)
#: Echo multiplier of the tissue round the heart (drawn log-uniform). In the SonoSite cine
#: the tissue beyond the lateral wall is 0.39-1.4 times the wall's grey, here it is so in
#: 3 of 10 A4C end-diastoles; 0.4-10 (4 in 10) did not help the model on that cine.
TISSUE_LEVEL = (0.15, 3.0)


@dataclass(frozen=True)
class BmodeLook:
    """The per-video look of the B-mode renderer (all drawn by :meth:`sample`).

    Attributes:
        gain_db: Overall gain (set from the blood margin, see :meth:`sample`).
        dynamic_range_db: dB mapped onto the grey scale.
        gamma: Grey-map exponent (< 1 lifts the mid greys).
        atten_db_per_cm: Attenuation left after time-gain compensation.
        tgc_ripple_db: Amplitude of slow depth-gain ripples (TGC sliders).
        axial_mm: Point-spread sigma along the beam.
        beam_mm: Beam (lateral point-spread) sigma at the focus.
        focus_cm: Focal depth.
        levels: Echo multipliers of blood, surrounding tissue, myocardium and the
            half-bright pericardium round the apical ventricles (fibrous tissue and full
            pericardium are kept): hazier pools, darker surroundings, greyer walls, a
            fainter outline.
        edge_cm: Width of the soft tissue borders (fuzzier than the classic look's;
            the 50 % level stays on the true boundary).
        dropout: Echo lost (fraction) by walls running along the beam.
        near_clutter: Near-field clutter amplitude.
        near_depth_cm: Decay depth of the near-field clutter.
        blood_haze: Clutter amplitude everywhere (greys the blood pools).
        reverb: Amplitude of reverberation bands.
        reverb_step_cm: Spacing of the reverberation bands.
        shadow_db: Rib shadow depth (0 for none).
        shadow_pos: Rib shadow direction (-1 .. 1 across the sector).
        shadow_width: Rib shadow angular half-width (fraction of the sector).
        reflector_shadow: Shadowing (dB per cm of full-brightness echo) behind bright
            structures.
        lateral_falloff: Relative amplitude loss at the sector edges.
        patch_db: Depth of slow patchy gain (fixed along the beams): uneven walls and
            tissue, as from varying acoustic access.
        footprint_cm: Radius of the black near zone at the sector apex (probe footprint).
        text: Burnt-in scanner text.
        ecg: ECG trace with a sweeping cursor.
        scale: Depth scale dots beside the sector.
        toolbar: Row of menu boxes along the bottom.
    """

    gain_db: float
    dynamic_range_db: float
    gamma: float
    atten_db_per_cm: float
    tgc_ripple_db: float
    axial_mm: float
    beam_mm: float
    focus_cm: float
    levels: tuple[float, float, float, float]
    edge_cm: float
    dropout: float
    near_clutter: float
    near_depth_cm: float
    blood_haze: float
    reverb: float
    reverb_step_cm: float
    shadow_db: float
    shadow_pos: float
    shadow_width: float
    reflector_shadow: float
    lateral_falloff: float
    patch_db: float
    footprint_cm: float
    text: bool
    ecg: bool
    scale: bool
    toolbar: bool

    @classmethod
    def sample(cls, rng: np.random.Generator) -> BmodeLook:
        """Draw a look, from crisp and contrasty to grey, hazy and low-contrast.

        The gain is set as a sonographer sets it, not drawn on its own: the black end of the
        grey map goes :data:`BLOOD_MARGIN_DB` above the blood pool's echo (its level and the
        haze), but never closer than :data:`MYOCARDIUM_ABOVE_BLACK` of the dynamic range
        under the myocardium's. So most cavities are black and walls grey, as in real
        echoes (the SonoSite cine in pydicom-data: cavity grey 7-10, wall 35-45), and the
        rest are hazy. A gain drawn on its own made the median cavity grey 38.
        """
        rib = rng.random() < 0.35
        margin_db = float(rng.uniform(*BLOOD_MARGIN_DB))
        # keyword arguments are drawn in order: the gain is set below, from the drawn levels
        look = cls(
            gain_db=0.0,
            dynamic_range_db=float(rng.uniform(*DYNAMIC_RANGE_DB)),
            gamma=float(rng.uniform(0.7, 1.8)),
            atten_db_per_cm=float(rng.uniform(0.0, 1.0)),
            tgc_ripple_db=float(rng.uniform(0.0, 3.0)),
            axial_mm=float(rng.uniform(0.25, 0.6)),
            beam_mm=float(rng.uniform(0.5, 2.5)),
            focus_cm=float(rng.uniform(5.0, 12.0)),
            levels=(
                float(rng.uniform(0.6, 2.5)),
                float(np.exp(rng.uniform(*np.log(TISSUE_LEVEL)))),
                float(rng.uniform(0.4, 1.0)),
                float(rng.uniform(0.02, 1.0)),
            ),
            edge_cm=float(rng.uniform(0.06, 0.5)),
            dropout=float(rng.uniform(0.3, 0.85)),
            near_clutter=float(rng.uniform(0.003, 0.08)),
            near_depth_cm=float(rng.uniform(1.0, 6.0)),
            blood_haze=float(rng.uniform(0.0, 0.006)),
            reverb=float(rng.uniform(0.0, 0.006)),
            reverb_step_cm=float(rng.uniform(1.5, 3.5)),
            shadow_db=float(rng.uniform(4.0, 15.0)) if rib else 0.0,
            shadow_pos=float(rng.uniform(-0.9, 0.9)),
            shadow_width=float(rng.uniform(0.04, 0.14)),
            reflector_shadow=float(rng.uniform(0.0, 8.0)),
            lateral_falloff=float(rng.uniform(0.2, 0.7)),
            patch_db=float(rng.uniform(0.0, 8.0)),
            footprint_cm=float(rng.uniform(0.0, 1.0)),
            text=bool(rng.random() < 0.6),
            ecg=bool(rng.random() < 0.5),
            scale=bool(rng.random() < 0.6),
            toolbar=bool(rng.random() < 0.3),
        )
        blood_db = 10.0 * math.log10((BLOOD * look.levels[0]) ** 2 + look.blood_haze**2)
        myo_db = 20.0 * math.log10(MYOCARDIUM * look.levels[2])
        # the myocardium stays visible: when it is too close to the blood, the pool greys
        black_db = min(
            blood_db + margin_db, myo_db - MYOCARDIUM_ABOVE_BLACK * look.dynamic_range_db
        )
        return replace(look, gain_db=-look.dynamic_range_db - black_db)


#: Cavity core (mm inside the outline) and wall band (mm outside it) of
#: :func:`cavity_and_wall_greys`.
CAVITY_CORE_MM = 4.0
WALL_BAND_MM = (1.5, 6.0)
#: Band (mm outside the outline) of :func:`surroundings_grey`: past any wall.
SURROUNDINGS_MM = (12.0, 20.0)


def _outline_distances(
    shape: tuple[int, ...], outline: npt.ArrayLike, mm_per_px: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """An outline's dense polyline and each pixel's distance (mm) into and out of its cavity.

    The polyline has 1 px spacing; the cavity is the outline closed straight across its base.
    """
    from echomark.geometry.curves import sample_curve

    dense = sample_curve(outline, spacing=1.0)
    inside = np.zeros(shape[:2], dtype=np.uint8)
    cv2.fillPoly(inside, [np.rint(dense).astype(np.int32)], 1)
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, 5) * np.float32(mm_per_px)
    d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5) * np.float32(mm_per_px)
    return dense, d_in, d_out


def cavity_and_wall_greys(
    image: npt.ArrayLike, outline: npt.ArrayLike, mm_per_px: float
) -> tuple[float, float]:
    """Median grey of an LV cavity's core and of the wall band just outside its outline.

    The statistic the look's gain is tuned by, the same on real and generated frames: the
    cavity is the outline (``curve-lv-endo`` nodes, pixels) closed straight across its
    base; its core lies over :data:`CAVITY_CORE_MM` inside, the wall band
    :data:`WALL_BAND_MM` outside.

    >>> img = np.full((40, 40), 50.0)
    >>> img[10:30, 10:30] = 5.0
    >>> cavity_and_wall_greys(img, [[10, 10], [29, 10], [29, 29], [10, 29]], 1.0)
    (5.0, 50.0)
    """
    img = np.asarray(image, dtype=np.float64)
    _, d_in, d_out = _outline_distances(img.shape, outline, mm_per_px)
    lo, hi = WALL_BAND_MM
    cavity = img[d_in > CAVITY_CORE_MM]
    wall = img[(d_out > lo) & (d_out < hi)]
    return float(np.median(cavity)), float(np.median(wall))


def surroundings_grey(image: npt.ArrayLike, outline: npt.ArrayLike, mm_per_px: float) -> float:
    """Median grey of the tissue beyond an LV's image-right wall (lateral in A4C).

    The pixels :data:`SURROUNDINGS_MM` outside the outline (``curve-lv-endo`` nodes,
    pixels, closed straight across its base), right of the outline's mean x and between
    20 % and 90 % of the way from its top to its base; NaN when none lie in the image.
    Beside :func:`cavity_and_wall_greys`' wall grey it says whether the heart sits on grey
    tissue, as in real echoes, or floats on black.

    Black everywhere but tissue of grey 30 from x = 55 on; the outline's spline bulges to
    x = 46. At 1 mm per pixel the band read lies on the tissue, at 4 mm per pixel (3-5 px
    out) still on black.

    >>> img = np.zeros((60, 80))
    >>> img[:, 55:] = 30.0
    >>> surroundings_grey(img, [[20, 10], [39, 10], [39, 49], [20, 49]], 1.0)
    30.0
    >>> surroundings_grey(img, [[20, 10], [39, 10], [39, 49], [20, 49]], 4.0)
    0.0
    """
    img = np.asarray(image, dtype=np.float64)
    pts = np.asarray(outline, dtype=np.float64)
    dense, _, d_out = _outline_distances(img.shape, pts, mm_per_px)
    top, base = float(dense[:, 1].min()), float(max(pts[0, 1], pts[-1, 1]))
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    rows = (yy > top + 0.2 * (base - top)) & (yy < base - 0.1 * (base - top))
    lo, hi = SURROUNDINGS_MM
    band = img[rows & (xx > float(dense[:, 0].mean())) & (d_out > lo) & (d_out < hi)]
    return float(np.median(band)) if band.size else float("nan")


def _gauss_kernel(sigma: float) -> F32:
    """Normalised 1-D Gaussian (sum 1), radius 3 sigma (at least 1 tap each side)."""
    r = max(1, math.ceil(3.0 * sigma))
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / max(sigma, 1e-3)) ** 2)
    return (k / k.sum()).astype(np.float32)


def ecg_wave(phase: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A stylised ECG (arbitrary units) at cycle phases (0 = end-diastole = R peak).

    >>> float(ecg_wave(np.array([0.0]))[0]) > 0.9 > float(ecg_wave(np.array([0.5]))[0])
    True
    """
    p = (phase + 0.5) % 1.0 - 0.5  # in [-0.5, 0.5), R peak at 0
    r = np.exp(-((p / 0.011) ** 2)) - 0.22 * np.exp(-(((p - 0.025) / 0.012) ** 2))
    q = -0.12 * np.exp(-(((p + 0.02) / 0.008) ** 2))
    t = 0.28 * np.exp(-(((p - 0.3) / 0.05) ** 2))
    pw = 0.13 * np.exp(-(((p + 0.12) / 0.025) ** 2))
    return r + q + t + pw


class BmodeRenderer:
    """Renders the frames of one video with the B-mode look (keeps the per-video maps)."""

    def __init__(self, spec: VideoSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.look = look = BmodeLook.sample(rng)
        geo = spec.geometry
        px = min(geo.dx_cm_per_px, geo.dy_cm_per_px)
        self.dr = dr = 1.25 * px
        self.n_r = n_r = math.ceil(geo.depth_cm / dr) + 2
        self.n_t = n_t = int(
            np.clip(round(2 * geo.half_angle_rad * geo.depth_cm / (3.0 * px)), 96, 320)
        )
        self.dt = dt = 2 * geo.half_angle_rad / n_t
        r = (np.arange(n_r, dtype=np.float64) + 0.5) * dr
        th = -geo.half_angle_rad + (np.arange(n_t, dtype=np.float64) + 0.5) * dt
        self.r = r
        self.th = th
        self.xw = np.ascontiguousarray((r[:, None] * np.sin(th)[None, :]).astype(np.float32))
        self.yw = np.ascontiguousarray((r[:, None] * np.cos(th)[None, :]).astype(np.float32))
        self.edge_cm = max(2.0 * dr, look.edge_cm)
        classes = np.log([BLOOD, TISSUE, MYOCARDIUM, FIBROUS, 0.5 * PERICARDIUM, PERICARDIUM])
        self.tone_x = classes
        b, t, m, p = look.levels
        self.tone_y = classes + np.log([b, t, m, 1.0, p, 1.0])
        # drop-out smoothing across the beams, sized at mid-depth
        self.dropout_sigma_lines = _DROPOUT_SIGMA_CM / (0.5 * geo.depth_cm * dt)
        # scatterers fixed in the heart frame; clutter fixed along the beams (two fields
        # blended over the cine so it drifts slowly)
        tex = _complex_noise(rng, _TEX_SHAPE)
        self.texture = np.ascontiguousarray(np.stack([tex.real, tex.imag], axis=-1))
        self.clutter = _complex_noise(rng, (2, n_r, n_t))
        # clutter amplitude by depth: near field, haze, reverberation bands
        rev = np.zeros_like(r)
        for k in (1, 2, 3):
            rev += np.exp(-(((r - k * look.reverb_step_cm) / 0.15) ** 2)) / k
        self.clutter_amp = (
            look.near_clutter * np.exp(-r / look.near_depth_cm)
            + look.blood_haze
            + look.reverb * rev
        ).astype(np.float32)[:, None]
        # point-spread: axial kernel and per-band lateral kernels (in beam lines)
        self.k_axial = _gauss_kernel(look.axial_mm * 0.1 / dr)
        band_edges = np.linspace(0, n_r, _BANDS + 1).round().astype(int)
        self.bands: list[tuple[int, int, F32]] = []
        for b0, b1 in itertools.pairwise(band_edges.tolist()):
            rc = max(float(r[(b0 + b1 - 1) // 2]), 0.5)
            width = look.beam_mm * 0.1 * math.sqrt(1.0 + ((rc - look.focus_cm) / 4.0) ** 2)
            sig_lines = min(width / (rc * dt), n_t / 6.0)
            self.bands.append((int(b0), int(b1), _gauss_kernel(sig_lines)))
        # depth/angle gain (dB) that does not change over the cine
        ripple = np.zeros_like(r)
        for _ in range(3):
            ripple += float(rng.uniform(-1.0, 1.0)) * np.sin(
                2 * math.pi * r / float(rng.uniform(3.0, 8.0)) + float(rng.uniform(0, 2 * math.pi))
            )
        depth_db = look.gain_db - look.atten_db_per_cm * r + look.tgc_ripple_db * ripple / 3.0
        rel = np.abs(th) / geo.half_angle_rad
        lat_db = 20.0 * np.log10(np.clip(1.0 - look.lateral_falloff * rel**4, 0.05, None))
        gain = depth_db[:, None] + lat_db[None, :]
        if look.patch_db > 0.0:
            # a coarse random grid (about 2 cm x 1/6 of the sector), smoothly upsampled
            coarse = rng.uniform(-1.0, 1.0, (max(2, round(geo.depth_cm / 2.0)), 6))
            patch = cv2.resize(coarse.astype(np.float32), (n_t, n_r), interpolation=cv2.INTER_CUBIC)
            gain = gain + look.patch_db * patch
        if look.shadow_db > 0.0:
            start = float(rng.uniform(1.0, 3.0))
            along = np.clip((r - start) / 0.5, 0.0, 1.0)[:, None]
            wedge = np.exp(
                -(((th / geo.half_angle_rad - look.shadow_pos) / look.shadow_width) ** 2)
            )
            gain = gain - look.shadow_db * along * wedge[None, :]
        self.gain_db = gain.astype(np.float32)
        # scan conversion maps (pixel -> fractional polar indices) and the sector mask
        h, w = geo.height, geo.width
        xs = (np.arange(w, dtype=np.float64) - geo.apex_x) * geo.dx_cm_per_px
        ys = (np.arange(h, dtype=np.float64) - geo.apex_y) * geo.dy_cm_per_px
        rr = np.hypot(xs[None, :], ys[:, None])
        tt = np.arctan2(xs[None, :], ys[:, None])
        self.map_r = (rr / dr - 0.5).astype(np.float32)
        self.map_t = ((tt + geo.half_angle_rad) / dt - 0.5).astype(np.float32)
        lateral = rr * np.sin(geo.half_angle_rad - np.abs(tt))
        inside = np.abs(tt) < geo.half_angle_rad
        rim = np.minimum(geo.depth_cm - rr, np.where(inside, lateral, -1.0))
        rim = np.minimum(rim, rr - look.footprint_cm)
        self.sector = np.clip(rim / px + 0.5, 0.0, 1.0).astype(np.float32)
        self.overlay, self.overlay_mask = self._static_overlay(rng)
        self.norm = self._noise_norm()
        self.ecg_box = _ecg_box(geo.height, geo.width, rng) if look.ecg else None

    # ------------------------------------------------------------------ maps
    def _noise_norm(self) -> F32:
        """Per-depth factor giving the filtered scatterer field unit mean power."""
        zf = self._psf(self._scatterers(*self.spec.to_heart(0, self.xw, self.yw)))
        p = np.mean(zf.real**2 + zf.imag**2, axis=1)
        return (1.0 / np.sqrt(np.maximum(p, 1e-12))).astype(np.float32)[:, None]

    def _psf(self, z: C64) -> C64:
        """Convolve a polar complex field with the depth-dependent point-spread function."""
        two = np.ascontiguousarray(np.stack([z.real, z.imag], axis=-1))
        two = np.asarray(
            cv2.sepFilter2D(
                two, -1, np.ones(1, np.float32), self.k_axial, borderType=cv2.BORDER_REFLECT
            ),
            dtype=np.float32,
        )
        for b0, b1, k in self.bands:
            two[b0:b1] = cv2.sepFilter2D(
                np.ascontiguousarray(two[b0:b1]),
                -1,
                k,
                np.ones(1, np.float32),
                borderType=cv2.BORDER_REFLECT,
            )
        return _from_two(two)

    def _window_fn(self, index: int) -> WindowFn:
        """Heart-frame box -> slices of the polar grid covering it at a frame."""
        spec = self.spec
        geo = spec.geometry

        def window(u0: float, u1: float, v0: float, v1: float) -> tuple[slice, slice]:
            corners = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]])
            xy = spec.to_px(index, corners)
            xw, yw = geo.px_to_world(xy[:, 0], xy[:, 1])
            rr = np.hypot(xw, yw)
            tt = np.arctan2(xw, yw)
            if np.any(yw <= 0.0):
                return slice(0, self.n_r), slice(0, self.n_t)
            # nearest point of the (convex) box to the apex: on one of its edges
            r_min = float(rr.min())
            for i in range(4):
                a = np.array([xw[i], yw[i]])
                b = np.array([xw[(i + 1) % 4], yw[(i + 1) % 4]])
                d = b - a
                t = float(np.clip(-(a @ d) / max(float(d @ d), 1e-12), 0.0, 1.0))
                r_min = min(r_min, float(np.hypot(*(a + t * d))))
            r0 = int(np.clip(math.floor(r_min / self.dr - 0.5) - 1, 0, self.n_r))
            r1 = int(np.clip(math.ceil(float(rr.max()) / self.dr - 0.5) + 2, 0, self.n_r))
            t0 = (float(tt.min()) + geo.half_angle_rad) / self.dt - 0.5
            t1 = (float(tt.max()) + geo.half_angle_rad) / self.dt - 0.5
            c0 = int(np.clip(math.floor(t0) - 1, 0, self.n_t))
            c1 = int(np.clip(math.ceil(t1) + 2, 0, self.n_t))
            return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

        return window

    def _scatterers(self, u: F32, v: F32) -> C64:
        """Bilinear samples of the heart-frame scatterer texture (wraps round its edges)."""
        fu = (u - np.float32(_TEX_ORIGIN[0])) * np.float32(1.0 / _TEX_STEP)
        fv = (v - np.float32(_TEX_ORIGIN[1])) * np.float32(1.0 / _TEX_STEP)
        two = np.asarray(
            cv2.remap(
                self.texture,
                np.ascontiguousarray(fu, dtype=np.float32),
                np.ascontiguousarray(fv, dtype=np.float32),
                interpolation=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_WRAP,
            ),
            dtype=np.float32,
        )
        # bilinear weights shrink the noise power; the per-depth norm restores it on average
        return _from_two(two)

    # ------------------------------------------------------------------ frames
    def frame(self, index: int) -> U8:
        """The uint8 (H, W) image of frame ``index``."""
        spec, look = self.spec, self.look
        u, v = spec.to_heart(index, self.xw, self.yw)
        e = spec.state(index).echogenicity(u, v, self.edge_cm, self._window_fn(index))
        amp = self._shade(e)
        z = self._scatterers(u, v) * amp
        k = (index / max(1, spec.n_frames - 1)) * 0.5 * math.pi
        z += (
            self.clutter[0] * np.float32(math.cos(k)) + self.clutter[1] * np.float32(math.sin(k))
        ) * self.clutter_amp
        zf = self._psf(z)
        env2 = (zf.real * zf.real + zf.imag * zf.imag) * (self.norm * self.norm)
        db = np.float32(10.0) * np.log10(env2 + np.float32(1e-9)) + self.gain_db
        if look.reflector_shadow > 0.0:
            # echo lost behind bright structures: cumulative along each beam
            bright = np.clip(e - np.float32(0.3), 0.0, None)
            db -= np.float32(look.reflector_shadow * self.dr) * np.cumsum(bright, axis=0)
        dr_db = np.float32(look.dynamic_range_db)
        g = np.clip((db + dr_db) / dr_db, 0.0, 1.0)
        g = np.power(g, np.float32(look.gamma)) * np.float32(255.0)
        img = np.asarray(
            cv2.remap(
                g.astype(np.float32),
                self.map_t,
                self.map_r,
                interpolation=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0.0,
            ),
            dtype=np.float32,
        )
        img *= self.sector
        out = (img + np.float32(0.5)).astype(np.uint8)
        if self.overlay_mask is not None:
            out[self.overlay_mask] = self.overlay[self.overlay_mask]
        if self.ecg_box is not None:
            self._draw_ecg(out, index)
        return out

    def _shade(self, e: F32) -> F32:
        """Echo amplitude from echogenicity: greyer weak echoes, lateral drop-out."""
        look = self.look
        # tone the tissue classes (log-linear between their echogenicities)
        a = np.exp(np.interp(np.log(e), self.tone_x, self.tone_y)).astype(np.float32)
        # drop-out: where the echo changes across the beam rather than along it, i.e. at a
        # wall running parallel to the beam, little is reflected back. The orientation is
        # that of the structure tensor (gradient products averaged over about a wall
        # thickness), so a whole wall fades, not only its two edges.
        le = cv2.GaussianBlur(
            np.log(e + np.float32(1e-3)),
            (0, 0),
            sigmaX=0.25 * self.dropout_sigma_lines,
            sigmaY=0.25 * _DROPOUT_SIGMA_CM / self.dr,
        )
        g_r = np.gradient(le, axis=0) / np.float32(self.dr)
        arc = (self.r[:, None] * self.dt).astype(np.float32)
        g_t = np.gradient(le, axis=1) / np.maximum(arc, np.float32(1e-3))

        def smooth(x: F32) -> F32:
            return np.asarray(
                cv2.GaussianBlur(
                    x,
                    (0, 0),
                    sigmaX=self.dropout_sigma_lines,
                    sigmaY=_DROPOUT_SIGMA_CM / self.dr,
                ),
                dtype=np.float32,
            )

        j_rr = smooth(g_r * g_r)
        j_tt = smooth(g_t * g_t)
        trace = j_rr + j_tt
        along = j_tt / (trace + np.float32(1e-6))  # 1: wall parallel to the beam
        strength = trace / (trace + np.float32(2.0))  # near boundaries only
        a *= np.float32(1.0) - np.float32(look.dropout) * strength * along
        return a.astype(np.float32)

    # ------------------------------------------------------------------ overlays
    def _static_overlay(self, rng: np.random.Generator) -> tuple[U8, npt.NDArray[np.bool_] | None]:
        """Burnt-in text, depth scale and toolbar (drawn once per video)."""
        look = self.look
        geo = self.spec.geometry
        h, w = geo.height, geo.width
        canvas = np.zeros((h, w), dtype=np.uint8)
        grey = int(rng.integers(170, 256))
        scale = float(rng.uniform(0.32, 0.5))
        font = cv2.FONT_HERSHEY_SIMPLEX
        if look.text:
            for col, n_lines in ((int(rng.integers(2, 10)), int(rng.integers(2, 5))),):
                y = int(rng.integers(12, 24))
                for _ in range(n_lines):
                    words = " ".join(_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), size=2))
                    cv2.putText(canvas, words, (col, y), font, scale, grey, 1, cv2.LINE_AA)
                    y += int(18 * scale / 0.4)
            x_right = w - int(rng.integers(40, 60))
            y = int(rng.integers(30, 60))
            for label in ("MI", "TIS"):
                cv2.putText(canvas, label, (x_right, y), font, scale, grey, 1, cv2.LINE_AA)
                value = f"{rng.uniform(0.2, 1.4):.1f}"
                cv2.putText(canvas, value, (x_right, y + 16), font, scale, grey, 1, cv2.LINE_AA)
                y += 38
            depth_txt = str(round(geo.depth_cm))
            cv2.putText(
                canvas,
                depth_txt,
                (x_right, h - int(rng.integers(60, 80))),
                font,
                scale * 1.1,
                grey,
                1,
                cv2.LINE_AA,
            )
        if look.scale:
            canvas.ravel()[depth_marker_pixels(geo)] = grey
        if look.toolbar:
            y0 = h - int(rng.integers(18, 26))
            x = int(w * 0.12)
            while x < w * 0.85:
                bw = int(rng.integers(50, 90))
                cv2.rectangle(canvas, (x, y0), (x + bw, h - 2), 90, 1)
                word = _WORDS[int(rng.integers(0, len(_WORDS)))]
                cv2.putText(canvas, word, (x + 8, h - 8), font, 0.35, 150, 1, cv2.LINE_AA)
                x += bw + 2
        mask = canvas > 0
        return canvas, (mask if mask.any() else None)

    def _draw_ecg(self, out: U8, index: int) -> None:
        """ECG trace over the last few seconds with the newest sample at the cursor."""
        assert self.ecg_box is not None
        x0, x1, y_base, amp, span_s, grey = self.ecg_box
        spec = self.spec
        t_now = index * spec.frame_time_ms / 1000.0
        xs = np.arange(x0, x1, dtype=np.float64)
        # sweep display: the cursor moves right and wraps; left of it is the newest sweep
        frac = (xs - x0) / (x1 - x0)
        cursor = (t_now / span_s) % 1.0
        t = t_now - ((cursor - frac) % 1.0) * span_s
        cycle_s = 60.0 / spec.heart_rate_bpm
        phase = spec.phase0 + t / cycle_s
        ys = y_base - amp * ecg_wave(phase)
        pts = np.stack([xs, ys], axis=1).round().astype(np.int32)
        gap = int(x0 + cursor * (x1 - x0))
        left = pts[pts[:, 0] < gap - 3]
        right = pts[pts[:, 0] > gap + 3]
        for seg in (left, right):
            if len(seg) > 1:
                cv2.polylines(out, [seg.reshape(-1, 1, 2)], False, grey, 1, cv2.LINE_AA)


def _ecg_box(h: int, w: int, rng: np.random.Generator) -> tuple[int, int, float, float, float, int]:
    """Where the ECG goes: x range, baseline row, amplitude (px), sweep seconds, grey."""
    x0 = int(w * rng.uniform(0.08, 0.2))
    x1 = int(w * rng.uniform(0.8, 0.92))
    y = float(h * rng.uniform(0.8, 0.93))
    return (
        x0,
        x1,
        y,
        float(rng.uniform(10.0, 25.0)),
        float(rng.uniform(2.0, 4.0)),
        int(rng.integers(150, 240)),
    )


def _from_two(two: F32) -> C64:
    """A complex64 field from its (..., 2) float32 real/imaginary planes (as cv2 filters them)."""
    out = np.empty(two.shape[:-1], dtype=np.complex64)
    out.real = two[..., 0]
    out.imag = two[..., 1]
    return out


def _complex_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> C64:
    """Unit-power complex white Gaussian noise."""
    z = np.empty(shape, dtype=np.complex64)
    z.real = rng.standard_normal(shape, dtype=np.float32)
    z.imag = rng.standard_normal(shape, dtype=np.float32)
    z *= np.float32(math.sqrt(0.5))
    return z
