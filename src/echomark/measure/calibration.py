"""Physical pixel spacing: DICOM ultrasound regions, the calibration CSV, distances in mm.

DICOM stores spacing in cm per pixel (``PhysicalDeltaX``/``PhysicalDeltaY`` of a
``SequenceOfUltrasoundRegions`` item); echomark works in mm per pixel. Regions whose bounds do
not fit the pixel matrix (a file resized or cropped without updating its regions) are flagged
and never used: a wrong spacing is worse than none.

pydicom is never imported here: the functions take an already-read ``Dataset`` (a header-only
``dcmread(path, stop_before_pixels=True)`` suffices).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Calibration:
    """Pixel spacing of one image or video, in mm per pixel.

    Attributes:
        dx_mm_per_px: Horizontal (column) spacing, mm per pixel; positive.
        dy_mm_per_px: Vertical (row) spacing, mm per pixel; positive.
        source: Where it came from (e.g. ``"dicom region 0"`` or ``"csv:<FileHash>"``).
        region: The DICOM region used, if it came from a DICOM.
    """

    dx_mm_per_px: float
    dy_mm_per_px: float
    source: str = "<memory>"
    region: UltrasoundRegion | None = None

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

    @classmethod
    def isotropic(cls, mm_per_px: float, source: str = "<memory>") -> Calibration:
        """A square-pixel calibration."""
        return cls(mm_per_px, mm_per_px, source)

    @classmethod
    def from_cm_per_px(
        cls, dx_cm_per_px: float, dy_cm_per_px: float, source: str = "<memory>"
    ) -> Calibration:
        """Build from DICOM-style cm per pixel (the sign of a delta is ignored).

        >>> Calibration.from_cm_per_px(0.02, -0.03).dy_mm_per_px
        0.3
        """
        return cls(
            abs(float(dx_cm_per_px)) * MM_PER_CM, abs(float(dy_cm_per_px)) * MM_PER_CM, source
        )


def _get(item: Any, keyword: str) -> Any:
    value = getattr(item, keyword, None)
    return None if value is None or value == "" else value


def _int_or(item: Any, keyword: str, default: int | None) -> int | None:
    value = _get(item, keyword)
    return default if value is None else int(value)


def regions_from_dataset(ds: Any) -> list[UltrasoundRegion]:
    """Parse every item of ``ds.SequenceOfUltrasoundRegions``.

    Args:
        ds: A pydicom ``Dataset`` (header only is enough).

    Returns:
        The regions in file order; empty when the sequence is absent.

    Raises:
        CalibrationError: An item lacks its bounds or spacing.
    """
    seq = getattr(ds, "SequenceOfUltrasoundRegions", None)
    if not seq:
        return []
    regions = []
    for i, item in enumerate(seq):
        bounds = [
            _get(item, k)
            for k in (
                "RegionLocationMinX0",
                "RegionLocationMinY0",
                "RegionLocationMaxX1",
                "RegionLocationMaxY1",
            )
        ]
        if any(b is None for b in bounds):
            raise CalibrationError(f"ultrasound region {i} has no RegionLocation bounds")
        regions.append(
            UltrasoundRegion(
                min_x0=int(bounds[0]),
                min_y0=int(bounds[1]),
                max_x1=int(bounds[2]),
                max_y1=int(bounds[3]),
                spatial_format=_int_or(item, "RegionSpatialFormat", 0) or 0,
                data_type=_int_or(item, "RegionDataType", 0) or 0,
                units_x=_int_or(item, "PhysicalUnitsXDirection", 0) or 0,
                units_y=_int_or(item, "PhysicalUnitsYDirection", 0) or 0,
                delta_x=float(_get(item, "PhysicalDeltaX") or 0.0),
                delta_y=float(_get(item, "PhysicalDeltaY") or 0.0),
                reference_x0=_int_or(item, "ReferencePixelX0", None),
                reference_y0=_int_or(item, "ReferencePixelY0", None),
                index=i,
            )
        )
    return regions


def region_fits(region: UltrasoundRegion, rows: int, cols: int) -> bool:
    """Whether a region's bounds lie inside a ``rows`` × ``cols`` pixel matrix.

    Scanners write the right/bottom bound either as the last pixel index or as one past it
    (a Philips 800-column image has ``MaxX1 = 800``), so one pixel of overhang is accepted;
    anything more means the image was resized or cropped after the regions were written.

    Args:
        region: The region.
        rows: Image height in pixels.
        cols: Image width in pixels.

    Returns:
        True if the region is non-empty and inside the matrix.

    >>> r = UltrasoundRegion(120, 60, 800, 518, 1, 1, 3, 3, 0.026, 0.026)
    >>> region_fits(r, 600, 800), region_fits(r, 350, 800)
    (True, False)
    """
    return (
        0 <= region.min_x0 <= region.max_x1 <= cols and 0 <= region.min_y0 <= region.max_y1 <= rows
    )


def calibration_from_dataset(ds: Any, *, source: str = "dicom") -> Calibration:
    """Spacing from the largest 2-D region with both axes in cm.

    Every 2-D cm region must fit the pixel matrix: if any does not, the header is inconsistent
    with the pixels (e.g. a 2× downscaled copy) and no region is trusted.

    Args:
        ds: A pydicom ``Dataset`` with ``Rows``, ``Columns`` and
            ``SequenceOfUltrasoundRegions``.
        source: Prefix for :attr:`Calibration.source` (e.g. the file name).

    Returns:
        The calibration in mm per pixel, with the region used.

    Raises:
        CalibrationError: No regions, no 2-D cm region, a region that does not fit, or a zero
            spacing.
    """
    rows = _get(ds, "Rows")
    cols = _get(ds, "Columns")
    if rows is None or cols is None:
        raise CalibrationError("dataset has no Rows/Columns", file=source)
    regions = regions_from_dataset(ds)
    if not regions:
        raise CalibrationError("no SequenceOfUltrasoundRegions: spacing unknown", file=source)
    candidates = [r for r in regions if r.is_2d_cm]
    if not candidates:
        raise CalibrationError(
            f"none of {len(regions)} ultrasound regions is 2-D with cm on both axes",
            file=source,
        )
    misfits = [r for r in candidates if not region_fits(r, int(rows), int(cols))]
    if misfits:
        raise CalibrationError(
            "; ".join(
                f"{r.describe()} does not fit the {int(rows)}x{int(cols)} pixel matrix"
                for r in misfits
            )
            + ": image resized or cropped after calibration; refusing to use it",
            file=source,
        )
    best = max(candidates, key=lambda r: (r.area_px, -r.index))
    if not (best.delta_x and best.delta_y) or not (
        math.isfinite(best.delta_x) and math.isfinite(best.delta_y)
    ):
        raise CalibrationError(
            f"{best.describe()} has a zero or invalid PhysicalDelta", file=source
        )
    return Calibration(
        abs(best.delta_x) * MM_PER_CM,
        abs(best.delta_y) * MM_PER_CM,
        f"{source} region {best.index}",
        best,
    )


def calibration_from_mapping(mapping: Mapping[str, Any], file_hash: str) -> Calibration:
    """Look up a FileHash (or an image key of that video) in a ``read_physical_csv`` mapping.

    Args:
        mapping: FileHash ``<class>-<64hex>`` → ``Spacing(dx_cm_per_px, dy_cm_per_px)``.
        file_hash: A FileHash, or an image key / file name whose video is wanted.

    Returns:
        The calibration in mm per pixel.

    Raises:
        CalibrationError: The video is not in the mapping.
    """
    key = _file_hash_of(file_hash)
    spacing = mapping.get(key)
    if spacing is None:
        raise CalibrationError("no spacing for this video in the calibration CSV", key=key)
    return Calibration.from_cm_per_px(
        spacing.dx_cm_per_px, spacing.dy_cm_per_px, source=f"csv:{key}"
    )


def calibration_from_csv(path: str | Path, file_hash: str) -> Calibration:
    """Spacing of one video from a ``*_database_physical.csv`` (cm/px → mm/px).

    Args:
        path: The CSV (columns ``FileHash, PhysicalDeltaX, PhysicalDeltaY``).
        file_hash: ``<class>-<64hex>``, or an image key of that video.

    Returns:
        The calibration in mm per pixel.

    Raises:
        CalibrationError: The video is not listed.
    """
    from echomark.cache.physical import read_physical_csv

    try:
        return calibration_from_mapping(read_physical_csv(path), file_hash)
    except CalibrationError as exc:
        raise CalibrationError(exc.message, file=str(path), key=exc.key) from None


def _file_hash_of(text: str) -> str:
    """``<class>-<64hex>`` from a FileHash, image key or file name."""
    name = Path(text).name
    if name.endswith(".png"):
        name = name[:-4]
    parts = name.split("-")
    if len(parts) >= 3 and len(parts[1]) == 64:
        return f"{parts[0]}-{parts[1]}"
    return name


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
