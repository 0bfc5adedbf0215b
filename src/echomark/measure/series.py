"""Per-frame series of a cine: gap filling, smoothing and end-diastole/end-systole detection.

Everything that sets a time scale is given in seconds and converted with the frame time, so
results do not depend on the frame rate (the reference code used fixed frame counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.signal import find_peaks, savgol_filter

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Closest two end-diastoles (or end-systoles) can be: 0.3 s is a heart rate of 200/min.
MIN_PEAK_DISTANCE_S = 0.3
#: Savitzky–Golay window: about a sixth of a cardiac cycle at 70/min.
SMOOTH_WINDOW_S = 0.15
SMOOTH_POLYORDER = 2
#: A peak must stand out by this fraction of the series' robust range (5th–95th percentile).
MIN_PROMINENCE_FRACTION = 0.3
#: Longest gap in a series that a reported ED/ES value may be interpolated across.
MAX_GAP_S = 0.1


def fill_gaps(values: npt.ArrayLike, times_s: npt.ArrayLike) -> FloatArray:
    """Linearly interpolate NaN values in time; hold the nearest value beyond either end.

    Args:
        values: Series, shape (T,), NaN where missing.
        times_s: Strictly increasing times, shape (T,).

    Returns:
        The filled series (all NaN if no value is finite).

    >>> fill_gaps([1.0, np.nan, 3.0, np.nan], [0.0, 1.0, 2.0, 3.0]).tolist()
    [1.0, 2.0, 3.0, 3.0]
    """
    v = np.asarray(values, dtype=np.float64)
    t = np.asarray(times_s, dtype=np.float64)
    ok = np.isfinite(v)
    if not ok.any():
        return np.full_like(v, math.nan)
    return np.interp(t, t[ok], v[ok])


def smooth(
    values: npt.ArrayLike,
    frame_time_s: float,
    *,
    window_s: float = SMOOTH_WINDOW_S,
    polyorder: int = SMOOTH_POLYORDER,
) -> FloatArray:
    """Savitzky–Golay smoothing with a window given in seconds (NaN-free input).

    The window is the odd number of frames nearest ``window_s`` (at least ``polyorder + 2``);
    series shorter than that are returned unchanged.

    Args:
        values: Gap-free series, shape (T,).
        frame_time_s: Seconds between frames.
        window_s: Window length in seconds.
        polyorder: Polynomial order.

    Returns:
        The smoothed series.
    """
    v = np.asarray(values, dtype=np.float64)
    n = round(window_s / frame_time_s)
    n = max(n | 1, polyorder + 2 | 1)
    if len(v) < n or not np.all(np.isfinite(v)):
        return v.copy()
    return np.asarray(savgol_filter(v, n, polyorder, mode="interp"), dtype=np.float64)


@dataclass(frozen=True)
class Phases:
    """End-diastolic and end-systolic frames found in a series.

    Attributes:
        frames: Frame numbers of the series, shape (T,).
        times_s: Their times.
        raw: The series as given (NaN where missing).
        filled: Gap-filled series.
        smoothed: Gap-filled, smoothed series (what the peaks were found on).
        ed: Indices (into ``frames``) of end-diastoles.
        es: Indices of end-systoles.
        beats: ``(ed, es)`` index pairs: each end-diastole with the next end-systole before
            the following end-diastole.
    """

    frames: IntArray
    times_s: FloatArray
    raw: FloatArray
    filled: FloatArray
    smoothed: FloatArray
    ed: IntArray
    es: IntArray
    beats: list[tuple[int, int]] = field(default_factory=list)


def value_at(ph: Phases, index: int, *, max_gap_s: float = MAX_GAP_S) -> float:
    """A series' value at a grid index: measured, or interpolated across a short gap only.

    Args:
        ph: The series (from :func:`find_phases`).
        index: Index into ``ph.frames``.
        max_gap_s: Longest gap (time between the measured frames either side) that may be
            bridged by interpolation; longer gaps give NaN rather than an invented value.

    Returns:
        The value, or NaN.
    """
    if not 0 <= index < len(ph.raw):
        return math.nan
    if math.isfinite(ph.raw[index]):
        return float(ph.raw[index])
    ok = np.flatnonzero(np.isfinite(ph.raw))
    before, after = ok[ok < index], ok[ok > index]
    if len(before) == 0 or len(after) == 0:
        return math.nan
    if ph.times_s[after[0]] - ph.times_s[before[-1]] > max_gap_s:
        return math.nan
    return float(ph.filled[index])


def pair_beats(ed: npt.ArrayLike, es: npt.ArrayLike) -> list[tuple[int, int]]:
    """Pair each end-diastole with the first end-systole after it and before the next ED.

    >>> pair_beats([2, 12, 22], [7, 17])
    [(2, 7), (12, 17)]
    """
    ed_i = sorted(int(i) for i in np.asarray(ed).ravel())
    es_i = sorted(int(i) for i in np.asarray(es).ravel())
    out = []
    for k, d in enumerate(ed_i):
        nxt = ed_i[k + 1] if k + 1 < len(ed_i) else math.inf
        after = [s for s in es_i if d < s < nxt]
        if after:
            out.append((d, after[0]))
    return out


def find_phases(
    values: npt.ArrayLike,
    frames: npt.ArrayLike,
    frame_time_s: float,
    *,
    diastole_is_max: bool = True,
    min_distance_s: float = MIN_PEAK_DISTANCE_S,
    window_s: float = SMOOTH_WINDOW_S,
    min_prominence_fraction: float = MIN_PROMINENCE_FRACTION,
) -> Phases:
    """Find end-diastoles and end-systoles in a per-frame LV size series.

    The series is put on the full frame grid between its first and last frame, gaps are
    interpolated in time, it is Savitzky–Golay smoothed (window in seconds), and maxima and
    minima at least ``min_distance_s`` apart and standing out by ``min_prominence_fraction``
    of the robust range are taken as end-diastole and end-systole (swapped if
    ``diastole_is_max`` is false).

    Args:
        values: One value per listed frame (NaN where missing), shape (T,).
        frames: Frame numbers, shape (T,), distinct (any order).
        frame_time_s: Seconds between consecutive frames (DICOM FrameTime / 1000).
        diastole_is_max: True for sizes (LVID, area, volume, length): ED is the maximum.
        min_distance_s: Minimum time between two ED (or two ES) frames.
        window_s: Smoothing window in seconds.
        min_prominence_fraction: Peak prominence threshold as a fraction of the 5th–95th
            percentile range of the smoothed series.

    Returns:
        The phases; ``frames`` is the full grid, so indices map to frames via
        ``frames[index]``.

    Raises:
        ValueError: ``frame_time_s`` is not positive or frames repeat.
    """
    if not frame_time_s > 0:
        raise ValueError(f"frame_time_s must be positive, got {frame_time_s}")
    f_in = np.asarray(frames, dtype=np.int64).ravel()
    v_in = np.asarray(values, dtype=np.float64).ravel()
    if len(np.unique(f_in)) != len(f_in):
        raise ValueError("frames repeat")
    empty = np.zeros(0, dtype=np.int64)
    if len(f_in) == 0:
        z = np.zeros(0)
        return Phases(empty, z, z, z, z, empty, empty)
    grid = np.arange(f_in.min(), f_in.max() + 1, dtype=np.int64)
    raw = np.full(len(grid), math.nan)
    raw[f_in - grid[0]] = v_in
    times = grid * frame_time_s
    filled = fill_gaps(raw, times)
    smoothed = smooth(filled, frame_time_s, window_s=window_s)
    if not np.all(np.isfinite(smoothed)) or len(grid) < 3:
        return Phases(grid, times, raw, filled, smoothed, empty, empty)
    lo, hi = np.percentile(smoothed, [5, 95])
    prominence = max(min_prominence_fraction * (hi - lo), 1e-12)
    distance = max(1, round(min_distance_s / frame_time_s))
    sign = 1.0 if diastole_is_max else -1.0
    ed = maxima(sign * smoothed, distance, prominence)
    es = maxima(-sign * smoothed, distance, prominence)
    return Phases(grid, times, raw, filled, smoothed, ed, es, pair_beats(ed, es))


#: A maximum that runs into the start or end of the series (so its fall on that side is
#: unknown) must lie in the top tenth of the series' robust range.
EDGE_TOP_FRACTION = 0.1


def maxima(x: npt.ArrayLike, distance: int, prominence: float) -> IntArray:
    """Maxima at least ``distance`` samples apart that stand out by ``prominence``.

    Like ``scipy.signal.find_peaks`` with ``prominence``, except near the ends: a cine often
    starts or stops at end-diastole (ECG-triggered loops), where the fall on the outer side is
    not recorded. A maximum whose outer side runs into the end of the series (including the
    first or last sample) is kept if its fall on the inner side is at least ``prominence`` and
    it lies in the top tenth of the 5th–95th percentile range.

    Args:
        x: The series (finite).
        distance: Minimum separation in samples.
        prominence: Minimum fall on each (known) side.

    Returns:
        Sorted indices.

    >>> maxima([5.0, 4, 2, 1, 2, 4, 5, 4, 2, 1], 2, 2.0).tolist()
    [0, 6]
    """
    v = np.asarray(x, dtype=np.float64)
    n = len(v)
    if n < 2:
        return np.zeros(0, dtype=np.int64)
    cand, _ = find_peaks(v)
    cand = list(cand)
    if v[0] > v[1]:
        cand.insert(0, 0)
    if v[-1] > v[-2]:
        cand.append(n - 1)
    lo, hi = np.percentile(v, [5, 95])
    top = hi - EDGE_TOP_FRACTION * (hi - lo)
    kept = []
    for p in cand:
        left, right = v[: p + 1], v[p:]
        left_open = bool(np.all(left <= v[p]))
        right_open = bool(np.all(right <= v[p]))
        # the fall on a side: down to the lowest point before a higher sample (or the end)
        higher_l = np.flatnonzero(left[:-1] > v[p])
        lo_l = left[higher_l[-1] + 1 :].min() if len(higher_l) else left.min()
        higher_r = np.flatnonzero(right[1:] > v[p])
        lo_r = right[: higher_r[0] + 1].min() if len(higher_r) else right.min()
        fall_l, fall_r = v[p] - lo_l, v[p] - lo_r
        if left_open and right_open:
            ok = max(fall_l, fall_r) >= prominence
        elif left_open:
            ok = fall_r >= prominence and v[p] >= top
        elif right_open:
            ok = fall_l >= prominence and v[p] >= top
        else:
            ok = min(fall_l, fall_r) >= prominence
        if ok:
            kept.append(p)
    # enforce the distance, keeping the higher of two close maxima
    chosen: list[int] = []
    for p in sorted(kept, key=lambda i: -v[i]):
        if all(abs(p - q) >= distance for q in chosen):
            chosen.append(p)
    return np.asarray(sorted(chosen), dtype=np.int64)
