"""Quality gate: every measured value gets a status (ok, flagged with reasons, or rejected).

The checks: label confidence against per-label thresholds, the vocabulary's hard
physiological limits, internal consistency (ED→ES interval, LV length vs area, PLAX wall sum
vs the imaged depth), view consistency (per-view evidence from every label's confidence) and
whether the frames look like what the model was trained on (median label peak against the
tune split). The thresholds live in a :class:`QcConfig`, calibrated on the tune split with
:func:`calibrate`: training saves them beside each checkpoint (:func:`qc_beside`), and
``measure --calibrate-qc`` writes them from saved predictions (``--qc``); without either the
documented defaults apply.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from echomark.errors import InputError
from echomark.labels.registry import View, load_registry
from echomark.labels.schema import ImageLabels, LabelState
from echomark.labels.vocabulary import Measurement, spec


class Status(str, Enum):
    """What a value's quality check concluded (ordered: ok < flagged < rejected)."""

    OK = "ok"
    """Passed every check: used in summaries."""

    FLAGGED = "flagged"
    """Reported with its reasons, but not used in summaries."""

    REJECTED = "rejected"
    """Impossible or measured on the wrong input: reported, never used."""


_RANK = {Status.OK: 0, Status.FLAGGED: 1, Status.REJECTED: 2}


@dataclass(frozen=True)
class Verdict:
    """A status and the reasons for it (empty when ok)."""

    status: Status = Status.OK
    reasons: tuple[str, ...] = ()

    def __add__(self, other: Verdict) -> Verdict:
        worst = self.status if _RANK[self.status] >= _RANK[other.status] else other.status
        reasons = self.reasons + tuple(r for r in other.reasons if r not in self.reasons)
        return Verdict(worst, reasons)


OK = Verdict()


def flag(reason: str) -> Verdict:
    """A flagged verdict."""
    return Verdict(Status.FLAGGED, (reason,))


def reject(reason: str) -> Verdict:
    """A rejected verdict."""
    return Verdict(Status.REJECTED, (reason,))


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst status of several verdicts with all their reasons."""
    out = OK
    for v in verdicts:
        out = out + v
    return out


#: Predicted labels below this confidence are flagged unless a calibrated table says otherwise.
DEFAULT_CONF_THRESHOLD = 0.5
#: Predictions a calibrated threshold must rest on (:func:`calibrate`'s ``min_support``).
MIN_SUPPORT = 10
#: Median label peak below which a frame is flagged as unlike the training frames (default).
DEFAULT_INPUT_PEAK_LOW = 0.3
#: ED→ES interval that systole can have at any heart rate (ms).
ED_ES_INTERVAL_MS = (150.0, 600.0)
#: Longest systole as a fraction of the cardiac cycle.
MAX_SYSTOLE_FRACTION = 0.65
#: Plausible LV area / length² of an apical LV cavity (a bullet 0.3–0.8 as wide as long).
AREA_LENGTH_RATIO = (0.15, 0.75)
#: Second-best view evidence at or above this fraction of the best is a conflict.
VIEW_CONFLICT_RATIO = 0.5
#: Least evidence (mean of the top label confidences) for a view to count at all.
MIN_VIEW_EVIDENCE = 0.2


@dataclass(frozen=True)
class QcConfig:
    """Thresholds of the quality gate.

    Attributes:
        conf_thresholds: Label name -> confidence below which a value using it is flagged.
        default_conf: Threshold for labels not in the table.
        input_peak_low: A frame whose median label peak is below this is flagged (the 5th
            percentile of the tune split when calibrated).
        source: Where the thresholds come from (shown in reports).
    """

    conf_thresholds: Mapping[str, float] = field(default_factory=dict)
    default_conf: float = DEFAULT_CONF_THRESHOLD
    input_peak_low: float = DEFAULT_INPUT_PEAK_LOW
    source: str = "echomark defaults"

    def threshold(self, label: str) -> float:
        """The confidence threshold of one label."""
        return float(self.conf_thresholds.get(label, self.default_conf))

    def to_json(self) -> str:
        """JSON text (read back with :func:`read_qc_config`)."""
        return json.dumps(
            {
                "conf_thresholds": dict(sorted(self.conf_thresholds.items())),
                "default_conf": self.default_conf,
                "input_peak_low": self.input_peak_low,
                "source": self.source,
            },
            indent=1,
        )


def qc_beside(checkpoint: str | os.PathLike[str]) -> Path:
    """The thresholds file training saves with a checkpoint: ``best.pt`` -> ``best.qc.json``.

    >>> qc_beside("runs/a/best.pt").as_posix()
    'runs/a/best.qc.json'
    """
    return Path(checkpoint).with_suffix(".qc.json")


def read_qc_config(path: str | os.PathLike[str]) -> QcConfig:
    """Read a QC JSON file written by :meth:`QcConfig.to_json`.

    Raises:
        InputError: Unreadable, not JSON, or a threshold that is not a number in [0, 1].
    """
    src = os.fspath(path)
    try:
        with open(src, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a QC JSON file: {exc}", file=src) from None
    return qc_config_from_dict(data, src)


def qc_config_from_dict(data: object, src: str) -> QcConfig:
    """A :class:`QcConfig` from the parsed JSON of :meth:`QcConfig.to_json`.

    For thresholds embedded in another file (e.g. a model card); ``src`` names it in errors.

    Raises:
        InputError: Not an object, or a threshold that is not a number in [0, 1].
    """
    if not isinstance(data, dict):
        raise InputError("not a QC JSON object", file=src)
    try:
        table = {str(k): float(v) for k, v in dict(data.get("conf_thresholds", {})).items()}
        cfg = QcConfig(
            table,
            float(data.get("default_conf", DEFAULT_CONF_THRESHOLD)),
            float(data.get("input_peak_low", DEFAULT_INPUT_PEAK_LOW)),
            str(data.get("source", src)),
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad threshold: {exc}", file=src) from None
    for name, t in (*table.items(), ("default_conf", cfg.default_conf)):
        if not 0.0 <= t <= 1.0:
            raise InputError(f"threshold {t} outside [0, 1]", file=src, field=name)
    return cfg


def calibrate(
    conf: Mapping[str, Sequence[float]],
    error_px: Mapping[str, Sequence[float]],
    frame_peaks: Sequence[float],
    *,
    tolerance_px: float = 5.0,
    target: float = 0.9,
    source: str = "tune split",
    min_support: int = MIN_SUPPORT,
) -> QcConfig:
    """Per-label confidence thresholds and the input-peak floor from tune-split predictions.

    For each label the confidences are walked down from the highest: the threshold is the
    lowest one reached while at least ``target`` of the predictions at or above it lie within
    ``tolerance_px`` of the truth. A share is judged only once ``min_support`` predictions
    are at or above the confidence: above that a share is too noisy to set or to stop the
    walk (two right at the top once set a threshold that half the apexes under it missed).
    The walk stops at the first judged confidence where the share falls short, so a label
    whose most confident ``min_support`` already miss too often keeps 1.0, as does a label
    with fewer predictions than that. The input floor is the 5th percentile of the frames'
    median label peaks.

    Args:
        conf: Label -> confidence of each prediction with a truth.
        error_px: Label -> the matching errors in pixels.
        frame_peaks: Median label peak of each tune frame.
        tolerance_px: An error within this counts as correct.
        target: Fraction of correct predictions required above the threshold.
        source: Recorded in the config.
        min_support: Predictions that must be at or above a confidence before its share
            counts (at least 1).

    >>> cfg = calibrate({"a": [0.9, 0.8, 0.3]}, {"a": [1.0, 2.0, 30.0]}, [0.5, 0.6], min_support=1)
    >>> cfg.threshold("a"), round(cfg.input_peak_low, 3)
    (0.8, 0.505)
    >>> calibrate({"a": [0.95, 0.9, 0.8]}, {"a": [30.0, 1.0, 2.0]}, [], min_support=1).threshold("a")
    1.0
    >>> two_right = ({"a": [0.95, 0.9, 0.8, 0.7]}, {"a": [1.0, 1.0, 30.0, 30.0]}, [])
    >>> calibrate(*two_right, min_support=1).threshold("a"), calibrate(*two_right).threshold("a")
    (0.9, 1.0)
    """
    if min_support < 1:
        raise ValueError(f"min_support must be >= 1, got {min_support}")
    table: dict[str, float] = {}
    for label, c in conf.items():
        c_arr = np.asarray(c, dtype=np.float64)
        e_arr = np.asarray(error_px[label], dtype=np.float64)
        thr = 1.0
        for t in sorted(set(c_arr.tolist()), reverse=True):
            above = c_arr >= t
            if int(above.sum()) < min_support:
                continue
            if np.mean(e_arr[above] <= tolerance_px) >= target:
                thr = float(t)
            else:
                break
        table[label] = thr
    peaks = np.asarray(frame_peaks, dtype=np.float64)
    low = float(np.percentile(peaks, 5)) if len(peaks) else DEFAULT_INPUT_PEAK_LOW
    return QcConfig(table, DEFAULT_CONF_THRESHOLD, low, source)


def calibrate_from_labels(
    predictions: Mapping[str, ImageLabels],
    truth: Mapping[str, ImageLabels],
    *,
    tolerance_px: float = 5.0,
    target: float = 0.9,
    source: str = "tune split",
) -> QcConfig:
    """:func:`calibrate` from predicted and expert labels of the same images (tune split).

    A point's error is its distance to the expert point; a curve's the symmetric mean
    distance between the two curves; labels drawn on one side only are not used.
    """
    from echomark.evaluate.metrics import compare_curves, point_error

    conf: dict[str, list[float]] = {}
    errors: dict[str, list[float]] = {}
    peaks = []
    for key, pred in predictions.items():
        gold = truth.get(key)
        if gold is None:
            continue
        p = frame_peak(pred)
        if p is not None:
            peaks.append(p)
        for name, lab in pred.items():
            ref = gold.get(name)
            c = label_conf(pred, name)
            if c is None or ref is None or lab.state is not ref.state or not ref.instances:
                continue
            a, b = ref.instances[0], lab.instances[0]
            if lab.state is LabelState.POINT:
                err = point_error(a.xy[0], b.xy[0])
            else:
                err = compare_curves(
                    a.xy, b.xy, truth_straight=a.straight, pred_straight=b.straight
                ).mean_distance
            conf.setdefault(name, []).append(c)
            errors.setdefault(name, []).append(err)
    return calibrate(conf, errors, peaks, tolerance_px=tolerance_px, target=target, source=source)


def label_conf(labels: ImageLabels, name: str) -> float | None:
    """Confidence of a drawn label: its instance's conf, 1.0 for expert labels, None if absent."""
    label = labels.get(name)
    if label is None or label.state not in (LabelState.POINT, LabelState.CURVE):
        return None
    if not label.instances:
        return None
    c = label.instances[0].conf
    return 1.0 if c is None else float(c)


def confidence_verdict(labels: ImageLabels, names: Iterable[str], cfg: QcConfig) -> Verdict:
    """Flag a value whose labels include one below its confidence threshold."""
    low = []
    for n in names:
        c = label_conf(labels, n)
        if c is not None and c < cfg.threshold(n):
            low.append(f"{n} {c:.2f} < {cfg.threshold(n):.2f}")
    return flag("low label confidence: " + ", ".join(low)) if low else OK


def frame_peak(labels: ImageLabels) -> float | None:
    """Median confidence of a frame's predicted labels (None for expert labels)."""
    c = [
        float(inst.conf)
        for lab in labels.values()
        for inst in lab.instances[:1]
        if inst.conf is not None
    ]
    return float(np.median(c)) if c else None


def input_verdict(labels: ImageLabels, cfg: QcConfig) -> Verdict:
    """Flag a frame whose label peaks are unlike the tune split's (out of distribution)."""
    p = frame_peak(labels)
    if p is not None and p < cfg.input_peak_low:
        return flag(
            f"frame unlike the training data: median label peak {p:.2f} < "
            f"{cfg.input_peak_low:.2f} ({cfg.source})"
        )
    return OK


def limits_verdict(name: Measurement, value: float) -> Verdict:
    """Reject a value outside the vocabulary's hard physiological limits.

    >>> limits_verdict(Measurement.LVIDd, 3.0).status.value
    'rejected'
    """
    if not math.isfinite(value):
        return OK
    s = spec(name)
    lo, hi = s.limits
    if not lo <= value <= hi:
        return reject(
            f"{name.value} {value:.3g} {s.unit} outside the hard limits {lo:g}–{hi:g} {s.unit}"
        )
    return OK


def interval_verdict(interval_ms: float, heart_rate_bpm: float) -> Verdict:
    """Flag an ED→ES interval outside 150–600 ms or longer than most of the cycle."""
    if not math.isfinite(interval_ms):
        return OK
    lo, hi = ED_ES_INTERVAL_MS
    if not lo <= interval_ms <= hi:
        return flag(f"ED→ES interval {interval_ms:.0f} ms outside {lo:.0f}–{hi:.0f} ms")
    if (
        math.isfinite(heart_rate_bpm)
        and interval_ms > MAX_SYSTOLE_FRACTION * 60000.0 / heart_rate_bpm
    ):
        return flag(
            f"ED→ES interval {interval_ms:.0f} ms too long for a heart rate of "
            f"{heart_rate_bpm:.0f}/min"
        )
    return OK


def area_length_verdict(area_cm2: float, length_mm: float) -> Verdict:
    """Flag an apical frame whose cavity area does not fit its length (a bad contour).

    >>> area_length_verdict(30.0, 80.0).status.value, area_length_verdict(3.0, 80.0).status.value
    ('ok', 'flagged')
    """
    if not (math.isfinite(area_cm2) and math.isfinite(length_mm)) or length_mm <= 0:
        return OK
    ratio = area_cm2 * 100.0 / length_mm**2
    lo, hi = AREA_LENGTH_RATIO
    if not lo <= ratio <= hi:
        return flag(f"LV area {area_cm2:.1f} cm² does not fit the LV length {length_mm:.0f} mm")
    return OK


def depth_verdict(wall_sum_mm: float, depth_mm: float | None) -> Verdict:
    """Reject PLAX dimensions whose sum (IVS + LVID + LVPW) exceeds the imaged depth."""
    if depth_mm is None or not math.isfinite(wall_sum_mm) or wall_sum_mm <= depth_mm:
        return OK
    return reject(
        f"IVS + LVID + LVPW = {wall_sum_mm:.0f} mm exceeds the imaged depth {depth_mm:.0f} mm"
    )


def inside_verdict(
    labels: ImageLabels, names: Iterable[str], image_hw: tuple[int, int] | None
) -> Verdict:
    """Reject a value whose landmarks or contour nodes lie outside the image.

    >>> from echomark.labels.schema import Label
    >>> inside_verdict({"a": Label.point(5.0, -3.0)}, ["a"], (10, 10)).status.value
    'rejected'
    """
    if image_hw is None:
        return OK
    rows, cols = image_hw
    out = []
    for n in names:
        lab = labels.get(n)
        if lab is None or lab.state not in (LabelState.POINT, LabelState.CURVE):
            continue
        for inst in lab.instances[:1]:
            xy = np.asarray(inst.xy, dtype=np.float64).reshape(-1, 2)
            if (
                np.any(xy[:, 0] < -0.5)
                or np.any(xy[:, 0] > cols - 0.5)
                or np.any(xy[:, 1] < -0.5)
                or np.any(xy[:, 1] > rows - 0.5)
            ):
                out.append(n)
    return reject(f"outside the image: {', '.join(out)}") if out else OK


# ---------------------------------------------------------------- views
def _view_labels() -> dict[str, tuple[str, ...]]:
    """Labels that tell the views apart: PLAX-only, apical (shared), A4C-only."""
    reg = load_registry()
    plax = tuple(n for n, s in reg.items() if s.views == (View.PLAX,))
    a4c = tuple(n for n, s in reg.items() if s.views == (View.A4C,))
    apical = tuple(
        n for n, s in reg.items() if View.A4C in s.views and View.A2C in s.views and n not in a4c
    )
    return {"PLAX": plax, "apical": apical, "A4C": a4c}


#: Labels averaged for a view's evidence: the most confident few.
_TOP_K = 4


def view_scores(frames: Iterable[ImageLabels]) -> dict[str, float]:
    """Evidence for PLAX, apical and A4C-specific structures.

    Per group, the mean over frames of the mean of its ``_TOP_K`` most confident labels
    (absent labels count 0; two for the A4C-only structures).
    """
    groups = _view_labels()
    sums = dict.fromkeys(groups, 0.0)
    n = 0
    for labels in frames:
        n += 1
        for g, names in groups.items():
            c = sorted((label_conf(labels, x) or 0.0 for x in names), reverse=True)[:_TOP_K]
            k = min(_TOP_K, len(names)) if g != "A4C" else 2
            sums[g] += float(np.sum(c[:k])) / max(k, 1)
    return {g: (s / n if n else 0.0) for g, s in sums.items()}


@dataclass(frozen=True)
class ViewDecision:
    """The view a video is measured as, the evidence and its verdict.

    Attributes:
        view: ``PLAX``, ``A4C``, ``A2C``…, or None when it cannot be told.
        scores: Evidence per group (``PLAX``, ``apical``, ``A4C``).
        verdict: Flagged on a conflict; rejected when the given view has no evidence.
        note: Why no view was decided (when ``view`` is None).
    """

    view: str | None
    scores: dict[str, float]
    verdict: Verdict
    note: str = ""


def decide_view(frames: Sequence[ImageLabels], given: str | None = None) -> ViewDecision:
    """Decide (or check) a video's view from every label's confidence.

    Without a given view: PLAX or apical by the larger evidence, A4C when its own structures
    (RV, RA, tricuspid hinges) are seen; an apical video without them is not guessed (A2C and
    A3C share their LV labels). A second view with evidence at least
    :data:`VIEW_CONFLICT_RATIO` of the best is flagged as a conflict. With a given view, it is
    used, and flagged when the labels clearly show another, rejected when they show nothing
    of it.
    """
    s = view_scores(frames)
    plax, apical = s["PLAX"], s["apical"]
    best = "PLAX" if plax >= apical else "apical"
    top, second = max(plax, apical), min(plax, apical)
    verdict = OK
    if second >= MIN_VIEW_EVIDENCE and second >= VIEW_CONFLICT_RATIO * top:
        verdict = flag(f"views conflict: PLAX evidence {plax:.2f}, apical {apical:.2f}")
    if given is not None:
        mine = plax if given == "PLAX" else apical
        other = apical if given == "PLAX" else plax
        if top > 0 and mine < MIN_VIEW_EVIDENCE and other >= MIN_VIEW_EVIDENCE:
            verdict = verdict + reject(
                f"view given as {given} but the labels show "
                f"{'apical' if given == 'PLAX' else 'PLAX'} (evidence {other:.2f} vs {mine:.2f})"
            )
        elif mine < VIEW_CONFLICT_RATIO * other:
            verdict = verdict + flag(
                f"view given as {given} but the labels look more like "
                f"{'apical' if given == 'PLAX' else 'PLAX'} ({other:.2f} vs {mine:.2f})"
            )
        return ViewDecision(given, s, verdict)
    if top < MIN_VIEW_EVIDENCE:
        return ViewDecision(None, s, verdict, "no LV landmarks")
    if best == "PLAX":
        return ViewDecision("PLAX", s, verdict)
    if s["A4C"] >= MIN_VIEW_EVIDENCE:
        return ViewDecision("A4C", s, verdict)
    return ViewDecision(
        None, s, verdict, "apical view without A4C structures: give --views (A2C, A3C...)"
    )
