"""Physical pixel spacing (mm per pixel), where it came from, and distances in mm.

The ground floor of echomark's units: DICOM and the calibration CSV store cm per pixel
(``PhysicalDeltaX``/``PhysicalDeltaY``); echomark works in mm per pixel, and
:meth:`Calibration.from_cm_per_px` is the one place that converts. Reading DICOM ultrasound
regions is :mod:`echomark.dicom.regions`; the calibration CSV is :mod:`echomark.cache.physical`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum, IntEnum

import numpy as np
import numpy.typing as npt

from echomark.errors import CalibrationError

#: mm per cm.
MM_PER_CM = 10.0


class RegionSpatialFormat(IntEnum):
    """DICOM (0018,6012) Region Spatial Format."""

    NONE = 0
    TWO_D = 1
    M_MODE = 2
    SPECTRAL = 3
    WAVEFORM = 4
    GRAPHICS = 5


class RegionDataType(IntEnum):
    """DICOM (0018,6014) Region Data Type (the values echomark distinguishes)."""

    NONE = 0
    TISSUE = 1
    COLOR_FLOW = 2
    PW_SPECTRAL_DOPPLER = 3
    CW_SPECTRAL_DOPPLER = 4
    DOPPLER_MEAN_TRACE = 5
    DOPPLER_MODE_TRACE = 6
    DOPPLER_MAX_TRACE = 7
    VOLUME_TRACE = 8
    ECG_TRACE = 10
    PULSE_TRACE = 11
    PHONOCARDIOGRAM_TRACE = 12
    GRAY_BAR = 13
    COLOR_BAR = 14
    INTEGRATED_BACKSCATTER = 15
    AREA_TRACE = 16
    D_AREA_DT = 17
    OTHER = 18


class PhysicalUnits(IntEnum):
    """DICOM (0018,6024)/(0018,6026) Physical Units X/Y Direction."""

    NONE = 0
    PERCENT = 1
    DB = 2
    CM = 3
    SECONDS = 4
    HERTZ = 5
    DB_PER_SECOND = 6
    CM_PER_SECOND = 7
    CM2 = 8
    CM2_PER_SECOND = 9
    CM3 = 10
    CM3_PER_SECOND = 11
    DEGREES = 12


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of a DICOM ``SequenceOfUltrasoundRegions``.

    Attributes:
        min_x0: RegionLocationMinX0 (left column, px).
        min_y0: RegionLocationMinY0 (top row, px).
        max_x1: RegionLocationMaxX1 (right column, px).
        max_y1: RegionLocationMaxY1 (bottom row, px).
        spatial_format: RegionSpatialFormat code (1 = 2-D).
        data_type: RegionDataType code (1 = tissue).
        units_x: PhysicalUnitsXDirection code (3 = cm).
        units_y: PhysicalUnitsYDirection code (3 = cm).
        delta_x: PhysicalDeltaX, in ``units_x`` per pixel (sign kept as stored).
        delta_y: PhysicalDeltaY, in ``units_y`` per pixel (sign kept as stored).
        reference_x0: ReferencePixelX0, if present.
        reference_y0: ReferencePixelY0, if present.
        index: Position of the item in the sequence.
    """

    min_x0: int
    min_y0: int
    max_x1: int
    max_y1: int
    spatial_format: int
    data_type: int
    units_x: int
    units_y: int
    delta_x: float
    delta_y: float
    reference_x0: int | None = None
    reference_y0: int | None = None
    index: int = 0

    @property
    def width_px(self) -> int:
        """Number of columns the region spans (bounds inclusive)."""
        return self.max_x1 - self.min_x0 + 1

    @property
    def height_px(self) -> int:
        """Number of rows the region spans (bounds inclusive)."""
        return self.max_y1 - self.min_y0 + 1

    @property
    def area_px(self) -> int:
        """Region area in pixels (0 for inverted bounds)."""
        return max(0, self.width_px) * max(0, self.height_px)

    @property
    def is_2d_cm(self) -> bool:
        """True for a 2-D region with both axes in cm (a B-mode or colour-flow sector)."""
        return (
            self.spatial_format == RegionSpatialFormat.TWO_D
            and self.units_x == PhysicalUnits.CM
            and self.units_y == PhysicalUnits.CM
        )

    def describe(self) -> str:
        """A short human-readable summary (no identifying data)."""
        return (
            f"region {self.index} (format {self.spatial_format}, type {self.data_type}, "
            f"x {self.min_x0}-{self.max_x1}, y {self.min_y0}-{self.max_y1}, "
            f"delta {self.delta_x:.6g} x {self.delta_y:.6g})"
        )


class CalibrationSource(str, Enum):
    """Where a :class:`Calibration` came from."""

    DICOM_REGION = "dicom-region"
    """A DICOM ultrasound region (``SequenceOfUltrasoundRegions``)."""
    CSV = "csv"
    """A calibration CSV (``*_database_physical.csv``)."""
    GIVEN = "given"
    """Given by the user or the caller (e.g. ``--mm-per-px``)."""


@dataclass(frozen=True)
class Calibration:
    """Pixel spacing of one image or video, in mm per pixel.

    Attributes:
        dx_mm_per_px: Horizontal (column) spacing, mm per pixel; positive.
        dy_mm_per_px: Vertical (row) spacing, mm per pixel; positive.
        source: Where it came from.
        origin: Which file, key or option it came from (e.g. ``"x.dcm region 0"``,
            ``"01-<64hex>"``, ``"--mm-per-px"``); never identifying.
        region: The DICOM region used, if it came from a DICOM.
        cm_per_px: The ``(dx, dy)`` cm per pixel it was built from, kept so that the
            calibration CSV repeats DICOM's float64 values bit for bit (x10 then /10 is
            not exact); None when built from mm. Not part of equality.
    """

    dx_mm_per_px: float
    dy_mm_per_px: float
    source: CalibrationSource = CalibrationSource.GIVEN
    origin: str = ""
    region: UltrasoundRegion | None = None
    cm_per_px: tuple[float, float] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("dx_mm_per_px", "dy_mm_per_px"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise CalibrationError(f"{name} must be finite and > 0, got {value!r}", file=None)

    @property
    def is_isotropic(self) -> bool:
        """True when both axes have the same spacing (to 1e-9 relative)."""
        return math.isclose(self.dx_mm_per_px, self.dy_mm_per_px, rel_tol=1e-9)

    def to_mm(self, xy_px: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Scale ``xy`` pixel coordinates (…, 2) to mm (same origin).

        >>> Calibration(0.5, 0.25).to_mm([[2.0, 4.0]]).tolist()
        [[1.0, 1.0]]
        """
        xy = np.asarray(xy_px, dtype=np.float64)
        return xy * np.array([self.dx_mm_per_px, self.dy_mm_per_px])

    @property
    def dx_cm_per_px(self) -> float:
        """Horizontal spacing in cm per pixel, as DICOM and the calibration CSV store it.

        >>> Calibration.from_cm_per_px(0.025476696592378157, 0.03).dx_cm_per_px
        0.025476696592378157
        """
        return self.cm_per_px[0] if self.cm_per_px else self.dx_mm_per_px / MM_PER_CM

    @property
    def dy_cm_per_px(self) -> float:
        """Vertical spacing in cm per pixel (see :attr:`dx_cm_per_px`)."""
        return self.cm_per_px[1] if self.cm_per_px else self.dy_mm_per_px / MM_PER_CM

    @classmethod
    def isotropic(
        cls,
        mm_per_px: float,
        source: CalibrationSource = CalibrationSource.GIVEN,
        origin: str = "",
    ) -> Calibration:
        """A square-pixel calibration."""
        return cls(mm_per_px, mm_per_px, source, origin)

    @classmethod
    def from_cm_per_px(
        cls,
        dx_cm_per_px: float,
        dy_cm_per_px: float,
        source: CalibrationSource = CalibrationSource.GIVEN,
        origin: str = "",
        region: UltrasoundRegion | None = None,
    ) -> Calibration:
        """Build from DICOM-style cm per pixel (the sign of a delta is ignored).

        The one cm -> mm conversion in echomark.

        >>> Calibration.from_cm_per_px(0.02, -0.03).dy_mm_per_px
        0.3
        """
        dx, dy = abs(float(dx_cm_per_px)), abs(float(dy_cm_per_px))
        return cls(dx * MM_PER_CM, dy * MM_PER_CM, source, origin, region, (dx, dy))

    def describe(self) -> str:
        """Source and origin in one short phrase (for reports and messages).

        >>> Calibration(0.3, 0.3, CalibrationSource.CSV, "01-ab").describe()
        'csv 01-ab'
        """
        return f"{self.source.value} {self.origin}".strip()


def distance_mm(p: npt.ArrayLike, q: npt.ArrayLike, cal: Calibration) -> float:
    """Physical distance between two ``xy`` pixel points, correct for non-square pixels.

    Args:
        p: First point ``(x, y)`` in pixels.
        q: Second point ``(x, y)`` in pixels.
        cal: The spacing.

    Returns:
        ``sqrt((Δx·dx)² + (Δy·dy)²)`` in mm (NaN if a coordinate is NaN).

    >>> distance_mm((0, 0), (3, 4), Calibration(1.0, 2.0))
    8.54400374531753
    """
    d = np.asarray(q, dtype=np.float64) - np.asarray(p, dtype=np.float64)
    return float(math.hypot(d[0] * cal.dx_mm_per_px, d[1] * cal.dy_mm_per_px))
