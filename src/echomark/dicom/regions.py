"""DICOM ultrasound regions: parse ``SequenceOfUltrasoundRegions`` and take the spacing.

Regions whose bounds do not fit the pixel matrix (a file resized or cropped without updating
its regions) are flagged and never used: a wrong spacing is worse than none. pydicom is never
imported here: the functions take an already-read ``Dataset`` (a header-only
``dcmread(path, stop_before_pixels=True)`` suffices).
"""

from __future__ import annotations

import math
from typing import Any

from echomark.calibration import Calibration, CalibrationSource, UltrasoundRegion
from echomark.errors import CalibrationError


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
        source: Prefix for :attr:`Calibration.origin` (e.g. the file name).

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
    return Calibration.from_cm_per_px(
        best.delta_x,
        best.delta_y,
        CalibrationSource.DICOM_REGION,
        f"{source} region {best.index}",
        best,
    )
