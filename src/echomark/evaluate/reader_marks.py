"""Score predicted LV landmarks on a cine against sparse reader marks: found, on the heart, mm off.

A reader marks the LV apex and both mitral hinges on some frames of a cine (every 5th, say);
marks for the frames between are interpolated linearly. A predicted point is *on the heart*
when it lies within :data:`POINT_TOL_MM` of the reader's mark; a predicted LV endocardial
curve is on the heart when its two ends lie within :data:`POINT_TOL_MM` of the two hinge
marks (in either order) and its point farthest from the line through its own ends lies
within :data:`APEX_TOL_MM` of the apex mark. Reader marks are approximate (a few mm), so
these are coarse "did it find the heart" checks, not accuracy figures.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from echomark.errors import InputError
from echomark.geometry.curves import sample_curve
from echomark.labels.schema import ImageLabels, Instance, Label, LabelState

#: Points a reader marks, in the label registry's names.
READER_POINTS = ("lv-apex-endo", "mv-post-hinge", "mv-ant-hinge")
#: The curve scored against the marks (mv-ant-hinge -> apex -> mv-post-hinge).
LV_CURVE = "curve-lv-endo"
#: Everything scored per frame, in report order.
SCORED_LABELS = (*READER_POINTS, LV_CURVE)
#: A point (or curve end) farther than this from the reader's mark is off the heart.
POINT_TOL_MM = 10.0
#: The curve's apex (farthest from its hinge line) farther than this is off the heart.
APEX_TOL_MM = 12.0

XY = tuple[float, float]


@dataclass(frozen=True)
class ReaderMarks:
    """A reader's marks on some frames of one cine.

    Attributes:
        file: The cine the marks belong to (a file name, never a patient's).
        reader: Who marked, and how sure.
        frames: Frame number -> point name -> ``(x, y)`` in full-frame pixels.
        ed_frames: Frames the reader saw as end-diastole.
        es_frames: Frames the reader saw as end-systole.
    """

    file: str
    reader: str
    frames: dict[int, dict[str, XY]]
    ed_frames: tuple[int, ...] = ()
    es_frames: tuple[int, ...] = ()


def _load_json(path: str | os.PathLike[str], what: str) -> tuple[str, Any]:
    """``(path as str, parsed JSON)``; an unreadable file is an :class:`InputError`."""
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8") as f:
            return p, json.load(f)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {what} ({exc})", file=p) from None


def _frame_number(key: str, p: str) -> int:
    try:
        return int(key)
    except ValueError:
        raise InputError("frame numbers must be integers", file=p, key=str(key)) from None


def _is_xy(v: object) -> bool:
    """``[x, y]``: a list of two finite numbers."""
    return (
        isinstance(v, list)
        and len(v) == 2
        and all(isinstance(c, int | float) and math.isfinite(c) for c in v)
    )


def read_reader_marks(path: str | os.PathLike[str]) -> ReaderMarks:
    """Read a reader-marks JSON (``{"file", "reader", "frames": {"0": {name: [x, y]}}}``).

    Raises:
        InputError: Unreadable JSON, a missing field, a non-integer frame, an unknown point
            name or a point that is not two finite numbers.
    """
    p, doc = _load_json(path, "reader marks")
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), dict):
        raise InputError("reader marks need a 'frames' object", file=p)
    frames: dict[int, dict[str, XY]] = {}
    for key, points in doc["frames"].items():
        frame = _frame_number(key, p)
        if not isinstance(points, dict):
            raise InputError("a frame's marks must be an object", file=p, key=str(key))
        frames[frame] = {}
        for name, xy in points.items():
            if name not in READER_POINTS:
                raise InputError(f"unknown point (use {READER_POINTS})", file=p, field=name)
            if not _is_xy(xy):
                raise InputError("a mark must be [x, y]", file=p, key=str(key), field=name)
            frames[frame][name] = (float(xy[0]), float(xy[1]))
    if not frames:
        raise InputError("reader marks hold no frames", file=p)
    return ReaderMarks(
        file=str(doc.get("file", "")),
        reader=str(doc.get("reader", "")),
        frames=dict(sorted(frames.items())),
        ed_frames=tuple(int(f) for f in doc.get("ed_frames", ())),
        es_frames=tuple(int(f) for f in doc.get("es_frames", ())),
    )


@dataclass(frozen=True)
class ReaderOutlines:
    """A reader's LV endocardial outlines on some frames of one cine (reference volumes).

    Attributes:
        file: The cine the outlines belong to (a file name, never a patient's).
        reader: Who traced, and how.
        frames: Frame number -> outline points ``(N, 2)`` in full-frame pixels, from the
            lateral mitral hinge (``mv-ant-hinge``) over the apex to the septal one
            (``mv-post-hinge``), as ``curve-lv-endo`` runs.
        beats: ``(end-diastole, end-systole)`` frame pairs, each traced in ``frames``.
        repeat: The same reader's second tracing of some frames (repeatability).
    """

    file: str
    reader: str
    frames: dict[int, np.ndarray[Any, np.dtype[np.float64]]]
    beats: tuple[tuple[int, int], ...]
    repeat: dict[int, np.ndarray[Any, np.dtype[np.float64]]] = field(default_factory=dict)


#: Fewest points a traced outline may have (two hinges, the apex and a wall point each side).
MIN_OUTLINE_POINTS = 5


def _outlines(obj: object, p: str, where: str) -> dict[int, np.ndarray[Any, np.dtype[np.float64]]]:
    if not isinstance(obj, dict):
        raise InputError(f"'{where}' must be an object of frame -> outline", file=p)
    out = {}
    for key, pts in obj.items():
        frame = _frame_number(key, p)
        if not isinstance(pts, list) or len(pts) < MIN_OUTLINE_POINTS or not all(map(_is_xy, pts)):
            raise InputError(
                f"an outline must be at least {MIN_OUTLINE_POINTS} [x, y] points",
                file=p,
                key=str(key),
                field=where,
            )
        out[frame] = np.asarray(pts, dtype=np.float64)
    return dict(sorted(out.items()))


def read_reader_outlines(path: str | os.PathLike[str]) -> ReaderOutlines:
    """Read a reader-outlines JSON (``{"file", "reader", "beats": [[ed, es]], "frames"}``).

    Raises:
        InputError: Unreadable JSON, a missing field, a non-integer frame, an outline of
            fewer than :data:`MIN_OUTLINE_POINTS` finite points, or a beat whose ED or ES
            frame has no outline.
    """
    p, doc = _load_json(path, "reader outlines")
    if not isinstance(doc, dict) or "frames" not in doc:
        raise InputError("reader outlines need a 'frames' object", file=p)
    frames = _outlines(doc["frames"], p, "frames")
    repeat = _outlines(doc.get("repeat", {}), p, "repeat")
    beats = []
    for beat in doc.get("beats", ()):
        if not (isinstance(beat, list) and len(beat) == 2 and all(type(f) is int for f in beat)):
            raise InputError("a beat must be [ED frame, ES frame]", file=p, field="beats")
        missing = [f for f in beat if f not in frames]
        if missing:
            raise InputError(
                f"beat {beat}: frame {missing[0]} has no outline", file=p, field="beats"
            )
        beats.append((beat[0], beat[1]))
    return ReaderOutlines(
        file=str(doc.get("file", "")),
        reader=str(doc.get("reader", "")),
        frames=frames,
        beats=tuple(beats),
        repeat=repeat,
    )


def outline_labels(xy: npt.ArrayLike) -> ImageLabels:
    """A traced outline as the labels a measurement reads: the curve and its two ends as hinges.

    No apex point is given, so an apical measurement takes the outline's point farthest from
    the mid-annulus, as it does for a prediction without one.
    """
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    return {
        LV_CURVE: Label.curve(pts),
        "mv-ant-hinge": Label.point(float(pts[0, 0]), float(pts[0, 1])),
        "mv-post-hinge": Label.point(float(pts[-1, 0]), float(pts[-1, 1])),
    }


def marks_at(marks: Mapping[int, Mapping[str, XY]], frame: int) -> dict[str, XY]:
    """Each point's mark at ``frame``: linear between the two nearest marked frames.

    A point is interpolated only between frames that both mark it; before the first (after
    the last) frame marking it, that frame's mark is used.

    >>> m = {0: {"lv-apex-endo": (0.0, 10.0)}, 10: {"lv-apex-endo": (20.0, 30.0)}}
    >>> marks_at(m, 5), marks_at(m, 12)
    ({'lv-apex-endo': (10.0, 20.0)}, {'lv-apex-endo': (20.0, 30.0)})
    """
    out: dict[str, XY] = {}
    names = {n for pts in marks.values() for n in pts}
    for name in sorted(names):
        have = sorted(f for f, pts in marks.items() if name in pts)
        before = [f for f in have if f <= frame]
        after = [f for f in have if f >= frame]
        f0 = before[-1] if before else after[0]
        f1 = after[0] if after else before[-1]
        a, b = marks[f0][name], marks[f1][name]
        t = 0.0 if f1 == f0 else (frame - f0) / (f1 - f0)
        out[name] = (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
    return out


def distance_mm(a: Sequence[float], b: Sequence[float], dx_mm: float, dy_mm: float) -> float:
    """Distance between two pixel positions in mm (``dx_mm``/``dy_mm`` per column/row).

    >>> round(distance_mm((0, 0), (3, 4), 0.5105, 0.5105), 4)
    2.5525
    """
    return math.hypot((a[0] - b[0]) * dx_mm, (a[1] - b[1]) * dy_mm)


def best_instance(label: Label | None, state: LabelState) -> Instance | None:
    """The most confident instance of a label in ``state`` (None when off, blurred or absent)."""
    if label is None or label.state is not state or not label.instances:
        return None
    return max(label.instances, key=lambda i: -1.0 if i.conf is None else i.conf)


@dataclass(frozen=True)
class LabelScore:
    """One label in one frame.

    Attributes:
        found: The model gave a point (a curve for the LV curve).
        on_heart: Found, and within tolerance of the reader's marks.
        dist_mm: Point: distance to the mark. Curve: the worst of its end and apex distances.
            None when not found.
    """

    found: bool
    on_heart: bool
    dist_mm: float | None = None


@dataclass(frozen=True)
class FrameScore:
    """All scored labels of one frame."""

    frame: int
    labels: dict[str, LabelScore] = field(default_factory=dict)

    @property
    def all_on_heart(self) -> bool:
        """Every scored label is on the heart."""
        return all(self.labels.get(n, LabelScore(False, False)).on_heart for n in SCORED_LABELS)


def score_point(label: Label | None, mark: XY, dx_mm: float, dy_mm: float) -> LabelScore:
    """A predicted point against its mark (:data:`POINT_TOL_MM`)."""
    inst = best_instance(label, LabelState.POINT)
    if inst is None:
        return LabelScore(False, False)
    d = distance_mm(inst.xy[0], mark, dx_mm, dy_mm)
    return LabelScore(True, d <= POINT_TOL_MM, d)


def curve_apex(xy: np.ndarray[Any, Any], dx_mm: float, dy_mm: float) -> XY:
    """The point of a dense curve farthest (in mm) from the line through its two ends."""
    mm = xy * np.array([dx_mm, dy_mm])
    a, b = mm[0], mm[-1]
    ab = b - a
    n = float(np.hypot(*ab))
    if n == 0.0:
        far = np.hypot(*(mm - a).T)
    else:
        far = np.abs(ab[0] * (mm[:, 1] - a[1]) - ab[1] * (mm[:, 0] - a[0])) / n
    x, y = xy[int(np.argmax(far))]
    return float(x), float(y)


def score_curve(
    label: Label | None, marks: Mapping[str, XY], dx_mm: float, dy_mm: float
) -> LabelScore:
    """A predicted LV endocardial curve against the apex and hinge marks.

    Its ends are matched to the two hinge marks in whichever order fits better.
    """
    inst = best_instance(label, LabelState.CURVE)
    if inst is None or len(inst.xy) < 2:
        return LabelScore(False, False)
    dense = sample_curve(inst.xy, inst.straight, spacing=1.0)
    ant, post = marks["mv-ant-hinge"], marks["mv-post-hinge"]
    first, last = dense[0], dense[-1]
    ends = min(
        max(distance_mm(first, ant, dx_mm, dy_mm), distance_mm(last, post, dx_mm, dy_mm)),
        max(distance_mm(first, post, dx_mm, dy_mm), distance_mm(last, ant, dx_mm, dy_mm)),
    )
    apex = distance_mm(curve_apex(dense, dx_mm, dy_mm), marks["lv-apex-endo"], dx_mm, dy_mm)
    on = ends <= POINT_TOL_MM and apex <= APEX_TOL_MM
    return LabelScore(True, on, max(ends, apex))


def score_frame(
    frame: int, labels: ImageLabels, marks: Mapping[str, XY], dx_mm: float, dy_mm: float
) -> FrameScore:
    """Score one frame's predictions against the (interpolated) marks of that frame."""
    out = {n: score_point(labels.get(n), marks[n], dx_mm, dy_mm) for n in READER_POINTS}
    out[LV_CURVE] = score_curve(labels.get(LV_CURVE), marks, dx_mm, dy_mm)
    return FrameScore(frame, out)


def summarise(scores: Sequence[FrameScore]) -> dict[str, Any]:
    """Per-label % found, % on the heart and median distance; % frames with all on the heart.

    >>> s = summarise([FrameScore(0, {n: LabelScore(True, True, 2.0) for n in SCORED_LABELS}),
    ...                FrameScore(1, {n: LabelScore(False, False) for n in SCORED_LABELS})])
    >>> s["all_four_on_heart_pct"], s["labels"]["lv-apex-endo"]
    (50.0, {'found_pct': 50.0, 'on_heart_pct': 50.0, 'median_mm': 2.0})
    """
    n = len(scores)
    if n == 0:
        raise InputError("no frames to summarise")
    per: dict[str, dict[str, float | None]] = {}
    for name in SCORED_LABELS:
        got = [s.labels[name] for s in scores if name in s.labels]
        dists = [g.dist_mm for g in got if g.dist_mm is not None]
        per[name] = {
            "found_pct": 100.0 * sum(g.found for g in got) / n,
            "on_heart_pct": 100.0 * sum(g.on_heart for g in got) / n,
            "median_mm": float(np.median(dists)) if dists else None,
        }
    return {
        "frames": n,
        "labels": per,
        "all_four_on_heart_pct": 100.0 * sum(s.all_on_heart for s in scores) / n,
    }
