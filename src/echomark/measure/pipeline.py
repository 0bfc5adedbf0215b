"""Measure a whole label or prediction file: per-frame values, ED/ES per beat, beat means.

A video's frames are grouped by their image keys. Per-frame measurements come from each
image's labels; with a frame time, each video's LV size series (LVID for PLAX, volume, area or
length for apical views) gives end-diastole and end-systole, and the ED/ES measurements,
derived indices and their mean over beats are added.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from echomark.cache.keys import ImageKey
from echomark.calibration import Calibration
from echomark.errors import ImageKeyError
from echomark.labels.schema import ImageLabels, LabelFile, LabelState
from echomark.measure._labels import DEFAULT_MIN_CONF
from echomark.measure.a4c import (
    LV_APEX,
    LV_ENDO,
    MV_HINGES,
    area_length_volume_ml,
    ejection_fraction_pct,
    gls_pct,
    lv_apical_frame,
)
from echomark.measure.plax import (
    PLAX_POINTS,
    fractional_shortening_pct,
    lv_mass_g,
    plax_dimensions,
    relative_wall_thickness,
)
from echomark.measure.series import Phases, find_phases, value_at


class RowKind(str, Enum):
    """What a measurement row describes."""

    FRAME = "frame"
    """One frame's value."""
    BEAT = "beat"
    """A value at ED or ES of one beat, or derived from one beat."""
    MEAN = "mean"
    """The mean over a video's beats."""


#: Measurement name -> unit. Per-frame names first, then ED/ES and derived ones.
UNITS: dict[str, str] = {
    "IVS": "mm",
    "LVID": "mm",
    "LVPW": "mm",
    "LV_length": "mm",
    "LV_area": "cm2",
    "LV_volume": "mL",
    "LV_volume_al": "mL",
    "LV_endo_length": "mm",
    "IVSd": "mm",
    "LVIDd": "mm",
    "LVPWd": "mm",
    "IVSs": "mm",
    "LVIDs": "mm",
    "LVPWs": "mm",
    "RWT": "1",
    "LV_mass": "g",
    "FS": "%",
    "LV_length_d": "mm",
    "LV_length_s": "mm",
    "LVEDA": "cm2",
    "LVESA": "cm2",
    "LVEDV": "mL",
    "LVESV": "mL",
    "EF": "%",
    "LVEDV_al": "mL",
    "LVESV_al": "mL",
    "EF_al": "%",
    "GLS": "%",
}

PLAX_FRAME = ("IVS", "LVID", "LVPW")
APICAL_FRAME = ("LV_length", "LV_area", "LV_volume", "LV_volume_al", "LV_endo_length")

#: Fewest measured frames for ED/ES detection (fewer: per-frame values only).
MIN_SERIES_FRAMES = 6

PLAX_VIEW = "PLAX"
APICAL_VIEW = "apical"
_APICAL_VIEWS = {"A4C", "A2C", "A3C", "A5C", APICAL_VIEW}


@dataclass(frozen=True)
class MeasurementRow:
    """One measurement in long form.

    Attributes:
        video: Video code ``<class>-<64hex>``.
        image: Image key for frame rows, ``""`` for beat and mean rows.
        view: ``PLAX``, ``A4C``… or ``apical`` when inferred from the labels.
        frame: Frame number (for ED/ES values the phase frame), None for means.
        beat: Beat number within the video (0-based), None for frame and mean rows.
        kind: Frame, beat or mean.
        measurement: Name (see :data:`UNITS`).
        value: Value in ``unit``.
        unit: Unit.
    """

    video: str
    image: str
    view: str
    frame: int | None
    beat: int | None
    kind: RowKind
    measurement: str
    value: float
    unit: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN → None, enum → value)."""
        d = asdict(self)
        d["kind"] = self.kind.value
        if not math.isfinite(self.value):
            d["value"] = None
        return d


@dataclass
class VideoSeries:
    """The per-frame series of one video, the phases found in it and its spacing (for reports)."""

    video: str
    view: str
    calibration: Calibration
    values: dict[str, Phases]
    driver: str | None
    phases: Phases | None


@dataclass
class MeasureResult:
    """Everything measured in a file.

    Attributes:
        rows: Long-form measurements.
        series: Per video: its series and phases.
        problems: Items that should have been measured but were skipped (bad key, no
            calibration), one message each.
        notes: Videos with nothing to measure (no LV landmarks, a view without LV
            measurements); not errors.
    """

    rows: list[MeasurementRow] = field(default_factory=list)
    series: dict[str, VideoSeries] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def values(self, measurement: str, kind: RowKind | None = None) -> list[float]:
        """All values of one measurement (optionally of one kind)."""
        return [
            r.value
            for r in self.rows
            if r.measurement == measurement and (kind is None or r.kind is kind)
        ]


def _present(labels: ImageLabels, name: str) -> bool:
    label = labels.get(name)
    return label is not None and label.state in (LabelState.POINT, LabelState.CURVE)


def infer_view(labels: ImageLabels) -> str | None:
    """``PLAX`` if any PLAX LV landmark is drawn, ``apical`` if LV apical labels are, else None."""
    if any(_present(labels, n) for n in PLAX_POINTS):
        return PLAX_VIEW
    apical = (LV_ENDO, *LV_APEX, *(n for pair in MV_HINGES for n in pair))
    if any(_present(labels, n) for n in apical):
        return APICAL_VIEW
    return None


def measure_frame(
    labels: ImageLabels, cal: Calibration, view: str, *, min_conf: float = DEFAULT_MIN_CONF
) -> dict[str, float]:
    """Per-frame measurements of one image for its view (NaN where landmarks are missing).

    Args:
        labels: The image's labels.
        cal: Pixel spacing.
        view: ``PLAX`` or an apical view.
        min_conf: Confidence floor for predictions.

    Returns:
        ``{measurement: value}`` in the units of :data:`UNITS`.
    """
    if view == PLAX_VIEW:
        d = plax_dimensions(labels, cal, min_conf=min_conf)
        return {"IVS": d.ivs_mm, "LVID": d.lvid_mm, "LVPW": d.lvpw_mm}
    if view in _APICAL_VIEWS:
        f = lv_apical_frame(labels, cal, min_conf=min_conf)
        return {
            "LV_length": f.length_mm,
            "LV_area": f.area_cm2,
            "LV_volume": f.volume_ml,
            "LV_volume_al": area_length_volume_ml(f.area_cm2, f.length_mm),
            "LV_endo_length": f.endo_length_mm,
        }
    return {}


def _driver(view: str, series: Mapping[str, np.ndarray]) -> str | None:
    """Which series times the cardiac cycle.

    The preferred LV size (LVID for PLAX; volume, area, then length for apical views) unless
    another is measured on clearly more frames (the curve may be unusable where the apex
    is), since gaps blur the timing.
    """
    order = ("LVID",) if view == PLAX_VIEW else ("LV_volume", "LV_area", "LV_length")
    counts = {n: int(np.isfinite(series[n]).sum()) for n in order if n in series}
    best = max(counts.values(), default=0)
    if best < MIN_SERIES_FRAMES:
        return None
    return next(n for n in order if counts.get(n, 0) >= 0.8 * best)


def _beat_values(view: str, at: Callable[[str, int], float], ed: int, es: int) -> dict[str, float]:
    """ED/ES values and derived indices of one beat; ``at(name, index)`` reads a series."""
    if view == PLAX_VIEW:
        ivsd, lvidd, lvpwd = at("IVS", ed), at("LVID", ed), at("LVPW", ed)
        lvids = at("LVID", es)
        return {
            "IVSd": ivsd,
            "LVIDd": lvidd,
            "LVPWd": lvpwd,
            "IVSs": at("IVS", es),
            "LVIDs": lvids,
            "LVPWs": at("LVPW", es),
            "RWT": relative_wall_thickness(lvidd, lvpwd),
            "LV_mass": lv_mass_g(ivsd, lvidd, lvpwd),
            "FS": fractional_shortening_pct(lvidd, lvids),
        }
    edv, esv = at("LV_volume", ed), at("LV_volume", es)
    edv_al, esv_al = at("LV_volume_al", ed), at("LV_volume_al", es)
    return {
        "LV_length_d": at("LV_length", ed),
        "LV_length_s": at("LV_length", es),
        "LVEDA": at("LV_area", ed),
        "LVESA": at("LV_area", es),
        "LVEDV": edv,
        "LVESV": esv,
        "EF": ejection_fraction_pct(edv, esv),
        "LVEDV_al": edv_al,
        "LVESV_al": esv_al,
        "EF_al": ejection_fraction_pct(edv_al, esv_al),
        "GLS": gls_pct(at("LV_endo_length", ed), at("LV_endo_length", es)),
    }


def measure_video(
    video: str,
    frames: Mapping[int, tuple[str, ImageLabels]],
    cal: Calibration,
    view: str,
    *,
    frame_time_s: float | None,
    min_conf: float = DEFAULT_MIN_CONF,
) -> tuple[list[MeasurementRow], VideoSeries]:
    """Measure one video: every frame, then ED/ES per beat and the beat means.

    Args:
        video: Video code.
        frames: Frame number -> (image key, labels).
        cal: Pixel spacing of the video.
        view: ``PLAX`` or an apical view.
        frame_time_s: Seconds between frames; None skips the ED/ES analysis.
        min_conf: Confidence floor for predictions.

    Returns:
        The rows and the series (for plotting).
    """
    rows: list[MeasurementRow] = []
    order = sorted(frames)
    per_frame: dict[str, list[float]] = defaultdict(list)
    for fr in order:
        key, labels = frames[fr]
        for name, value in measure_frame(labels, cal, view, min_conf=min_conf).items():
            per_frame[name].append(value)
            rows.append(
                MeasurementRow(video, key, view, fr, None, RowKind.FRAME, name, value, UNITS[name])
            )
    arrays = {n: np.asarray(v, dtype=np.float64) for n, v in per_frame.items()}
    vs = VideoSeries(video, view, cal, {}, None, None)
    driver = _driver(view, arrays)
    if frame_time_s is None or driver is None:
        return rows, vs
    ph = {n: find_phases(a, order, frame_time_s) for n, a in arrays.items()}
    main = ph[driver]
    vs.values, vs.driver, vs.phases = ph, driver, main

    def at(name: str, index: int) -> float:
        p = ph.get(name)
        return math.nan if p is None else value_at(p, index)

    beat_rows: dict[str, list[float]] = defaultdict(list)
    for b, (ed, es) in enumerate(main.beats):
        for name, value in _beat_values(view, at, ed, es).items():
            phase_frame = int(main.frames[es if name in _ES_NAMES else ed])
            rows.append(
                MeasurementRow(
                    video, "", view, phase_frame, b, RowKind.BEAT, name, value, UNITS[name]
                )
            )
            beat_rows[name].append(value)
    for name, values in beat_rows.items():
        finite = [v for v in values if math.isfinite(v)]
        mean = float(np.mean(finite)) if finite else math.nan
        rows.append(
            MeasurementRow(video, "", view, None, None, RowKind.MEAN, name, mean, UNITS[name])
        )
    return rows, vs


#: Beat measurements taken at end-systole (the others are at end-diastole or per beat).
_ES_NAMES = frozenset({"IVSs", "LVIDs", "LVPWs", "LV_length_s", "LVESA", "LVESV", "LVESV_al"})


def calibration_lookup(
    calibration: Callable[[str], Calibration | None] | Mapping[str, Calibration] | Calibration,
) -> Callable[[str], Calibration | None]:
    """Video code -> calibration (None when unknown) from any form :func:`measure_labels` takes.

    >>> calibration_lookup(Calibration.isotropic(0.3))("01-x").dx_mm_per_px
    0.3
    >>> calibration_lookup({})("01-x") is None
    True
    """
    if isinstance(calibration, Calibration):
        fixed = calibration
        return lambda _video: fixed
    if isinstance(calibration, Mapping):
        return calibration.get
    return calibration


def measure_labels(
    label_file: LabelFile | Mapping[str, ImageLabels],
    calibration: Callable[[str], Calibration | None] | Mapping[str, Calibration] | Calibration,
    *,
    views: Mapping[str, str] | None = None,
    frame_time_s: float | Mapping[str, float] | None = None,
    min_conf: float = DEFAULT_MIN_CONF,
) -> MeasureResult:
    """Measure every video of a label or prediction file.

    Images whose key cannot be parsed, videos without calibration and images whose view
    cannot be told are skipped and reported in :attr:`MeasureResult.problems`.

    Args:
        label_file: Labels (expert or predicted), keyed by image key.
        calibration: One calibration for all, a mapping video code → calibration, or a
            function returning one (None when unknown).
        views: Video code → view (e.g. from ``view_index.csv``); otherwise inferred from
            which labels are drawn.
        frame_time_s: Seconds between frames, for all videos or per video code; None (or a
            video missing from the mapping) gives per-frame values only.
        min_conf: Confidence floor for predictions.

    Returns:
        The rows, series and problems.
    """
    images = label_file.images if isinstance(label_file, LabelFile) else label_file
    cal_of = calibration_lookup(calibration)

    result = MeasureResult()
    by_video: dict[str, dict[int, tuple[str, ImageLabels]]] = defaultdict(dict)
    for name, labels in images.items():
        try:
            key = ImageKey.parse(name)
        except ImageKeyError as exc:
            result.problems.append(f"{name}: skipped: {exc}")
            continue
        by_video[str(key.video)][key.frame] = (name, labels)

    for video in sorted(by_video):
        frames = by_video[video]
        view = (views or {}).get(video)
        if view is None:
            found = {v for _, lab in frames.values() if (v := infer_view(lab)) is not None}
            if len(found) != 1:
                if found:
                    result.problems.append(f"{video}: skipped: mixed views {sorted(found)}")
                else:
                    result.notes.append(f"{video}: not measured: no LV landmarks")
                continue
            view = found.pop()
        if view not in _APICAL_VIEWS and view != PLAX_VIEW:
            result.notes.append(f"{video}: not measured: view {view} has no LV measurements")
            continue
        cal = cal_of(video)
        if cal is None:
            result.problems.append(f"{video}: skipped: no calibration for this video")
            continue
        ft = frame_time_s.get(video) if isinstance(frame_time_s, Mapping) else frame_time_s
        rows, vs = measure_video(video, frames, cal, view, frame_time_s=ft, min_conf=min_conf)
        result.rows.extend(rows)
        result.series[video] = vs
    return result
