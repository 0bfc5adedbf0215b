"""The calibration CSV (``01_database_physical.csv``): each video's spacing, read and written.

The file stores cm per pixel as DICOM does (``FileHash, PhysicalDeltaX, PhysicalDeltaY``);
in memory each row is a :class:`~echomark.calibration.Calibration` (mm per pixel).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping
from pathlib import Path

from echomark.cache.keys import VideoCode
from echomark.calibration import Calibration, CalibrationSource
from echomark.errors import CacheError, CalibrationError, ImageKeyError
from echomark.fileio import atomic_write_text

COLUMNS = ("FileHash", "PhysicalDeltaX", "PhysicalDeltaY")
#: Optional fourth column: ms between frames (written by curation).
FRAME_TIME = "FrameTime"


def _positive(value: str, file: str, row: int, column: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise CacheError(f"row {row}: {column} is not a number: {value!r}", file=file) from None
    if not math.isfinite(v) or v <= 0:
        raise CacheError(
            f"row {row}: {column} must be a positive finite number, got {value!r}", file=file
        )
    return v


def parse_physical_csv(text: str, *, source: str = "<text>") -> dict[str, Calibration]:
    """Parse calibration CSV text; see :func:`read_physical_csv`."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CacheError(f"missing column(s) {', '.join(missing)}", file=source)
    out: dict[str, Calibration] = {}
    for i, rec in enumerate(reader, start=2):
        code = (rec["FileHash"] or "").strip()
        try:
            VideoCode.parse(code)
        except ImageKeyError:
            raise CacheError(
                f"row {i}: FileHash is not <class>-<64 hex>: {code!r}", file=source
            ) from None
        cal = Calibration.from_cm_per_px(
            _positive(rec["PhysicalDeltaX"] or "", source, i, "PhysicalDeltaX"),
            _positive(rec["PhysicalDeltaY"] or "", source, i, "PhysicalDeltaY"),
            CalibrationSource.CSV,
            code,
        )
        if code in out and out[code] != cal:
            raise CacheError(f"row {i}: {code} listed twice with different spacings", file=source)
        out[code] = cal
    return out


def read_physical_csv(path: str | os.PathLike[str]) -> dict[str, Calibration]:
    """Read ``FileHash, PhysicalDeltaX, PhysicalDeltaY`` (cm per pixel) keyed by FileHash.

    FileHash is the video code ``<class>-<64 hex>``. Extra columns are ignored.

    Returns:
        FileHash -> calibration (mm per pixel, source ``csv``, origin the FileHash).

    Raises:
        CacheError: naming the file and row for a missing column, bad hash or bad number.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CacheError(f"cannot read calibration CSV ({exc})", file=str(p)) from None
    return parse_physical_csv(text, source=str(p))


def format_physical_csv(
    mapping: Mapping[str, Calibration], frame_times_ms: Mapping[str, float | None] | None = None
) -> str:
    """Calibration CSV text in cm per pixel, rows sorted by FileHash.

    With ``frame_times_ms`` a fourth column ``FrameTime`` (ms between frames; empty when
    unknown) follows, which ``echomark measure`` uses for heart rate and timing checks;
    readers of the three release columns ignore it.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow((*COLUMNS, FRAME_TIME) if frame_times_ms is not None else COLUMNS)
    for code in sorted(mapping):
        cal = mapping[code]
        row = [code, repr(cal.dx_cm_per_px), repr(cal.dy_cm_per_px)]
        if frame_times_ms is not None:
            ft = frame_times_ms.get(code)
            row.append("" if ft is None else f"{float(ft):g}")
        w.writerow(row)
    return buf.getvalue()


def write_physical_csv(
    path: str | os.PathLike[str],
    mapping: Mapping[str, Calibration],
    frame_times_ms: Mapping[str, float | None] | None = None,
) -> None:
    """Write the calibration CSV atomically (see :func:`format_physical_csv`)."""
    atomic_write_text(path, format_physical_csv(mapping, frame_times_ms))


def calibration_from_mapping(mapping: Mapping[str, Calibration], file_hash: str) -> Calibration:
    """Look up a FileHash (or an image key of that video) in a :func:`read_physical_csv` mapping.

    Args:
        mapping: FileHash ``<class>-<64hex>`` -> calibration.
        file_hash: A FileHash, or an image key / file name whose video is wanted.

    Returns:
        The calibration in mm per pixel.

    Raises:
        CalibrationError: The video is not in the mapping.
    """
    key = _file_hash_of(file_hash)
    cal = mapping.get(key)
    if cal is None:
        raise CalibrationError("no spacing for this video in the calibration CSV", key=key)
    return cal


def calibration_from_csv(path: str | Path, file_hash: str) -> Calibration:
    """Spacing of one video from a ``*_database_physical.csv`` (cm/px -> mm/px).

    Args:
        path: The CSV (columns ``FileHash, PhysicalDeltaX, PhysicalDeltaY``).
        file_hash: ``<class>-<64hex>``, or an image key of that video.

    Returns:
        The calibration in mm per pixel.

    Raises:
        CalibrationError: The video is not listed.
    """
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
