"""Scan geometry and B-mode image formation: sector, speckle, attenuation, log compression.

The scanner is a phased array with its apex at the top of the image. World coordinates are
``(X, Y)`` in cm with the origin at the sector apex, ``X`` to the image right and ``Y`` down
(depth); pixel ``(x, y)`` (x = column, y = row, centres at integers) maps to world by
``X = (x - apex_x) * dx``, ``Y = (y - apex_y) * dy`` with ``dx``/``dy`` in cm per pixel.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
C64 = npt.NDArray[np.complex64]


@dataclass(frozen=True)
class ScanGeometry:
    """Image size, sector and physical pixel spacing of one video.

    Attributes:
        height: Image rows.
        width: Image columns.
        apex_x: Column of the sector apex (px).
        apex_y: Row of the sector apex (px).
        depth_cm: Sector radius (imaging depth), cm.
        half_angle_rad: Half the sector opening angle.
        dx_cm_per_px: PhysicalDeltaX (cm per column).
        dy_cm_per_px: PhysicalDeltaY (cm per row).
    """

    height: int
    width: int
    apex_x: float
    apex_y: float
    depth_cm: float
    half_angle_rad: float
    dx_cm_per_px: float
    dy_cm_per_px: float

    @classmethod
    def sample(
        cls,
        rng: np.random.Generator,
        *,
        depth_range_cm: tuple[float, float],
        size: tuple[int, int] | None = None,
        half_angle_deg: tuple[float, float] = (38.0, 45.0),
    ) -> ScanGeometry:
        """Draw a scanner set-up: image size, apex, depth, sector width, spacing.

        Args:
            rng: Random generator.
            depth_range_cm: Imaging depth range (cm).
            size: ``(height, width)``; default 480-640 rows, 1.25-1.4 times as wide (<= 800).
            half_angle_deg: Range of the sector half-angle (limited by the image width).
        """
        if size is None:
            h = int(rng.choice([480, 512, 544, 576, 600, 640]))
            w = int(np.clip(round(h * float(rng.uniform(1.25, 1.4)) / 16) * 16, 560, 800))
        else:
            h, w = int(size[0]), int(size[1])
        apex_y = float(rng.uniform(0.02, 0.07) * h)
        apex_x = float(w / 2.0 + rng.uniform(-0.02, 0.02) * w)
        depth = float(rng.uniform(*depth_range_cm))
        r_px = (h - 1 - apex_y) * float(rng.uniform(0.92, 0.985))
        dy = depth / r_px
        aniso = 0.0 if rng.random() < 0.5 else float(rng.uniform(-0.03, 0.03))
        dx = dy * (1.0 + aniso)
        half_room = min(apex_x, w - 1 - apex_x) - 2.0
        max_half = math.asin(min(1.0, half_room * dx / depth))
        half = min(math.radians(float(rng.uniform(*half_angle_deg))), max_half)
        return cls(h, w, apex_x, apex_y, depth, half, dx, dy)

    def px_to_world(self, x: F64 | F32, y: F64 | F32) -> tuple[F64, F64]:
        """Pixel (x, y) -> world (X, Y) in cm."""
        return (
            (np.asarray(x, np.float64) - self.apex_x) * self.dx_cm_per_px,
            (np.asarray(y, np.float64) - self.apex_y) * self.dy_cm_per_px,
        )

    def world_to_px(self, xw: F64, yw: F64) -> tuple[F64, F64]:
        """World (X, Y) in cm -> pixel (x, y)."""
        return (
            np.asarray(xw, np.float64) / self.dx_cm_per_px + self.apex_x,
            np.asarray(yw, np.float64) / self.dy_cm_per_px + self.apex_y,
        )

    def inside(self, x: F64, y: F64, margin_px: float = 2.0) -> npt.NDArray[np.bool_]:
        """Whether pixel positions lie inside the sector and the image, with a margin."""
        xw, yw = self.px_to_world(x, y)
        r = np.hypot(xw, yw)
        th = np.arctan2(xw, yw)
        m_cm = margin_px * max(self.dx_cm_per_px, self.dy_cm_per_px)
        lateral = r * np.sin(self.half_angle_rad - np.abs(th))
        ok = (r <= self.depth_cm - m_cm) & (lateral >= m_cm) & (np.abs(th) < self.half_angle_rad)
        x = np.asarray(x)
        y = np.asarray(y)
        in_img = (x >= margin_px) & (x <= self.width - 1 - margin_px)
        in_img &= (y >= margin_px) & (y <= self.height - 1 - margin_px)
        return np.asarray(ok & in_img)


@dataclass(frozen=True)
class ScannerStyle:
    """Grey-level look of one video: gain, compression, attenuation and speckle grain.

    Attributes:
        gain_db: Overall gain added before compression.
        dynamic_range_db: dB mapped onto 0..255 (0 dB = echogenicity 1 = white).
        atten_db_per_cm: Residual depth attenuation after TGC.
        tgc_wobble_db: Amplitude of slow depth-gain ripples (imperfect TGC sliders).
        lateral_falloff: Relative amplitude loss at the sector edges.
        speckle_grain: Index into :data:`SPECKLE_GRAINS`.
        haze: Near-field clutter amplitude (echogenicity units).
        clutter: Uniform clutter added everywhere (greys the blood pools a little).
        shadow_db: Depth of an acoustic (rib) shadow, 0 for none.
        shadow_pos: Shadow direction as a fraction of the sector (-1 left .. 1 right).
        shadow_width: Angular half-width of the shadow as a fraction of the sector.
    """

    gain_db: float
    dynamic_range_db: float
    atten_db_per_cm: float
    tgc_wobble_db: float
    lateral_falloff: float
    speckle_grain: int
    haze: float
    clutter: float = 0.0
    shadow_db: float = 0.0
    shadow_pos: float = 0.0
    shadow_width: float = 0.1

    @classmethod
    def sample(cls, rng: np.random.Generator, *, external: bool = False) -> ScannerStyle:
        """Draw a look; ``external`` gives a second 'scanner' with coarser, hazier images."""
        if external:
            return cls(
                gain_db=float(rng.uniform(-1.0, 5.0)),
                dynamic_range_db=float(rng.uniform(50.0, 60.0)),
                atten_db_per_cm=float(rng.uniform(0.3, 0.9)),
                tgc_wobble_db=float(rng.uniform(0.5, 2.5)),
                lateral_falloff=float(rng.uniform(0.2, 0.5)),
                speckle_grain=int(rng.integers(2, 4)),
                haze=float(rng.uniform(0.012, 0.03)),
                clutter=float(rng.uniform(0.0005, 0.003)),
                **_shadow(rng),
            )
        return cls(
            gain_db=float(rng.uniform(-3.0, 3.0)),
            dynamic_range_db=float(rng.uniform(46.0, 56.0)),
            atten_db_per_cm=float(rng.uniform(0.0, 0.5)),
            tgc_wobble_db=float(rng.uniform(0.0, 2.0)),
            lateral_falloff=float(rng.uniform(0.1, 0.4)),
            speckle_grain=int(rng.integers(0, 3)),
            haze=float(rng.uniform(0.004, 0.02)),
            clutter=float(rng.uniform(0.0, 0.0015)),
            **_shadow(rng),
        )


def _shadow(rng: np.random.Generator) -> dict[str, float]:
    """Half the videos get one rib shadow (a darker wedge below 1.5-3 cm)."""
    if rng.random() < 0.5:
        return {"shadow_db": 0.0, "shadow_pos": 0.0, "shadow_width": 0.1}
    return {
        "shadow_db": float(rng.uniform(5.0, 14.0)),
        "shadow_pos": float(rng.uniform(-0.9, 0.9)),
        "shadow_width": float(rng.uniform(0.05, 0.14)),
    }


@dataclass
class ScanMaps:
    """Per-video precomputed arrays (full resolution unless noted).

    Attributes:
        xw2: World X (cm) of the half-resolution grid, shape (ceil(H/2), ceil(W/2)).
        yw2: World Y (cm) of the half-resolution grid.
        haze2: Near-field clutter added to the echogenicity, half resolution.
        texture_db2: Slowly varying tissue brightness (dB), half resolution.
        gain_db: Depth/lateral gain in dB, (H, W).
        sector: Soft sector mask in [0, 1], (H, W).
        speckle: Complex speckle fields, (K, H, W); blended over time.
        markers: Flat indices of the depth-scale dots (outside the sector).
    """

    xw2: F32
    yw2: F32
    haze2: F32
    texture_db2: F32
    gain_db: F32
    sector: F32
    speckle: C64
    markers: npt.NDArray[np.int64]


def _gauss_filter_fft(noise: C64, sigma_rows: float, sigma_cols: float) -> C64:
    """Gaussian low-pass of a 2-D complex field via the FFT (periodic boundaries)."""
    fr = np.fft.fftfreq(noise.shape[0])[:, None]
    fc = np.fft.fftfreq(noise.shape[1])[None, :]
    h = np.exp(-2.0 * math.pi**2 * ((sigma_rows * fr) ** 2 + (sigma_cols * fc) ** 2))
    return np.fft.ifft2(np.fft.fft2(noise) * h.astype(np.float32)).astype(np.complex64)


#: Speckle grains on offer (axial px, lateral px); styles pick one, so the expensive
#: filtered noise field is made once per grain and process and shared by all videos.
SPECKLE_GRAINS = ((0.8, 2.0), (1.0, 2.6), (1.2, 3.2), (1.5, 4.0))

#: Size (beam samples, lines) of each shared polar speckle field.
_FIELD_SHAPE = (704, 1280)


@functools.cache
def speckle_field(grain: int) -> C64:
    """The shared polar speckle field of one grain (deterministic: fixed seed per grain).

    Unit mean power, complex Gaussian, correlated over the grain's axial and lateral
    lengths; videos read randomly offset windows of it.
    """
    rng = np.random.default_rng(0x5EC4 + grain)
    shape = _FIELD_SHAPE
    z = np.empty(shape, dtype=np.complex64)
    z.real = rng.standard_normal(shape, dtype=np.float32)
    z.imag = rng.standard_normal(shape, dtype=np.float32)
    sig_a, sig_l = SPECKLE_GRAINS[grain]
    zf = _gauss_filter_fft(z, sig_a, sig_l)
    zf *= np.float32(1.0 / math.sqrt(float(np.mean(zf.real**2 + zf.imag**2))))
    zf.setflags(write=False)
    return zf


def make_scan_maps(
    geo: ScanGeometry, style: ScannerStyle, rng: np.random.Generator, n_speckle: int = 3
) -> ScanMaps:
    """Precompute the per-video grids, gain map, sector mask and speckle fields."""
    h, w = geo.height, geo.width
    ys = np.arange(h, dtype=np.float32)
    xs = np.arange(w, dtype=np.float32)
    xw = ((xs - np.float32(geo.apex_x)) * np.float32(geo.dx_cm_per_px))[None, :]
    yw = ((ys - np.float32(geo.apex_y)) * np.float32(geo.dy_cm_per_px))[:, None]
    r = np.hypot(xw, yw)
    th = np.arctan2(xw, yw)
    # sector mask with a ~1 px soft rim on the arc and the two edges
    px_cm = max(geo.dx_cm_per_px, geo.dy_cm_per_px)
    lateral = r * np.sin(np.float32(geo.half_angle_rad) - np.abs(th))
    inside = np.abs(th) < geo.half_angle_rad
    rim = np.minimum(np.float32(geo.depth_cm) - r, np.where(inside, lateral, np.float32(-1.0)))
    sector = np.clip(rim * np.float32(1.0 / px_cm) + np.float32(0.5), 0.0, 1.0)
    # gain: residual attenuation, TGC ripples (a function of depth only), lateral fall-off
    depth = np.linspace(0.0, geo.depth_cm * 1.5, 512)
    ripple = np.zeros_like(depth)
    for _ in range(3):
        ripple += float(rng.uniform(-1.0, 1.0)) * np.sin(
            2 * math.pi * depth / float(rng.uniform(3.0, 8.0)) + float(rng.uniform(0, 2 * math.pi))
        )
    depth_db = style.gain_db - style.atten_db_per_cm * depth + style.tgc_wobble_db * ripple / 3.0
    gain = np.interp(r.ravel(), depth, depth_db).reshape(r.shape).astype(np.float32)
    lat = np.clip(1.0 - style.lateral_falloff * (np.abs(th) / geo.half_angle_rad) ** 4, 0.05, None)
    gain += (20.0 * np.log10(lat)).astype(np.float32)
    # speckle: windows of a shared complex field in polar (beam) coordinates, so the grain is
    # short along the beam and long across it, then resampled onto the pixel grid
    big = speckle_field(style.speckle_grain)
    dr = min(geo.dx_cm_per_px, geo.dy_cm_per_px)
    n_r = min(math.ceil(geo.depth_cm / dr) + 3, big.shape[0])
    n_t = min(math.ceil(2 * geo.half_angle_rad * geo.depth_cm / dr) + 3, big.shape[1])
    dt = 2 * geo.half_angle_rad / (n_t - 3)
    ir = np.clip(np.rint(r / dr).astype(np.int64), 0, n_r - 1)
    it = np.clip(np.rint((th + geo.half_angle_rad) / dt).astype(np.int64) + 1, 0, n_t - 1)
    fields = np.empty((n_speckle, h, w), dtype=np.complex64)
    for k in range(n_speckle):
        r0 = int(rng.integers(0, big.shape[0] - n_r + 1))
        t0 = int(rng.integers(0, big.shape[1] - n_t + 1))
        fields[k] = big[r0 + ir, t0 + it]
    # half-resolution grid at the centres of 2x2 pixel blocks
    xs2 = np.arange(0, w, 2, dtype=np.float64) + 0.5
    ys2 = np.arange(0, h, 2, dtype=np.float64) + 0.5
    xw2, yw2 = geo.px_to_world(xs2[None, :], ys2[:, None])
    xw2, yw2 = np.broadcast_arrays(xw2, yw2)
    r2 = np.hypot(xw2, yw2)
    haze2 = (style.haze * np.exp(-r2 / 1.3) + style.clutter).astype(np.float32)
    # patchy tissue brightness: coarse Gaussian noise upsampled 8x (about 1 cm blobs)
    h2, w2 = xw2.shape
    tex = rng.normal(0.0, 2.5, size=((h2 + 7) // 8 + 1, (w2 + 7) // 8 + 1)).astype(np.float32)
    for _ in range(3):
        tex = upsample2(tex, 2 * tex.shape[0], 2 * tex.shape[1])
    tex = tex[:h2, :w2]
    return ScanMaps(
        xw2=np.ascontiguousarray(xw2, dtype=np.float32),
        yw2=np.ascontiguousarray(yw2, dtype=np.float32),
        haze2=haze2,
        texture_db2=np.ascontiguousarray(tex + _shadow_db(style, xw2, yw2, geo, rng)),
        gain_db=gain,
        sector=sector.astype(np.float32),
        speckle=fields,
        markers=depth_marker_pixels(geo),
    )


def _shadow_db(
    style: ScannerStyle, xw: F64, yw: F64, geo: ScanGeometry, rng: np.random.Generator
) -> F32:
    """Gain (dB, <= 0) of the video's rib shadow on a grid of world points."""
    if style.shadow_db <= 0.0:
        return np.zeros(xw.shape, dtype=np.float32)
    th = np.arctan2(xw, yw) / geo.half_angle_rad
    start = float(rng.uniform(1.5, 3.0))
    along = np.clip((np.hypot(xw, yw) - start) / 0.5, 0.0, 1.0)
    wedge = np.exp(-(((th - style.shadow_pos) / style.shadow_width) ** 2))
    return (-style.shadow_db * wedge * along).astype(np.float32)


def depth_marker_pixels(geo: ScanGeometry) -> npt.NDArray[np.int64]:
    """Flat pixel indices of the depth scale: a dot every cm beside the right sector edge.

    Every fifth dot is larger, as on scanner displays. Dots lie outside the sector.
    """
    out: list[int] = []
    sin_h, cos_h = math.sin(geo.half_angle_rad), math.cos(geo.half_angle_rad)
    for k in range(1, int(geo.depth_cm) + 1):
        # a point 1 mm outside the right edge of the sector at depth k cm along the edge
        x = geo.apex_x + (k * sin_h + 0.1 * cos_h) / geo.dx_cm_per_px + 4.0
        y = geo.apex_y + (k * cos_h - 0.1 * sin_h) / geo.dy_cm_per_px
        half = 2 if k % 5 == 0 else 1
        for dy in range(-half, half + 1):
            for dx in range(-half, half + 1):
                r, c = round(y) + dy, round(x) + dx
                if 0 <= r < geo.height and 0 <= c < geo.width:
                    out.append(r * geo.width + c)
    return np.unique(np.array(out, dtype=np.int64))


def upsample2(a: F32, height: int, width: int) -> F32:
    """Bilinear 2x upsampling of a grid sampled at 2x2 block centres to full resolution.

    Full-resolution pixel ``2j`` lies at coarse position ``j - 0.25`` and ``2j + 1`` at
    ``j + 0.25``; edges are clamped.

    >>> upsample2(np.array([[0.0, 4.0]], np.float32), 1, 4).tolist()
    [[0.0, 1.0, 3.0, 4.0]]
    """

    def axis0(x: F32) -> F32:
        prev = np.concatenate([x[:1], x[:-1]], axis=0)
        nxt = np.concatenate([x[1:], x[-1:]], axis=0)
        out = np.empty((2 * x.shape[0], *x.shape[1:]), dtype=np.float32)
        out[0::2] = 0.75 * x + 0.25 * prev
        out[1::2] = 0.75 * x + 0.25 * nxt
        return out

    up = axis0(axis0(a).T).T
    return np.ascontiguousarray(up[:height, :width])


def compose_frame(
    echo2: F32, maps: ScanMaps, style: ScannerStyle, speckle_pos: float
) -> npt.NDArray[np.uint8]:
    """Form one B-mode frame from a half-resolution echogenicity map.

    Args:
        echo2: Echogenicity on the half-resolution grid (amplitude, > 0).
        maps: The video's precomputed maps.
        style: The video's look.
        speckle_pos: Position along the speckle fields (0 .. K-1); consecutive frames move
            a little so speckle decorrelates slowly, as it does with tissue motion.

    Returns:
        uint8 (H, W) frame, black outside the sector.
    """
    h, w = maps.gain_db.shape
    db2 = (20.0 * np.log10(echo2 + maps.haze2)).astype(np.float32) + maps.texture_db2
    db = upsample2(db2, h, w)
    k_max = maps.speckle.shape[0] - 1
    pos = min(max(speckle_pos, 0.0), float(k_max))
    k = min(int(pos), k_max - 1)
    ang = (pos - k) * math.pi / 2.0
    z = maps.speckle[k] * np.float32(math.cos(ang)) + maps.speckle[k + 1] * np.float32(
        math.sin(ang)
    )
    amp2 = z.real * z.real + z.imag * z.imag
    db += np.float32(10.0) * np.log10(amp2 + np.float32(1e-6))
    db += maps.gain_db
    scale = np.float32(255.0 / style.dynamic_range_db)
    grey = (db + np.float32(style.dynamic_range_db)) * scale
    np.clip(grey, 0.0, 255.0, out=grey)
    grey *= maps.sector
    out = (grey + np.float32(0.5)).astype(np.uint8)
    out.ravel()[maps.markers] = 200
    return out
