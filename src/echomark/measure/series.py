"""End-diastole and end-systole from a per-frame LV size series, and the beats they form.

ED/ES are chosen among the frames that were actually measured, from the values themselves:
no smoothing (which moved ED a frame early on exact labels) and no frame time (time is only
used for heart rate and timing checks). An extremum on the first or last measured frame may
be cut by the loop (a still-contracting last frame is not end-systole), so it counts only when
it is confirmed: it reaches the level of the most extreme other one of its kind within
:data:`CONFIRM_FRACTION` of the series' range (a flat end is no confirmation: diastasis is
flat too). Values read at a phase frame of another series say
whether they were interpolated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: A peak must stand out by this fraction of the series' range (max − min of measured values).
MIN_PROMINENCE_FRACTION = 0.3
#: An edge extremum must reach another extremum of its kind within this fraction of the range.
CONFIRM_FRACTION = 0.025
#: Closest two end-diastoles (or end-systoles) can be: 0.3 s is a heart rate of 200/min.
MIN_PEAK_DISTANCE_S = 0.3
#: Longest gap (in frames) a value at a phase frame may be interpolated across.
MAX_GAP_FRAMES = 3


class CyclePhase(str, Enum):
    """The two phases a beat is made of."""

    ED = "ED"
    """End-diastole: the largest LV."""

    ES = "ES"
    """End-systole: the smallest LV."""


@dataclass(frozen=True)
class Beat:
    """One beat: an end-diastolic and an end-systolic frame (frame numbers).

    Attributes:
        ed: End-diastolic frame.
        es: End-systolic frame.
        es_first: The ES frame comes before the ED frame (the loop holds no ED before this
            ES); ED and ES are then from adjacent cycles.
        given: The frames were given (``--phases``) rather than found.
    """

    ed: int
    es: int
    es_first: bool = False
    given: bool = False


@dataclass(frozen=True)
class Phases:
    """ED and ES frames found in (or given for) a series, the beats and what was refused.

    Attributes:
        frames: Measured frames of the series, sorted.
        values: Their values.
        ed: End-diastolic frames used.
        es: End-systolic frames used.
        beats: Beats formed from them.
        refused: One message per extremum not used (cut by the loop) or beat not formed.
    """

    frames: IntArray
    values: FloatArray
    ed: list[int] = field(default_factory=list)
    es: list[int] = field(default_factory=list)
    beats: list[Beat] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def measured(
    values: Mapping[int, float] | Sequence[float], frames: Sequence[int] | None = None
) -> tuple[IntArray, FloatArray]:
    """The finite values of a series and their frames, sorted by frame.

    Args:
        values: ``{frame: value}``, or values aligned with ``frames``.
        frames: Frame numbers when ``values`` is a sequence (default 0..T-1).

    Raises:
        ValueError: Frames repeat or do not align with values.
    """
    if isinstance(values, Mapping):
        f = np.asarray(list(values.keys()), dtype=np.int64)
        v = np.asarray(list(values.values()), dtype=np.float64)
    else:
        v = np.asarray(values, dtype=np.float64).ravel()
        f = np.arange(len(v), dtype=np.int64) if frames is None else np.asarray(frames, np.int64)
    if f.shape != v.shape:
        raise ValueError(f"{len(f)} frames for {len(v)} values")
    if len(np.unique(f)) != len(f):
        raise ValueError("frames repeat")
    ok = np.isfinite(v)
    order = np.argsort(f[ok], kind="stable")
    return f[ok][order], v[ok][order]


def _fall(v: FloatArray, p: int, step: int) -> tuple[float, bool]:
    """How far ``v`` falls from ``v[p]`` walking by ``step`` before rising above it.

    Returns:
        ``(fall, open)``: open when it never rises above it (the side runs to the end).
    """
    lowest = v[p]
    i = p + step
    while 0 <= i < len(v):
        # an equal value before it counts as higher, so of two equal peaks only the first is
        # a peak of its own
        if v[i] > v[p] or (step < 0 and v[i] == v[p]):
            return float(v[p] - lowest), False
        lowest = min(lowest, v[i])
        i += step
    return float(v[p] - lowest), True


def extrema(
    values: npt.ArrayLike, prominence: float, min_separation: int = 1
) -> list[tuple[int, bool]]:
    """Maxima of a series: ``(index, interior)`` for each kept one, sorted by index.

    A maximum is a sample not lower than its neighbours and higher than at least one (a
    plateau counts once, at its first sample). It must fall by ``prominence`` on each side
    before the series rises above it; a side on which it never does (the highest value up to
    that end) only needs some fall, as long as the other side falls by ``prominence``. A maximum
    on the first or last sample has no outer side; it is returned with ``interior=False``
    for the caller to confirm. Of two maxima closer than
    ``min_separation`` samples the higher is kept.

    >>> extrema([5.0, 4, 2, 1, 2, 4, 5, 4, 2, 1], 2.0)
    [(0, False), (6, True)]
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n < 2:
        return []
    kept: list[tuple[int, bool]] = []
    for p in range(n):
        left_ok = p == 0 or v[p] >= v[p - 1]
        right_ok = p == n - 1 or v[p] >= v[p + 1]
        strict = (p > 0 and v[p] > v[p - 1]) or (p < n - 1 and v[p] > v[p + 1])
        if not (left_ok and right_ok and strict):
            continue
        if p > 0 and v[p] == v[p - 1]:
            continue  # a plateau counts once, at its first sample
        fall_l, open_l = _fall(v, p, -1)
        fall_r, open_r = _fall(v, p, +1)
        # a side open to the end of the series (never higher) has an unknown full fall
        closed = [f for f, o in ((fall_l, open_l), (fall_r, open_r)) if not o]
        if max(fall_l, fall_r) >= prominence and all(f >= prominence for f in closed):
            kept.append((p, 0 < p < n - 1))
    chosen: list[tuple[int, bool]] = []
    for p, interior in sorted(kept, key=lambda t: (-v[t[0]], not t[1])):
        if all(abs(p - q) >= min_separation for q, _ in chosen):
            chosen.append((p, interior))
    return sorted(chosen)


def _confirmed(v: FloatArray, p: int, others: list[int], span: float) -> bool:
    """An edge maximum is confirmed by reaching the highest other maximum (within tolerance)."""
    rest = [v[q] for q in others if q != p]
    return bool(rest) and bool(v[p] >= max(rest) - CONFIRM_FRACTION * span)


def find_phases(
    values: Mapping[int, float] | Sequence[float],
    frames: Sequence[int] | None = None,
    *,
    frame_time_s: float | None = None,
    diastole_is_max: bool = True,
    given: Mapping[int, CyclePhase] | None = None,
    min_prominence_fraction: float = MIN_PROMINENCE_FRACTION,
) -> Phases:
    """Find end-diastoles and end-systoles in a per-frame LV size series and pair them.

    Only measured (finite) frames are candidates, so with sparse labels ED and ES are always
    labelled frames. Frames need not be consecutive and no frame time is needed; with one,
    two ED (or ES) closer than :data:`MIN_PEAK_DISTANCE_S` are merged.

    Args:
        values: ``{frame: value}`` or one value per frame of ``frames`` (NaN where missing).
        frames: Frame numbers aligned with a sequence of values.
        frame_time_s: Seconds between frames, if known (only for the merging distance).
        diastole_is_max: True for LV sizes (the usual case): ED is the maximum.
        given: Known phases ``{frame: ED|ES}`` (``--phases``): used as they are, not searched.
        min_prominence_fraction: Peak prominence as a fraction of the measured range.

    Returns:
        The phases and beats.
    """
    f, v = measured(values, frames)
    if given:
        ed = sorted(fr for fr, ph in given.items() if ph is CyclePhase.ED)
        es = sorted(fr for fr, ph in given.items() if ph is CyclePhase.ES)
        beats = [Beat(b.ed, b.es, b.es_first, given=True) for b in pair_beats(ed, es)]
        return Phases(f, v, ed, es, beats, [])
    if len(v) < 3:
        return Phases(f, v, refused=[f"only {len(v)} measured frames: no ED/ES"])
    span = float(v.max() - v.min())
    if span <= 0.0:
        return Phases(f, v, refused=["the series does not change: no ED/ES"])
    sep = 1
    if frame_time_s is not None and frame_time_s > 0:
        sep = max(1, round(MIN_PEAK_DISTANCE_S / frame_time_s))
    sign = 1.0 if diastole_is_max else -1.0
    refused: list[str] = []
    found: dict[CyclePhase, list[int]] = {}
    for phase, s in ((CyclePhase.ED, sign), (CyclePhase.ES, -sign)):
        x = s * v
        # separation in samples of the measured series: frames may be sparse
        cand = extrema(x, min_prominence_fraction * span, 1)
        cand = _merge_close(cand, f, x, sep)
        keep = []
        for p, inner in cand:
            if inner or _confirmed(x, p, [q for q, _ in cand], span):
                keep.append(int(f[p]))
            else:
                where = "first" if p == 0 else "last"
                refused.append(
                    f"{phase.value} at frame {int(f[p])} ({where} measured frame) not confirmed: "
                    "the loop may cut it"
                )
        found[phase] = keep
    beats = pair_beats(found[CyclePhase.ED], found[CyclePhase.ES])
    if not beats and found[CyclePhase.ED] and found[CyclePhase.ES]:
        refused.append("no ED before an ES and no ES before an ED: no beat")
    return Phases(f, v, found[CyclePhase.ED], found[CyclePhase.ES], beats, refused)


def _merge_close(
    cand: list[tuple[int, bool]], frames: IntArray, x: FloatArray, sep: int
) -> list[tuple[int, bool]]:
    """Of two candidates closer than ``sep`` frames, keep the higher."""
    chosen: list[tuple[int, bool]] = []
    for p, inner in sorted(cand, key=lambda t: (-x[t[0]], not t[1])):
        if all(abs(int(frames[p]) - int(frames[q])) >= sep for q, _ in chosen):
            chosen.append((p, inner))
    return sorted(chosen)


def pair_beats(ed: Sequence[int], es: Sequence[int]) -> list[Beat]:
    """Pair each ED with the first ES after it and before the next ED.

    When that forms no beat (the loop holds ES before ED only), the last ES is paired with
    the first ED after it, marked ``es_first``.

    >>> [(b.ed, b.es) for b in pair_beats([2, 12, 22], [7, 17])]
    [(2, 7), (12, 17)]
    >>> pair_beats([20], [5])
    [Beat(ed=20, es=5, es_first=True, given=False)]
    """
    ed_i, es_i = sorted(int(i) for i in ed), sorted(int(i) for i in es)
    out = []
    for k, d in enumerate(ed_i):
        nxt = ed_i[k + 1] if k + 1 < len(ed_i) else math.inf
        after = [s for s in es_i if d < s < nxt]
        if after:
            out.append(Beat(d, after[0]))
    if not out:
        for s in reversed(es_i):
            later = [d for d in ed_i if d > s]
            if later:
                out.append(Beat(later[0], s, es_first=True))
                break
    return out


def value_at(
    frames: Mapping[int, float], frame: int, *, max_gap_frames: int = MAX_GAP_FRAMES
) -> tuple[float, bool]:
    """A series' value at a frame: ``(value, interpolated)``.

    The measured value when there is one; else linear interpolation between the measured
    frames either side when they are at most ``max_gap_frames`` apart (marked interpolated);
    else NaN.

    >>> value_at({0: 1.0, 2: 3.0}, 1)
    (2.0, True)
    >>> value_at({0: 1.0, 9: 3.0}, 1)
    (nan, False)
    """
    v = frames.get(frame)
    if v is not None and math.isfinite(v):
        return float(v), False
    ok = sorted(fr for fr, x in frames.items() if math.isfinite(x))
    before = [fr for fr in ok if fr < frame]
    after = [fr for fr in ok if fr > frame]
    if not before or not after or after[0] - before[-1] > max_gap_frames:
        return math.nan, False
    a, b = before[-1], after[0]
    t = (frame - a) / (b - a)
    return float(frames[a] + t * (frames[b] - frames[a])), True


def heart_rate_bpm(
    ed_frames: Sequence[int], frame_time_s: float, es_frames: Sequence[int] = ()
) -> float:
    """Heart rate from the median time between consecutive ED (and consecutive ES) frames.

    NaN when neither phase occurs twice.

    >>> heart_rate_bpm([0, 30], 1 / 30)
    60.0
    >>> heart_rate_bpm([10], 1 / 30, [5, 35])
    60.0
    """
    gaps = [float(g) for e in (ed_frames, es_frames) for g in np.diff(sorted(e))]
    if not gaps or not frame_time_s > 0:
        return math.nan
    return 60.0 / (float(np.median(gaps)) * frame_time_s)
