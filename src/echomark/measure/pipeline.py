"""Measure a whole label or prediction file: per-frame values, beats, biplane, quality status.

A video's frames are grouped by their image keys. Every frame is measured for the video's
view (decided from all labels' confidences, or given); the LV size series gives ED and ES
among the measured frames (no frame time needed; a frame time adds heart rate and timing
checks); each beat's ED/ES values and indices follow, then the mean over the beats that
passed the quality gate. A4C and A2C videos of one study also give biplane volumes. Every
value carries a :class:`~echomark.measure.qc.Status` with reasons; names come from the
vocabulary (:mod:`echomark.labels.vocabulary`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from echomark.cache.keys import ImageKey
from echomark.calibration import Calibration
from echomark.errors import ImageKeyError
from echomark.labels.registry import View
from echomark.labels.schema import ImageLabels, LabelFile
from echomark.labels.vocabulary import VOLUME_VIEWS, Measurement, Phase, apical, at_phase, spec
from echomark.measure._labels import DEFAULT_MIN_CONF
from echomark.measure.a4c import (
    LV_APEX,
    LV_ENDO,
    MV_HINGES,
    area_length_volume_ml,
    disk_diameters,
    ejection_fraction_pct,
    gls_pct,
    lv_apical_frame,
    lv_geometry,
)
from echomark.measure.cavity import (
    CAVITY_SIGNAL_NAME,
    CavitySignal,
    PhaseSource,
    PixelReader,
    cavity_signal,
    iter_pixels,
    outline_polygon,
)
from echomark.measure.plax import (
    IVS_BOTTOM,
    IVS_TOP,
    PW_BOTTOM,
    PW_TOP,
    fractional_shortening_pct,
    lv_mass_g,
    plax_dimensions,
    relative_wall_thickness,
)
from echomark.measure.qc import (
    OK,
    QcConfig,
    Status,
    Verdict,
    ViewDecision,
    area_length_verdict,
    combine,
    confidence_verdict,
    decide_view,
    depth_verdict,
    flag,
    input_verdict,
    inside_verdict,
    interval_verdict,
    limits_verdict,
)
from echomark.measure.series import Beat, CyclePhase, Phases, find_phases, heart_rate_bpm, value_at

M = Measurement
FloatArray = npt.NDArray[np.float64]


class RowKind(str, Enum):
    """What a measurement row describes."""

    FRAME = "frame"
    """One frame's value."""
    BEAT = "beat"
    """A value at ED or ES of one beat, or derived from one beat."""
    MEAN = "mean"
    """The mean over a video's beats that passed the quality gate (or a per-video value)."""
    STUDY = "study"
    """A value from two videos of one study (biplane)."""


PLAX_VIEW = View.PLAX.value

#: Labels each PLAX frame measurement uses (for the confidence check).
_PLAX_USES = {
    M.IVS: (IVS_TOP, IVS_BOTTOM),
    M.LVID: (IVS_BOTTOM, PW_TOP),
    M.LVPW: (PW_TOP, PW_BOTTOM),
}
_APICAL_USES = (LV_ENDO, *LV_APEX, *(n for pair in MV_HINGES for n in pair))


@dataclass(frozen=True)
class MeasurementRow:
    """One measurement in long form.

    Attributes:
        video: Video code ``<class>-<64hex>`` (both codes ``a+b`` for study rows).
        image: Image key for frame rows, ``""`` otherwise.
        view: ``PLAX``, ``A4C``, ``A2C`` or ``biplane``.
        frame: Frame number (for ED/ES values the phase frame), None for means.
        beat: Beat number within the video (0-based), None for frame and mean rows.
        kind: Frame, beat, mean or study.
        measurement: Vocabulary name.
        value: Value in ``unit``.
        unit: The vocabulary's unit.
        status: Quality status.
        reasons: Why it is flagged or rejected.
        interpolated: The value was interpolated between measured frames (or derived from
            such a value).
        study: Study the video belongs to, if known.
    """

    video: str
    image: str
    view: str
    frame: int | None
    beat: int | None
    kind: RowKind
    measurement: Measurement
    value: float
    unit: str
    status: Status = Status.OK
    reasons: tuple[str, ...] = ()
    interpolated: bool = False
    study: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN → None, enums → values)."""
        return {
            "video": self.video,
            "image": self.image,
            "view": self.view,
            "frame": self.frame,
            "beat": self.beat,
            "kind": self.kind.value,
            "measurement": self.measurement.value,
            "value": self.value if math.isfinite(self.value) else None,
            "unit": self.unit,
            "status": self.status.value,
            "reasons": list(self.reasons),
            "interpolated": self.interpolated,
            "study": self.study,
        }


def _row(
    video: str,
    image: str,
    view: str,
    frame: int | None,
    beat: int | None,
    kind: RowKind,
    name: Measurement,
    value: float,
    verdict: Verdict,
    interpolated: bool = False,
    study: str = "",
) -> MeasurementRow:
    if not math.isfinite(value):
        verdict = verdict + Verdict(Status.REJECTED, ("not measurable",))
    verdict = verdict + limits_verdict(name, value)
    return MeasurementRow(
        video, image, view, frame, beat, kind, name, value, spec(name).unit,
        verdict.status, verdict.reasons, interpolated, study,
    )  # fmt: skip


@dataclass
class VideoSeries:
    """One video's per-frame series, phases, frame statuses and geometry (for reports).

    Attributes:
        video: Video code.
        view: The view measured.
        calibration: Spacing used.
        series: Per-frame measurement -> ``{frame: value}``.
        driver: The series ED/ES were found on.
        phases: The phases (None when none could be searched).
        frame_status: Worst status of each frame's values.
        decision: How the view was decided.
        frame_time_s: Seconds between frames, when known.
        disks: Apical frames' disk diameters and length ``{frame: (diameters, L)}`` (mm).
        phase_signal: The cavity brightness per frame, when ED/ES were found on it.
        phase_note: Why the signal asked for was not used (empty when it was).
    """

    video: str
    view: str
    calibration: Calibration
    series: dict[Measurement, dict[int, float]] = field(default_factory=dict)
    driver: Measurement | None = None
    phases: Phases | None = None
    frame_status: dict[int, Status] = field(default_factory=dict)
    decision: ViewDecision | None = None
    frame_time_s: float | None = None
    disks: dict[int, tuple[FloatArray, float]] = field(default_factory=dict)
    phase_signal: dict[int, float] = field(default_factory=dict)
    phase_note: str = ""

    @property
    def phase_source(self) -> str:
        """What ED/ES were searched on: the cavity signal, the driver's name, or ``""``."""
        if self.phase_signal:
            return CAVITY_SIGNAL_NAME
        return self.driver.value if self.driver is not None else ""


@dataclass
class MeasureResult:
    """Everything measured in a file.

    Attributes:
        rows: Long-form measurements.
        series: Per video: its series and phases.
        problems: Items that should have been measured but were skipped (bad key, no
            calibration, conflicting views), one message each.
        notes: Videos with nothing to measure, and why; not errors.
        qc_source: Where the quality-gate thresholds came from.
    """

    rows: list[MeasurementRow] = field(default_factory=list)
    series: dict[str, VideoSeries] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    qc_source: str = ""

    def values(
        self, measurement: Measurement, kind: RowKind | None = None, *, ok_only: bool = False
    ) -> list[float]:
        """All values of one measurement (optionally of one kind, optionally ok only)."""
        return [
            r.value
            for r in self.rows
            if r.measurement is measurement
            and (kind is None or r.kind is kind)
            and (not ok_only or r.status is Status.OK)
        ]

    @property
    def any_ok(self) -> bool:
        """Whether any value passed the quality gate."""
        return any(r.status is Status.OK for r in self.rows)

    @property
    def flagged(self) -> int:
        """Number of values flagged or rejected."""
        return sum(r.status is not Status.OK for r in self.rows)


def measure_frame(
    labels: ImageLabels, cal: Calibration, view: str, *, min_conf: float = DEFAULT_MIN_CONF
) -> dict[Measurement, float]:
    """Per-frame measurements of one image for its view (NaN where landmarks are missing).

    Args:
        labels: The image's labels.
        cal: Pixel spacing.
        view: ``PLAX``, ``A4C`` or ``A2C``.
        min_conf: Confidence floor for predictions.

    Returns:
        ``{measurement: value}`` in the vocabulary's units; empty for other views.
    """
    if view == PLAX_VIEW:
        d = plax_dimensions(labels, cal, min_conf=min_conf)
        return {M.IVS: d.ivs_mm, M.LVID: d.lvid_mm, M.LVPW: d.lvpw_mm}
    if view in {v.value for v in VOLUME_VIEWS}:
        v = View(view)
        f = lv_apical_frame(labels, cal, min_conf=min_conf)
        return {
            apical("LV_length_{v}", v): f.length_mm,
            apical("LV_area_{v}", v): f.area_cm2,
            apical("LV_volume_{v}_disks", v): f.volume_ml,
            apical("LV_volume_{v}_area_length", v): area_length_volume_ml(f.area_cm2, f.length_mm),
            apical("LV_endocardial_length_{v}", v): f.endo_length_mm,
        }
    return {}


def _frame_verdicts(
    labels: ImageLabels,
    values: Mapping[Measurement, float],
    view: str,
    qc: QcConfig,
    depth_mm: float | None,
    image_hw: tuple[int, int] | None = None,
) -> tuple[dict[Measurement, Verdict], Verdict]:
    """Quality verdicts of one frame's values (limits are added per row).

    Returns:
        The verdict of each value, and the frame's shape verdict on its own (apical LV area
        against length: a pinched or runaway outline; OK for PLAX).
    """
    base = input_verdict(labels, qc)
    if view == PLAX_VIEW:
        total = sum(values[m] for m in (M.IVS, M.LVID, M.LVPW))
        depth = depth_verdict(total, depth_mm)
        return {
            m: base
            + depth
            + confidence_verdict(labels, _PLAX_USES[m], qc)
            + inside_verdict(labels, _PLAX_USES[m], image_hw)
            for m in values
        }, OK
    v = View(view)
    conf = confidence_verdict(labels, _APICAL_USES, qc) + inside_verdict(
        labels, _APICAL_USES, image_hw
    )
    shape = area_length_verdict(
        values[apical("LV_area_{v}", v)], values[apical("LV_length_{v}", v)]
    )
    return {m: base + conf + shape for m in values}, shape


def _driver(view: str, series: Mapping[Measurement, Mapping[int, float]]) -> Measurement | None:
    """Which series times the cardiac cycle.

    LVID (PLAX); volume, area or length (apical): the preferred one unless another is
    measured on clearly more frames.
    """
    if view == PLAX_VIEW:
        order: tuple[Measurement, ...] = (M.LVID,)
    else:
        v = View(view)
        order = tuple(apical(k, v) for k in ("LV_volume_{v}_disks", "LV_area_{v}", "LV_length_{v}"))
    counts = {n: sum(math.isfinite(x) for x in series[n].values()) for n in order if n in series}
    best = max(counts.values(), default=0)
    if best == 0:
        return None
    return next(n for n in order if counts.get(n, 0) >= 0.8 * best)


def _beat_values(
    view: str, at: Callable[[Measurement, int], tuple[float, bool, Verdict]], beat: Beat
) -> dict[Measurement, tuple[float, bool, Verdict, int | None]]:
    """ED/ES values and derived indices of one beat: ``(value, interpolated, verdict, frame)``."""
    out: dict[Measurement, tuple[float, bool, Verdict, int | None]] = {}

    def phase_value(series: Measurement, phase: Phase) -> tuple[float, bool, Verdict]:
        frame = beat.ed if phase is Phase.ED else beat.es
        value, interp, verdict = at(series, frame)
        out[at_phase(series, phase)] = (value, interp, verdict, frame)
        return value, interp, verdict

    def derived(
        name: Measurement, value: float, *parts: tuple[float, bool, Verdict], frame: int | None
    ) -> None:
        out[name] = (
            value,
            any(p[1] for p in parts),
            combine(p[2] for p in parts),
            frame,
        )

    if view == PLAX_VIEW:
        ivsd = phase_value(M.IVS, Phase.ED)
        lvidd = phase_value(M.LVID, Phase.ED)
        lvpwd = phase_value(M.LVPW, Phase.ED)
        phase_value(M.IVS, Phase.ES)
        lvids = phase_value(M.LVID, Phase.ES)
        phase_value(M.LVPW, Phase.ES)
        derived(M.FS, fractional_shortening_pct(lvidd[0], lvids[0]), lvidd, lvids, frame=None)
        derived(M.RWT, relative_wall_thickness(lvidd[0], lvpwd[0]), lvidd, lvpwd, frame=beat.ed)
        derived(
            M.LV_mass_linear,
            lv_mass_g(ivsd[0], lvidd[0], lvpwd[0]),
            ivsd, lvidd, lvpwd,
            frame=beat.ed,
        )  # fmt: skip
        return out
    v = View(view)
    for kind in ("LV_length_{v}", "LV_area_{v}"):
        phase_value(apical(kind, v), Phase.ED)
        phase_value(apical(kind, v), Phase.ES)
    for method in ("disks", "area_length"):
        series = apical(f"LV_volume_{{v}}_{method}", v)
        d = phase_value(series, Phase.ED)
        s = phase_value(series, Phase.ES)
        derived(
            apical(f"EF_{{v}}_{method}", v), ejection_fraction_pct(d[0], s[0]), d, s, frame=None
        )
    endo = apical("LV_endocardial_length_{v}", v)
    ld, ls = at(endo, beat.ed), at(endo, beat.es)
    derived(apical("GLS_{v}_endocardial_contour", v), gls_pct(ld[0], ls[0]), ld, ls, frame=None)
    return out


def measure_video(
    video: str,
    frames: Mapping[int, tuple[str, ImageLabels]],
    cal: Calibration,
    view: str,
    *,
    frame_time_s: float | None = None,
    phases: Mapping[int, CyclePhase] | None = None,
    min_conf: float = DEFAULT_MIN_CONF,
    qc: QcConfig | None = None,
    decision: ViewDecision | None = None,
    depth_mm: float | None = None,
    image_hw: tuple[int, int] | None = None,
    study: str = "",
    pixels: PixelReader | None = None,
    phases_from: PhaseSource = PhaseSource.AUTO,
) -> tuple[list[MeasurementRow], VideoSeries]:
    """Measure one video: every frame, then ED/ES per beat and the mean of the ok beats.

    Args:
        video: Video code.
        frames: Frame number -> (image key, labels).
        cal: Pixel spacing of the video.
        view: ``PLAX``, ``A4C`` or ``A2C``.
        frame_time_s: Seconds between frames, for heart rate and the ED→ES timing check;
            ED/ES are found without it.
        phases: Known ED/ES frames (used instead of searching).
        min_conf: Confidence floor for predictions (below it a label counts as absent).
        qc: Quality-gate thresholds (defaults when None).
        decision: How the view was decided (its verdict applies to every value).
        depth_mm: Imaged depth, for the PLAX wall-sum check.
        image_hw: Frame size ``(rows, cols)``: landmarks outside it reject their values.
        study: Study the video belongs to (recorded on its rows).
        pixels: Image key -> the frame's pixels (None when not at hand), for the cavity
            brightness signal.
        phases_from: The signal ED/ES are searched on (see :func:`_cavity_phase_signal`).

    Returns:
        The rows and the series.
    """
    cfg = qc or QcConfig()
    view_verdict = decision.verdict if decision is not None else OK
    rows: list[MeasurementRow] = []
    series: dict[Measurement, dict[int, float]] = defaultdict(dict)
    verdicts: dict[tuple[Measurement, int], Verdict] = {}
    #: frames that cannot be a cycle extreme, per series: impossible values, bad contours
    no_phase: dict[Measurement, set[int]] = defaultdict(set)
    vs = VideoSeries(video, view, cal, decision=decision, frame_time_s=frame_time_s)
    for fr in sorted(frames):
        key, labels = frames[fr]
        values = measure_frame(labels, cal, view, min_conf=min_conf)
        checks, shape = _frame_verdicts(labels, values, view, cfg, depth_mm, image_hw)
        bad_contour = shape.status is not Status.OK
        measured: list[Verdict] = []
        for name, value in values.items():
            row = _row(video, key, view, fr, None, RowKind.FRAME, name, value,
                       view_verdict + checks[name], study=study)  # fmt: skip
            rows.append(row)
            series[name][fr] = value
            verdicts[(name, fr)] = Verdict(row.status, row.reasons)
            if (
                bad_contour
                or (checks[name] + limits_verdict(name, value)).status is Status.REJECTED
            ):
                no_phase[name].add(fr)
            if math.isfinite(value):
                measured.append(Verdict(row.status))
        # a frame with nothing measurable is not "ok": the overlay would frame it in green
        vs.frame_status[fr] = combine(measured).status if measured else Status.REJECTED
        if view != PLAX_VIEW:
            g = lv_geometry(labels, cal, min_conf=min_conf)
            if g.contour_mm is not None and g.base_mm is not None and g.apex_mm is not None:
                vs.disks[fr] = disk_diameters(g.contour_mm, g.base_mm, g.apex_mm)
    vs.series = dict(series)
    driver = _driver(view, vs.series)
    vs.driver = driver
    if driver is None:
        return rows, vs
    # a frame whose own value is impossible (a collapsed outline's near-zero volume), or
    # whose outline's area does not fit its length, is no cycle extreme: as the series'
    # minimum it would be taken for end-systole
    candidates = {f: v for f, v in vs.series[driver].items() if f not in no_phase[driver]}
    if sum(math.isfinite(v) for v in candidates.values()) < 3:
        # (nearly) every frame impossible: search them all, so the beats and the heart rate
        # are still reported, rejected with their reasons
        candidates = vs.series[driver]
    cavity = None
    if not phases and view != PLAX_VIEW:
        sized = [f for f, v in vs.series[driver].items() if math.isfinite(v)]
        ok_frames = sum(verdicts[(driver, f)].status is Status.OK for f in sized)
        cavity, vs.phase_note = _cavity_phase_signal(
            frames, pixels, phases_from, ok_frames, len(sized), min_conf
        )
    if cavity is not None:
        vs.phase_signal = cavity.values
        # blood is dark: the fullest cavity (end-diastole) is the darkest
        ph = find_phases(cavity.values, frame_time_s=frame_time_s, diastole_is_max=False)
    else:
        ph = find_phases(candidates, frame_time_s=frame_time_s, given=phases)
    vs.phases = ph

    def at(name: Measurement, frame: int) -> tuple[float, bool, Verdict]:
        s = vs.series.get(name, {})
        value, interp = value_at(s, frame)
        if not interp:
            return value, False, verdicts.get((name, frame), OK)
        around = [verdicts.get((name, f), OK) for f in s if abs(f - frame) <= 3]
        return value, True, combine(around)

    hr = heart_rate_bpm(ph.ed, frame_time_s, ph.es) if frame_time_s else math.nan
    beat_values: dict[Measurement, list[MeasurementRow]] = defaultdict(list)
    for b, beat in enumerate(ph.beats):
        timing = OK
        interval = math.nan
        if frame_time_s and not beat.es_first:
            interval = (beat.es - beat.ed) * frame_time_s * 1000.0
            timing = interval_verdict(interval, hr)
        for name, (value, interp, verdict, frame) in _beat_values(view, at, beat).items():
            row = _row(video, "", view, frame, b, RowKind.BEAT, name, value,
                       view_verdict + verdict + timing, interp, study)  # fmt: skip
            rows.append(row)
            beat_values[name].append(row)
        if math.isfinite(interval):
            # an interval is only as good as the ED and ES frames it was timed from
            ends = combine(verdicts.get((driver, f), OK) for f in (beat.ed, beat.es))
            row = _row(video, "", view, beat.ed, b, RowKind.BEAT, M.ED_to_ES_interval,
                       interval, view_verdict + timing + ends, study=study)  # fmt: skip
            rows.append(row)
            beat_values[M.ED_to_ES_interval].append(row)
    for name, brs in beat_values.items():
        rows.append(_mean_row(video, view, name, brs, study))
    if math.isfinite(hr):
        # the rate is only as good as the ED/ES frames it was timed from
        timed_from = combine(verdicts.get((driver, f), OK) for f in (*ph.ed, *ph.es))
        rows.append(_row(video, "", view, None, None, RowKind.MEAN, M.heart_rate, hr,
                         view_verdict + timed_from, study=study))  # fmt: skip
    return rows, vs


def _cavity_phase_signal(
    frames: Mapping[int, tuple[str, ImageLabels]],
    pixels: PixelReader | None,
    phases_from: PhaseSource,
    ok_frames: int,
    measured_frames: int,
    min_conf: float,
) -> tuple[CavitySignal | None, str]:
    """The cavity brightness to search ED/ES on, or None for the size series, and a note.

    ``size`` never uses it. ``cavity`` uses it whenever it can be made. ``auto`` uses it
    when fewer than half of the size series' frames passed the quality gate: ED/ES found on
    untrusted outlines land on their errors, and the cavity region needs only most of them
    to be roughly right. The note says why a signal asked for could not be used.
    """
    if phases_from is PhaseSource.SIZE:
        return None, ""
    if phases_from is PhaseSource.AUTO and 2 * ok_frames >= measured_frames:
        return None, ""
    if pixels is None:
        if phases_from is PhaseSource.AUTO:
            return None, ""
        return None, f"{CAVITY_SIGNAL_NAME} not used: no frame pixels (give the images)"
    outlines = {}
    for fr, (_, labels) in frames.items():
        poly = outline_polygon(labels, min_conf)
        if poly is not None:
            outlines[fr] = poly
    got = cavity_signal(outlines, iter_pixels({f: k for f, (k, _) in frames.items()}, pixels))
    if isinstance(got, str):
        return None, f"{CAVITY_SIGNAL_NAME} not used: {got}"
    return got, ""


def _mean_row(
    video: str, view: str, name: Measurement, beats: list[MeasurementRow], study: str
) -> MeasurementRow:
    """The mean over ok beats; with none ok, NaN carrying the beats' reasons."""
    ok = [r.value for r in beats if r.status is Status.OK and math.isfinite(r.value)]
    if ok:
        return _row(video, "", view, None, None, RowKind.MEAN, name, float(np.mean(ok)), OK,
                    any(r.interpolated for r in beats if r.status is Status.OK), study)  # fmt: skip
    why = combine(Verdict(r.status, r.reasons) for r in beats)
    return MeasurementRow(
        video, "", view, None, None, RowKind.MEAN, name, math.nan, spec(name).unit,
        Status.REJECTED if why.status is Status.OK else why.status,
        ("no beat passed the quality gate", *why.reasons), False, study,
    )  # fmt: skip


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


def _per_video(value: Any, video: str) -> Any:
    return value.get(video) if isinstance(value, Mapping) else value


def measure_labels(
    label_file: LabelFile | Mapping[str, ImageLabels],
    calibration: Callable[[str], Calibration | None] | Mapping[str, Calibration] | Calibration,
    *,
    views: Mapping[str, str] | None = None,
    frame_time_s: float | Mapping[str, float] | None = None,
    phases: Mapping[str, Mapping[int, CyclePhase]] | None = None,
    studies: Mapping[str, str] | None = None,
    depth_mm: Mapping[str, float] | None = None,
    image_hw: Mapping[str, tuple[int, int]] | None = None,
    min_conf: float = DEFAULT_MIN_CONF,
    qc: QcConfig | None = None,
    progress: Callable[[str], None] | None = None,
    pixels: PixelReader | None = None,
    phases_from: PhaseSource = PhaseSource.AUTO,
) -> MeasureResult:
    """Measure every video of a label or prediction file.

    Images whose key cannot be parsed, videos without calibration and videos whose view
    cannot be told are skipped and reported in :attr:`MeasureResult.problems` or ``notes``.

    Args:
        label_file: Labels (expert or predicted), keyed by image key.
        calibration: One calibration for all, a mapping video code → calibration, or a
            function returning one (None when unknown).
        views: Video code → view (e.g. from ``view_index.csv``); otherwise decided from the
            labels' confidences (:func:`~echomark.measure.qc.decide_view`).
        frame_time_s: Seconds between frames, for all videos or per video code; adds heart
            rate and the ED→ES timing check (ED/ES are found without it).
        phases: Video code → known ``{frame: ED|ES}``.
        studies: Video code → study; an A4C and an A2C video of one study give biplane
            volumes.
        depth_mm: Video code → imaged depth (mm), for the PLAX wall-sum check.
        image_hw: Video code → frame size (rows, cols), for the landmarks-inside check.
        min_conf: Confidence floor for predictions.
        qc: Quality-gate thresholds.
        progress: Called with each video code before it is measured.
        pixels: Image key -> that frame's pixels (None when not at hand): lets ED/ES be found
            on the LV cavity's brightness (:mod:`echomark.measure.cavity`).
        phases_from: ``size`` (the LV size series), ``cavity`` (the cavity brightness
            whenever it can be made) or ``auto`` (the cavity brightness when fewer than half
            of the size series' frames pass the quality gate).

    Returns:
        The rows, series, problems and notes.
    """
    images = label_file.images if isinstance(label_file, LabelFile) else label_file
    cal_of = calibration_lookup(calibration)

    result = MeasureResult(qc_source=(qc or QcConfig()).source)
    by_video: dict[str, dict[int, tuple[str, ImageLabels]]] = defaultdict(dict)
    for name, labels in images.items():
        try:
            key = ImageKey.parse(name)
        except ImageKeyError as exc:
            result.problems.append(f"{name}: skipped: {exc}")
            continue
        by_video[str(key.video)][key.frame] = (name, labels)

    for video in sorted(by_video):
        if progress is not None:
            progress(video)
        frames = by_video[video]
        given = (views or {}).get(video)
        decision = decide_view([lab for _, lab in frames.values()], given)
        if decision.view is None:
            result.notes.append(f"{video}: not measured: {decision.note}")
            continue
        view = decision.view
        if view not in {v.value for v in VOLUME_VIEWS} and view != PLAX_VIEW:
            result.notes.append(f"{video}: not measured: view {view} has no LV measurements")
            continue
        cal = cal_of(video)
        if cal is None:
            result.problems.append(f"{video}: skipped: no calibration for this video")
            continue
        rows, vs = measure_video(
            video,
            frames,
            cal,
            view,
            frame_time_s=_per_video(frame_time_s, video),
            phases=(phases or {}).get(video),
            min_conf=min_conf,
            qc=qc,
            decision=decision,
            depth_mm=(depth_mm or {}).get(video),
            image_hw=(image_hw or {}).get(video),
            study=(studies or {}).get(video, ""),
            pixels=pixels,
            phases_from=phases_from,
        )
        result.rows.extend(rows)
        result.series[video] = vs
    if studies:
        result.rows.extend(biplane_rows(result, studies))
    return result


def biplane_volume_ml(
    d_a4c: npt.ArrayLike, length_a4c_mm: float, d_a2c: npt.ArrayLike, length_a2c_mm: float
) -> float:
    """Biplane method of disks: ``π/4 · Σ aᵢ·bᵢ · L/n`` with L the longer of the two lengths.

    >>> round(biplane_volume_ml([40.0] * 20, 80.0, [40.0] * 20, 78.0), 3)
    100.531
    """
    a = np.asarray(d_a4c, dtype=np.float64)
    b = np.asarray(d_a2c, dtype=np.float64)
    length = max(length_a4c_mm, length_a2c_mm)
    if len(a) != len(b) or not length > 0:
        return math.nan
    return float(np.pi / 4.0 * np.sum(a * b) * length / len(a) / 1000.0)


#: The two lengths of a biplane pair may differ by at most this fraction (ASE: ~10 %).
MAX_BIPLANE_LENGTH_DIFF = 0.1


def biplane_rows(result: MeasureResult, studies: Mapping[str, str]) -> list[MeasurementRow]:
    """Biplane EDV, ESV and EF of every study with an A4C and an A2C video.

    Each view contributes the disks of its first beat whose ED and ES volumes passed the
    quality gate (else its first beat, with that beat's reasons). The A4C and A2C lengths
    differing by more than :data:`MAX_BIPLANE_LENGTH_DIFF` flags the values (foreshortening).
    """
    by_study: dict[str, dict[str, str]] = defaultdict(dict)
    for video, vs in result.series.items():
        study = studies.get(video)
        if study and vs.view in (View.A4C.value, View.A2C.value):
            by_study[study].setdefault(vs.view, video)
    rows: list[MeasurementRow] = []
    for study, pair in sorted(by_study.items()):
        if set(pair) != {View.A4C.value, View.A2C.value}:
            continue
        picked = {view: _biplane_beat(result, video) for view, video in pair.items()}
        if any(p is None for p in picked.values()):
            continue
        a4c, a2c = picked[View.A4C.value], picked[View.A2C.value]
        assert a4c is not None and a2c is not None
        code = f"{pair[View.A4C.value]}+{pair[View.A2C.value]}"
        ed_a, es_a, verdict_a = a4c
        ed_b, es_b, verdict_b = a2c
        vols = {}
        for name, (da, la), (db, lb) in (
            (M.LVEDV_biplane_disks, ed_a, ed_b),
            (M.LVESV_biplane_disks, es_a, es_b),
        ):
            v = verdict_a + verdict_b
            if abs(la - lb) > MAX_BIPLANE_LENGTH_DIFF * max(la, lb):
                v = v + flag(f"A4C and A2C lengths differ: {la:.0f} vs {lb:.0f} mm")
            vols[name] = (biplane_volume_ml(da, la, db, lb), v)
            rows.append(_row(code, "", "biplane", None, None, RowKind.STUDY, name,
                             vols[name][0], v, study=study))  # fmt: skip
        (edv, v1), (esv, v2) = vols[M.LVEDV_biplane_disks], vols[M.LVESV_biplane_disks]
        rows.append(_row(code, "", "biplane", None, None, RowKind.STUDY, M.EF_biplane,
                         ejection_fraction_pct(edv, esv), v1 + v2, study=study))  # fmt: skip
    return rows


def _biplane_beat(
    result: MeasureResult, video: str
) -> tuple[tuple[FloatArray, float], tuple[FloatArray, float], Verdict] | None:
    """ED and ES disks of a video's first good beat, with that beat's verdict."""
    vs = result.series[video]
    if vs.phases is None or not vs.phases.beats:
        return None
    v = View(vs.view)
    names = (apical("LVEDV_{v}_disks", v), apical("LVESV_{v}_disks", v))
    beat_rows = [r for r in result.rows if r.video == video and r.kind is RowKind.BEAT]
    candidates = []
    for b, beat in enumerate(vs.phases.beats):
        if beat.ed not in vs.disks or beat.es not in vs.disks:
            continue
        rs = [r for r in beat_rows if r.beat == b and r.measurement in names]
        verdict = combine(Verdict(r.status, r.reasons) for r in rs)
        candidates.append((verdict.status is not Status.OK, b, beat, verdict))
    if not candidates:
        return None
    _, _, beat, verdict = min(candidates, key=lambda c: (c[0], c[1]))
    return vs.disks[beat.ed], vs.disks[beat.es], verdict
