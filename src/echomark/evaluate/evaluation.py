"""Compare predicted labels with ground truth image by image and summarise per label and view.

Pure functions over label objects (no file I/O, no torch): :func:`compare_labels` gives one
:class:`LabelRecord` per (image, label) and :func:`summarise` turns records into the
``metrics.json`` structure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from echomark.cache.keys import ImageKey
from echomark.errors import ImageKeyError
from echomark.evaluate.metrics import (
    PresenceCounts,
    compare_curves_px_mm,
    is_present,
    nearest_point_errors,
    predicted_present,
    presence_counts,
    summarise_errors,
)
from echomark.labels.schema import ImageLabels, Label, LabelState

#: Label kinds as evaluated (matches the registry's point / curve kinds).
POINT = "point"
CURVE = "curve"


@dataclass(frozen=True)
class LabelRecord:
    """Outcome for one label in one image.

    Distances are None when either side has no drawing (absent, blurred, or the label is
    not of that kind); mm values are None when the image has no calibration.

    Attributes:
        key: Image key.
        label: Label name.
        kind: ``"point"`` or ``"curve"``.
        truth_present: True (point/curve), False (off) or None (blurred / missing).
        pred_present: Whether the prediction draws the structure.
        conf: Prediction confidence of the first instance, when given.
        error_px: Point error, or the curve's symmetric mean distance, in px.
        error_mm: The same in mm.
        hausdorff_px: Curve Hausdorff distance in px.
        hausdorff_mm: The same in mm.
        length_error_px: Curve length error (predicted minus true) in px.
        length_error_mm: The same in mm.
    """

    key: str
    label: str
    kind: str
    truth_present: bool | None
    pred_present: bool
    conf: float | None = None
    error_px: float | None = None
    error_mm: float | None = None
    hausdorff_px: float | None = None
    hausdorff_mm: float | None = None
    length_error_px: float | None = None
    length_error_mm: float | None = None


def label_kind(truth: Label | None, pred: Label | None, default: str = POINT) -> str:
    """Infer a label's kind from whichever side draws it (truth first).

    >>> label_kind(Label.off(), Label.curve([[0, 0], [1, 0]]))
    'curve'
    """
    for lab in (truth, pred):
        if lab is not None and lab.state is LabelState.CURVE:
            return CURVE
        if lab is not None and lab.state is LabelState.POINT:
            return POINT
    return default


def compare_label(
    key: str,
    name: str,
    truth: Label | None,
    pred: Label | None,
    *,
    kind: str | None = None,
    mm_per_px: tuple[float, float] | None = None,
) -> LabelRecord:
    """Compare one predicted label with its ground truth.

    Args:
        key: Image key (for the record).
        name: Label name.
        truth: Ground-truth label, or None when missing (treated as blurred).
        pred: Predicted label, or None when missing (treated as absent).
        kind: ``"point"`` or ``"curve"``; inferred from the labels when None.
        mm_per_px: Optional ``(dx, dy)`` spacing in mm per pixel.

    Returns:
        The record; distances only when both sides draw the structure.

    >>> r = compare_label("k", "p", Label.point(0, 0), Label.point(3, 4, conf=0.9))
    >>> r.error_px, r.conf, r.truth_present
    (5.0, 0.9, True)
    """
    kind = kind or label_kind(truth, pred)
    t_present = is_present(truth)
    p_present = predicted_present(pred)
    conf = pred.instances[0].conf if pred is not None and pred.instances else None
    rec = LabelRecord(key, name, kind, t_present, p_present, conf)
    if not (t_present and p_present) or truth is None or pred is None:
        return rec
    if kind == POINT:
        t_xy = np.concatenate([inst.xy[:1] for inst in truth.instances])
        p_xy = np.concatenate([inst.xy[:1] for inst in pred.instances])
        err = float(nearest_point_errors(t_xy, p_xy).mean())
        err_mm = None
        if mm_per_px is not None:
            err_mm = float(nearest_point_errors(t_xy, p_xy, mm_per_px).mean())
        return LabelRecord(key, name, kind, t_present, p_present, conf, err, err_mm)
    t_inst, p_inst = truth.instances[0], pred.instances[0]
    if len(t_inst.xy) < 2 or len(p_inst.xy) < 2:
        return rec
    c_px, c_mm = compare_curves_px_mm(
        t_inst.xy,
        p_inst.xy,
        truth_straight=t_inst.straight,
        pred_straight=p_inst.straight,
        mm_per_px=mm_per_px,
    )
    return LabelRecord(
        key,
        name,
        kind,
        t_present,
        p_present,
        conf,
        error_px=c_px.mean_distance,
        error_mm=None if c_mm is None else c_mm.mean_distance,
        hausdorff_px=c_px.hausdorff,
        hausdorff_mm=None if c_mm is None else c_mm.hausdorff,
        length_error_px=c_px.length_error,
        length_error_mm=None if c_mm is None else c_mm.length_error,
    )


def video_of(key: str) -> str | None:
    """The ``<class>-<64hex>`` video code of an image key, or None if it is not one.

    >>> video_of("01-" + "ab" * 32 + "-0003.png")[:6], video_of("frame.png")
    ('01-aba', None)
    """
    try:
        return str(ImageKey.parse(key).video)
    except ImageKeyError:
        return None


def compare_labels(
    truth: Mapping[str, ImageLabels],
    pred: Mapping[str, ImageLabels],
    *,
    names: Sequence[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    spacing_mm: Mapping[str, tuple[float, float]] | None = None,
) -> tuple[list[LabelRecord], list[str]]:
    """Compare every labelled image that has a prediction.

    Args:
        truth: Image key -> true labels.
        pred: Image key -> predicted labels.
        names: Labels to evaluate; default: every label name that occurs in both.
        kinds: Optional label name -> ``"point"`` / ``"curve"`` (e.g. from the registry).
        spacing_mm: Optional video code ``<class>-<64hex>`` -> ``(dx, dy)`` mm per pixel.

    Returns:
        The records (image order, then label order) and the truth keys with no prediction
        (reported by the caller, not silently dropped).
    """
    if names is None:
        t_names = {n for labs in truth.values() for n in labs}
        p_names = {n for labs in pred.values() for n in labs}
        names = sorted(t_names & p_names)
    kinds = kinds or {}
    spacing_mm = spacing_mm or {}
    records: list[LabelRecord] = []
    missing: list[str] = []
    for key in truth:
        if key not in pred:
            missing.append(key)
            continue
        video = video_of(key)
        mm = spacing_mm.get(video) if video is not None else None
        t_labs, p_labs = truth[key], pred[key]
        for name in names:
            records.append(
                compare_label(
                    key,
                    name,
                    t_labs.get(name),
                    p_labs.get(name),
                    kind=kinds.get(name),
                    mm_per_px=mm,
                )
            )
    return records, missing


def _values(records: Iterable[LabelRecord], field: str) -> list[float]:
    out = []
    for r in records:
        v = getattr(r, field)
        if v is not None and math.isfinite(v):
            out.append(float(v))
    return out


def _presence(records: Iterable[LabelRecord]) -> PresenceCounts:
    return presence_counts((r.truth_present, r.pred_present) for r in records)


def summarise_group(records: Sequence[LabelRecord]) -> dict[str, Any]:
    """Metrics of one group of records (one label, one view, or everything).

    Returns:
        ``presence`` counts and rates, ``point`` error summaries (px, and mm when any image
        was calibrated), ``curve`` mean-distance, Hausdorff and length-error summaries.
    """
    out: dict[str, Any] = {"presence": _presence(records).as_dict()}
    points = [r for r in records if r.kind == POINT]
    curves = [r for r in records if r.kind == CURVE]
    if points:
        point: dict[str, Any] = {"px": summarise_errors(_values(points, "error_px")).as_dict()}
        mm = _values(points, "error_mm")
        if mm:
            point["mm"] = summarise_errors(mm).as_dict("mm")
        out["point"] = point
    if curves:
        curve: dict[str, Any] = {}
        for unit in ("px", "mm"):
            mean = _values(curves, f"error_{unit}")
            if not mean:
                continue
            length = np.asarray(_values(curves, f"length_error_{unit}"))
            curve[unit] = {
                "mean_distance": summarise_errors(mean).as_dict(unit),
                "hausdorff": summarise_errors(_values(curves, f"hausdorff_{unit}")).as_dict(unit),
                "length_error": {
                    "n": int(length.size),
                    f"mean_{unit}": float(length.mean()),
                    f"median_abs_{unit}": float(np.median(np.abs(length))),
                    f"mean_abs_{unit}": float(np.abs(length).mean()),
                },
            }
        out["curve"] = curve
    return out


def summarise(
    records: Sequence[LabelRecord],
    *,
    views: Mapping[str, Sequence[str]] | None = None,
    missing: Sequence[str] = (),
    worst: int = 10,
) -> dict[str, Any]:
    """The ``metrics.json`` structure.

    Args:
        records: Output of :func:`compare_labels`.
        views: Optional label name -> views it belongs to (from the registry); a label in
            several views counts in each.
        missing: Truth keys that had no prediction.
        worst: How many worst point and curve cases to list.

    Returns:
        ``summary`` (``median_point_error_px``, ``median_curve_distance_px``,
        ``presence_accuracy`` and more), ``per_label``, ``per_view``, ``worst`` and
        ``missing_predictions``.

    >>> from echomark.labels.schema import Label
    >>> recs = [compare_label("a", "p", Label.point(0, 0), Label.point(0, 2)),
    ...         compare_label("a", "q", Label.off(), Label.off())]
    >>> s = summarise(recs)["summary"]
    >>> s["median_point_error_px"], s["presence_accuracy"]
    (2.0, 1.0)
    """
    point_recs = [r for r in records if r.kind == POINT]
    curve_recs = [r for r in records if r.kind == CURVE]
    pts = summarise_errors(_values(point_recs, "error_px"))
    pts_mm = summarise_errors(_values(point_recs, "error_mm"))
    crv = summarise_errors(_values(curve_recs, "error_px"))
    crv_mm = summarise_errors(_values(curve_recs, "error_mm"))
    haus = summarise_errors(_values(curve_recs, "hausdorff_px"))
    presence = _presence(records)
    summary: dict[str, Any] = {
        "n_images": len({r.key for r in records}),
        "n_labels_compared": len(records),
        "n_missing_predictions": len(missing),
        "median_point_error_px": pts.median,
        "mean_point_error_px": pts.mean,
        "p90_point_error_px": pts.p90,
        **{f"pck_{t:g}px": v for t, v in pts.pck.items()},
        "n_points": pts.n,
        "median_point_error_mm": pts_mm.median,
        "median_curve_distance_px": crv.median,
        "median_curve_hausdorff_px": haus.median,
        "median_curve_distance_mm": crv_mm.median,
        "n_curves": crv.n,
        "presence_accuracy": presence.accuracy,
        "presence_sensitivity": presence.sensitivity,
        "presence_specificity": presence.specificity,
    }
    by_label: dict[str, list[LabelRecord]] = {}
    for r in records:
        by_label.setdefault(r.label, []).append(r)
    per_label = {
        name: {"kind": recs[0].kind, **summarise_group(recs)} for name, recs in by_label.items()
    }
    per_view: dict[str, Any] = {}
    if views:
        by_view: dict[str, list[LabelRecord]] = {}
        for name, recs in by_label.items():
            for view in views.get(name, ()):
                by_view.setdefault(str(view), []).extend(recs)
        per_view = {v: summarise_group(recs) for v, recs in sorted(by_view.items())}
    return {
        "summary": summary,
        "per_label": per_label,
        "per_view": per_view,
        "worst": worst_cases(records, worst),
        "missing_predictions": list(missing),
    }


def worst_cases(records: Sequence[LabelRecord], n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` largest point errors and ``n`` largest curve distances, plus presence misses.

    Presence errors (present in truth, absent in prediction, or the reverse) come after
    the distance cases, as they have no distance.
    """
    drawn = [r for r in records if r.error_px is not None and math.isfinite(r.error_px)]
    out: list[LabelRecord] = []
    for kind in (POINT, CURVE):
        ranked = sorted(
            (r for r in drawn if r.kind == kind), key=lambda r: r.error_px or 0.0, reverse=True
        )
        out.extend(ranked[:n])
    misses = [
        r for r in records if r.truth_present is not None and r.truth_present != r.pred_present
    ]
    out.extend(misses[:n])
    return [asdict(r) for r in out]


def json_safe(obj: Any) -> Any:
    """Replace NaN / infinity with None recursively so the JSON is strict.

    >>> json_safe({"a": float("nan"), "b": [1.0, float("inf")]})
    {'a': None, 'b': [1.0, None]}
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj
