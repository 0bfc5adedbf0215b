"""Pixel de-identification masks: keep the scan area, blank everything else and all text.

A mask is a :class:`MaskSpec` (JSON-serialisable, so it goes into the per-file report and
every worker renders the identical mask) built in this order of preference:

1. ``regions`` - the image regions of ``SequenceOfUltrasoundRegions`` (2-D, M-mode and
   spectral; ECG/waveform and graphics regions are blanked), used only when every such region
   fits the pixel matrix;
2. ``motion`` - for cines without usable regions: pixels that change over time, cleaned,
   largest component, dilated, convex hull (the moving sector);
3. ``fan`` - for stills: the largest bright blob of a smoothed frame, convex hull (the fan);
4. ``band`` - nothing found: the top 10 % of rows are blanked (the header bar).

On top of any of these, boxes around detected text (OCR of the video's static content,
dilated a little) are blanked in every frame: this removes burnt-in text placed inside the
scan area, which the first three methods keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from echomark.calibration import UltrasoundRegion
from echomark.dicom.regions import region_fits

BoolArray = npt.NDArray[np.bool_]
UInt8Array = npt.NDArray[np.uint8]
Rect = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)``, inclusive pixel bounds."""

#: Region spatial formats that hold image data worth keeping (2-D, M-mode, spectral).
KEEP_SPATIAL_FORMATS = frozenset({1, 2, 3})
#: Grey-level change over time that counts as motion (JPEG noise stays below it).
MOTION_THRESHOLD = 16
#: Smallest scan area, as a fraction of the image, that a fallback may return.
MIN_AREA_FRACTION = 0.05
#: Fraction of rows blanked by the last-resort band.
BAND_FRACTION = 0.10


class MaskMethod(str, Enum):
    """How the scan area to keep was found."""

    REGIONS = "regions"
    MOTION = "motion"
    FAN = "fan"
    BAND = "band"


@dataclass
class MaskSpec:
    """What to keep and what to blank in every frame of one video.

    Attributes:
        method: How the keep area was found.
        rows: Image height.
        cols: Image width.
        keep_rects: Kept rectangles (``regions``).
        keep_polygon: Kept convex polygon as ``(x, y)`` vertices (``motion``, ``fan``).
        band_rows: Rows blanked at the top (``band``).
        text_rects: Blanked text boxes (dilated), for every method.
        notes: Human-readable notes (why a fallback was used, ...); no identifying data.
    """

    method: MaskMethod
    rows: int
    cols: int
    keep_rects: list[Rect] = field(default_factory=list)
    keep_polygon: list[tuple[int, int]] = field(default_factory=list)
    band_rows: int = 0
    text_rects: list[Rect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "method": self.method.value,
            "rows": self.rows,
            "cols": self.cols,
            "keep_rects": [list(r) for r in self.keep_rects],
            "keep_polygon": [list(p) for p in self.keep_polygon],
            "band_rows": self.band_rows,
            "text_rects": [list(r) for r in self.text_rects],
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MaskSpec:
        """Inverse of :meth:`to_json`."""
        return cls(
            method=MaskMethod(data["method"]),
            rows=int(data["rows"]),
            cols=int(data["cols"]),
            keep_rects=[_rect(r) for r in data.get("keep_rects", [])],
            keep_polygon=[(int(p[0]), int(p[1])) for p in data.get("keep_polygon", [])],
            band_rows=int(data.get("band_rows", 0)),
            text_rects=[_rect(r) for r in data.get("text_rects", [])],
            notes=[str(n) for n in data.get("notes", [])],
        )


def _rect(r: Sequence[Any]) -> Rect:
    return (int(r[0]), int(r[1]), int(r[2]), int(r[3]))


def render_keep(spec: MaskSpec) -> BoolArray:
    """The boolean keep mask (H, W) of a spec: True where pixels survive.

    >>> s = MaskSpec(MaskMethod.REGIONS, 4, 5, keep_rects=[(1, 1, 3, 2)], text_rects=[(3, 2, 4, 3)])
    >>> render_keep(s).astype(int).tolist()
    [[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0]]
    """
    keep = np.zeros((spec.rows, spec.cols), np.uint8)
    if spec.method is MaskMethod.REGIONS:
        for x0, y0, x1, y1 in spec.keep_rects:
            keep[y0 : y1 + 1, x0 : x1 + 1] = 1
    elif spec.method in (MaskMethod.MOTION, MaskMethod.FAN):
        if spec.keep_polygon:
            pts = np.asarray(spec.keep_polygon, np.int32).reshape(-1, 1, 2)
            cv2.fillPoly(keep, [pts], 1)
    else:
        keep[:] = 1
        keep[: spec.band_rows] = 0
    for x0, y0, x1, y1 in spec.text_rects:
        keep[y0 : y1 + 1, x0 : x1 + 1] = 0
    return keep.astype(bool)


def apply_keep(image: UInt8Array, keep: BoolArray) -> UInt8Array:
    """Zero every pixel outside ``keep`` (grey or RGB); returns a new array.

    >>> apply_keep(np.full((1, 2, 3), 7, np.uint8), np.array([[True, False]]))[..., 0].tolist()
    [[7, 0]]
    """
    k = keep.view(np.uint8)
    return np.multiply(image, k[..., None] if image.ndim == 3 else k)


def region_rects(
    regions: Sequence[UltrasoundRegion], rows: int, cols: int
) -> tuple[list[Rect], list[str]]:
    """Keep rectangles from parsed ultrasound regions, or the reasons they cannot be used.

    Args:
        regions: Parsed ultrasound regions (:func:`echomark.dicom.regions.regions_from_dataset`).
        rows: Image height.
        cols: Image width.

    Returns:
        ``(rects, problems)``: rects is empty when there is no image region or any image
        region does not fit the matrix (then ``problems`` says why).
    """
    image_regions = [r for r in regions if r.spatial_format in KEEP_SPATIAL_FORMATS]
    if not image_regions:
        why = "no 2-D/M-mode/spectral region" if regions else "no SequenceOfUltrasoundRegions"
        return [], [why]
    misfits = [r for r in image_regions if not region_fits(r, rows, cols)]
    if misfits:
        return [], [f"{r.describe()} does not fit the {rows}x{cols} matrix" for r in misfits]
    rects = [
        (
            max(0, r.min_x0),
            max(0, r.min_y0),
            min(cols - 1, r.max_x1),
            min(rows - 1, r.max_y1),
        )
        for r in image_regions
    ]
    return rects, []


def _odd(n: float) -> int:
    k = max(3, round(n))
    return k if k % 2 else k + 1


def _is_header_bar(stats_row: npt.NDArray[np.int32], rows: int, cols: int) -> bool:
    """A wide, short blob at the top: the patient/exam header bar, not the scan area."""
    _, y, w, h = (int(v) for v in stats_row[:4])
    return y < 0.1 * rows and h < 0.25 * rows and w > 0.6 * cols


def _largest_hull(
    binary: UInt8Array, min_area: float, *, skip_header_bar: bool = False
) -> list[tuple[int, int]]:
    """Convex hull of the largest connected component, or [] if it is too small."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return []
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.int64)
    if skip_header_bar:
        rows, cols = binary.shape
        for j in range(1, n):
            if _is_header_bar(stats[j], rows, cols):
                areas[j - 1] = 0
    best = 1 + int(np.argmax(areas))
    if areas[best - 1] < min_area:
        return []
    ys, xs = np.nonzero(labels == best)
    pts = np.stack([xs, ys], axis=1).astype(np.int32)
    hull = cv2.convexHull(pts).reshape(-1, 2)
    return [(int(x), int(y)) for x, y in hull]


def motion_polygon(grey_frames: Sequence[UInt8Array]) -> list[tuple[int, int]]:
    """The moving sector of a cine: changed pixels, cleaned, largest blob, dilated, hull.

    Args:
        grey_frames: At least two uint8 (H, W) frames spread over the cine.

    Returns:
        Hull vertices ``(x, y)``, or [] when too little moves.
    """
    stack = np.stack(grey_frames)
    change = (stack.max(axis=0) - stack.min(axis=0)) > MOTION_THRESHOLD
    binary = change.astype(np.uint8)
    h, w = binary.shape
    # Opening drops isolated noisy pixels (JPEG ringing at static text edges); closing joins
    # the speckle of the sector into one blob across dark, still cavities.
    opened = np.asarray(
        cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)), np.uint8
    )
    k = _odd(min(h, w) / 30)
    closed = np.asarray(
        cv2.morphologyEx(opened, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8)), np.uint8
    )
    grown = np.asarray(cv2.dilate(closed, np.ones((5, 5), np.uint8)), np.uint8)
    return _largest_hull(grown, MIN_AREA_FRACTION * h * w)


def fan_polygon(grey: UInt8Array) -> list[tuple[int, int]]:
    """The scan fan of a still: largest bright blob of a smoothed image, convex hull.

    Text and thin graphics are removed by an opening larger than their strokes before the
    largest blob is taken.

    Args:
        grey: uint8 (H, W).

    Returns:
        Hull vertices ``(x, y)``, or [] when nothing large enough is found.
    """
    h, w = grey.shape
    k = _odd(min(h, w) / 40)
    smooth = cv2.blur(grey, (k, k))
    binary = (smooth > 12).astype(np.uint8)
    opened = np.asarray(
        cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((k, k), np.uint8)), np.uint8
    )
    return _largest_hull(opened, MIN_AREA_FRACTION * h * w, skip_header_bar=True)


def band_rows(rows: int) -> int:
    """Rows blanked by the last-resort band (the header bar).

    >>> band_rows(480)
    48
    """
    return int(np.ceil(rows * BAND_FRACTION))


def static_image(frames: Sequence[UInt8Array]) -> UInt8Array:
    """Per-pixel median over frames: static text stays sharp, moving speckle fades."""
    if len(frames) == 1:
        return frames[0]
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


def plausible_text(rects: Sequence[Rect], rows: int) -> tuple[list[Rect], int]:
    """Drop detections that cannot be a line of text.

    A box taller than a quarter of the image and not at least twice as wide as tall is a
    detector false positive (seen on colour Doppler and tiny images), not a text line.

    Returns:
        ``(kept, number_dropped)``.

    >>> plausible_text([(0, 0, 99, 9), (0, 0, 49, 49)], 100)
    ([(0, 0, 99, 9)], 1)
    """
    kept = []
    for r in rects:
        w, h = r[2] - r[0] + 1, r[3] - r[1] + 1
        if not (h > 0.25 * rows and w < 2 * h):
            kept.append(r)
    return kept, len(rects) - len(kept)


def dilate_rects(rects: Sequence[Rect], rows: int, cols: int) -> list[Rect]:
    """Grow text boxes by a quarter of their height (at least 2 px), clipped to the image.

    >>> dilate_rects([(10, 10, 30, 17)], 100, 100)
    [(8, 8, 32, 19)]
    """
    out = []
    for x0, y0, x1, y1 in rects:
        pad = max(2, (y1 - y0 + 1) // 4)
        out.append(
            (max(0, x0 - pad), max(0, y0 - pad), min(cols - 1, x1 + pad), min(rows - 1, y1 + pad))
        )
    return out


def colour_fraction(frames: Sequence[UInt8Array], keep: BoolArray) -> float:
    """Fraction of kept pixels whose channels differ by more than 40 levels (real colour).

    Grey images stored as RGB or YBR differ by a few levels only (chroma noise of lossy
    JPEG); colour Doppler differs by far more.
    """
    if frames[0].ndim == 2 or not keep.any():
        return 0.0
    fracs = []
    step = max(1, len(frames) // 8)  # 8 frames are plenty to see colour
    for f in frames[::step]:
        spread = f.max(axis=2).astype(np.int16) - f.min(axis=2)
        fracs.append(float(np.mean(spread[keep] > 40)))
    return max(fracs)
