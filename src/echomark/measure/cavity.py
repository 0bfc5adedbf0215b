"""Cardiac phase from the LV cavity's brightness: a signal that needs no single good outline.

The LV volume series is only as good as each frame's outline: on a real echo that a model
finds hard, a few frames whose outline pinches or runs into the atrium make false maxima and
minima, and ED/ES land on them. The cavity region (pixels inside at least half of the frames'
outlines) is stable even then, and its mean grey level follows the cavity size: blood is dark,
so it is darkest when the ventricle is fullest (end-diastole) and brightest when the walls have
moved into it (end-systole).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from echomark.geometry.curves import sample_curve
from echomark.labels.schema import ImageLabels
from echomark.measure._labels import get_curve
from echomark.measure.a4c import LV_ENDO

FloatArray = npt.NDArray[np.float64]
#: Image key -> that frame's pixels, None when they are not at hand.
PixelReader = Callable[[str], npt.NDArray[np.uint8] | None]

#: A pixel belongs to the cavity region when at least this share of the outlines hold it.
MIN_SHARE = 0.5
#: Fewest outlines, and fewest region pixels, for the signal to be worth anything.
MIN_OUTLINES = 3
MIN_REGION_PX = 50
#: The region's grey level must change by at least this much (of 255) over the cine.
MIN_RANGE = 2.0


class PhaseSource(enum.StrEnum):
    """Which signal ED/ES are searched on (``measure --phases-from``)."""

    AUTO = "auto"
    SIZE = "size"
    CAVITY = "cavity"


#: Shown as the phase source when the cavity signal was used.
CAVITY_SIGNAL_NAME = "LV cavity brightness"


@dataclass(frozen=True)
class CavitySignal:
    """Mean grey level of the LV cavity region per frame.

    Attributes:
        values: Frame -> mean grey (0-255) inside the region.
        region_px: Pixels in the region.
        outlines: Outlines the region was built from.
    """

    values: dict[int, float]
    region_px: int
    outlines: int


def outline_polygon(labels: ImageLabels, min_conf: float) -> FloatArray | None:
    """A frame's dense LV outline (pixels), None when it is absent or too unsure."""
    inst = get_curve(labels, LV_ENDO, min_conf)
    return None if inst is None else sample_curve(inst.xy, inst.straight, spacing=1.0)


def cavity_region(outlines: Sequence[FloatArray], hw: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Pixels inside at least :data:`MIN_SHARE` of the closed outlines.

    >>> sq = np.array([[2.0, 2.0], [7.0, 2.0], [7.0, 7.0], [2.0, 7.0]])
    >>> int(cavity_region([sq, sq + 3.0], (12, 12)).sum()), int(cavity_region([sq], (12, 12)).sum())
    (63, 36)
    """
    count = np.zeros(hw, dtype=np.int32)
    for poly in outlines:
        mask = np.zeros(hw, dtype=np.uint8)
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
        count += mask
    return np.asarray(count >= MIN_SHARE * len(outlines))


def cavity_signal(
    outlines: Mapping[int, FloatArray],
    pixels: Iterable[tuple[int, npt.NDArray[np.uint8]]],
) -> CavitySignal | str:
    """The cavity brightness of every frame with pixels, or why there is none.

    Args:
        outlines: Frame -> dense LV outline (pixels) of the frames that have one.
        pixels: ``(frame, pixels)`` pairs (grey, or colour averaged to grey), all the same
            size; read once, one at a time, so a long cine need not be held in memory.

    Returns:
        The signal, or a sentence saying why it cannot be used.
    """
    if len(outlines) < MIN_OUTLINES:
        return f"only {len(outlines)} frames have an LV outline"
    region: npt.NDArray[np.bool_] | None = None
    values: dict[int, float] = {}
    for frame, img in pixels:
        if region is None:
            region = cavity_region(list(outlines.values()), img.shape[:2])
            if int(region.sum()) < MIN_REGION_PX:
                return f"the outlines share only {int(region.sum())} pixels"
        elif img.shape[:2] != region.shape:
            return "the frames differ in size"
        grey = img.astype(np.float64)
        if grey.ndim == 3:
            grey = grey.mean(axis=2)
        values[frame] = float(grey[region].mean())
    if region is None:
        return "no frame pixels"
    if max(values.values()) - min(values.values()) < MIN_RANGE:
        return "the cavity's brightness does not change over the cine"
    return CavitySignal(values, int(region.sum()), len(outlines))


def iter_pixels(
    frames: Mapping[int, str], read: PixelReader
) -> Iterator[tuple[int, npt.NDArray[np.uint8]]]:
    """``(frame, pixels)`` of the frames ``read`` has (it returns None for the others)."""
    for frame, key in frames.items():
        img = read(key)
        if img is not None:
            yield frame, img
