"""The calibration CSV (``01_database_physical.csv``): cm per pixel for each video."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from echomark.cache.keys import VideoCode
from echomark.errors import CacheError, ImageKeyError
from echomark.fileio import atomic_write_text

COLUMNS = ("FileHash", "PhysicalDeltaX", "PhysicalDeltaY")


@dataclass(frozen=True)
class Spacing:
    """Physical pixel spacing of one video, in cm per pixel as DICOM stores it.

    Attributes:
        dx_cm_per_px: Along x (columns).
        dy_cm_per_px: Along y (rows).
    """

    dx_cm_per_px: float
    dy_cm_per_px: float

    @property
    def dx_mm_per_px(self) -> float:
        """Along x in mm per pixel."""
        return self.dx_cm_per_px * 10.0

    @property
    def dy_mm_per_px(self) -> float:
        """Along y in mm per pixel."""
        return self.dy_cm_per_px * 10.0


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


def parse_physical_csv(text: str, *, source: str = "<text>") -> dict[str, Spacing]:
    """Parse calibration CSV text; see :func:`read_physical_csv`."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CacheError(f"missing column(s) {', '.join(missing)}", file=source)
    out: dict[str, Spacing] = {}
    for i, rec in enumerate(reader, start=2):
        code = (rec["FileHash"] or "").strip()
        try:
            VideoCode.parse(code)
        except ImageKeyError:
            raise CacheError(
                f"row {i}: FileHash is not <class>-<64 hex>: {code!r}", file=source
            ) from None
        spacing = Spacing(
            _positive(rec["PhysicalDeltaX"] or "", source, i, "PhysicalDeltaX"),
            _positive(rec["PhysicalDeltaY"] or "", source, i, "PhysicalDeltaY"),
        )
        if code in out and out[code] != spacing:
            raise CacheError(f"row {i}: {code} listed twice with different spacings", file=source)
        out[code] = spacing
    return out


def read_physical_csv(path: str | os.PathLike[str]) -> dict[str, Spacing]:
    """Read ``FileHash, PhysicalDeltaX, PhysicalDeltaY`` (cm per pixel) keyed by FileHash.

    FileHash is the video code ``<class>-<64 hex>``. Extra columns are ignored.

    Raises:
        CacheError: naming the file and row for a missing column, bad hash or bad number.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CacheError(f"cannot read calibration CSV ({exc})", file=str(p)) from None
    return parse_physical_csv(text, source=str(p))


def format_physical_csv(mapping: Mapping[str, Spacing]) -> str:
    """Calibration CSV text, rows sorted by FileHash, full float precision."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for code in sorted(mapping):
        s = mapping[code]
        w.writerow([code, repr(float(s.dx_cm_per_px)), repr(float(s.dy_cm_per_px))])
    return buf.getvalue()


def write_physical_csv(path: str | os.PathLike[str], mapping: Mapping[str, Spacing]) -> None:
    """Write the calibration CSV atomically (see :func:`format_physical_csv`)."""
    atomic_write_text(path, format_physical_csv(mapping))
