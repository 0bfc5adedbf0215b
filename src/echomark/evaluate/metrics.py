"""Evaluation metrics as pure functions: presence, point error, curve distance and length.

Every function takes plain arrays or label objects and returns numbers; nothing here reads
files or imports torch. Coordinates are ``xy`` (x = column, y = row) in source-image pixels;
millimetre variants take the pixel spacing in mm per pixel along x and y separately, since
ultrasound pixels need not be square.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from echomark.geometry.curves import curve_distances, polyline_length, sample_curve
from echomark.labels.schema import Label, LabelState

FloatArray = npt.NDArray[np.float64]

#: PCK thresholds in pixels reported for point errors.
PCK_THRESHOLDS_PX: tuple[float, ...] = (2.0, 4.0, 8.0)

#: Arc-length spacing (px) of the dense spline samples used for curve metrics.
CURVE_SPACING_PX = 0.5


def is_present(label: Label | None) -> bool | None:
    """Whether a label says the structure is there.

    Args:
        label: A label, or None when the image has no entry for it.

    Returns:
        True for point/curve, False for off, None when unknown (blurred or missing), so
        that ground truth marked blurred is excluded from presence metrics.

    >>> is_present(Label.point(1, 2)), is_present(Label.off()), is_present(Label.blurred())
    (True, False, None)
    """
    if label is None or label.state is LabelState.BLURRED:
        return None
    return label.state is not LabelState.OFF and bool(label.instances)


def predicted_present(label: Label | None) -> bool:
    """Whether a prediction claims the structure is there (blurred or missing means no).

    >>> predicted_present(None), predicted_present(Label.curve([[0, 0], [1, 1]]))
    (False, True)
    """
    return bool(is_present(label))


@dataclass(frozen=True)
class PresenceCounts:
    """Confusion counts for presence (positive = structure present).

    Attributes:
        tp: Present in truth and predicted present.
        fn: Present in truth, predicted absent.
        tn: Off in truth, predicted absent.
        fp: Off in truth, predicted present.
    """

    tp: int = 0
    fn: int = 0
    tn: int = 0
    fp: int = 0

    def __add__(self, other: PresenceCounts) -> PresenceCounts:
        return PresenceCounts(
            self.tp + other.tp, self.fn + other.fn, self.tn + other.tn, self.fp + other.fp
        )

    @property
    def n(self) -> int:
        """Number of compared labels."""
        return self.tp + self.fn + self.tn + self.fp

    @property
    def sensitivity(self) -> float:
        """Tp / (tp + fn); NaN when nothing was present.

        >>> PresenceCounts(tp=3, fn=1).sensitivity
        0.75
        """
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float:
        """Tn / (tn + fp); NaN when nothing was off.

        >>> PresenceCounts(tn=1, fp=1).specificity
        0.5
        """
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def accuracy(self) -> float:
        """(tp + tn) / n; NaN when n is 0.

        >>> PresenceCounts(tp=3, fn=1, tn=1, fp=0).accuracy
        0.8
        """
        return _ratio(self.tp + self.tn, self.n)

    def as_dict(self) -> dict[str, float | int]:
        """Counts and rates, for JSON."""
        return {
            "tp": self.tp,
            "fn": self.fn,
            "tn": self.tn,
            "fp": self.fp,
            "n": self.n,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
            "accuracy": self.accuracy,
        }


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def presence_counts(pairs: Iterable[tuple[bool | None, bool]]) -> PresenceCounts:
    """Count presence outcomes from ``(truth_present, predicted_present)`` pairs.

    Pairs whose truth is None (blurred or missing) are skipped.

    >>> presence_counts([(True, True), (True, False), (False, False), (None, True)])
    PresenceCounts(tp=1, fn=1, tn=1, fp=0)
    """
    tp = fn = tn = fp = 0
    for truth, pred in pairs:
        if truth is None:
            continue
        if truth:
            tp += pred
            fn += not pred
        else:
            fp += pred
            tn += not pred
    return PresenceCounts(tp, fn, tn, fp)


def point_error(
    truth_xy: npt.ArrayLike,
    pred_xy: npt.ArrayLike,
    mm_per_px: tuple[float, float] | None = None,
) -> float:
    """Euclidean distance between two points, in px, or in mm when a spacing is given.

    Args:
        truth_xy: Ground-truth point ``(x, y)`` in source pixels.
        pred_xy: Predicted point ``(x, y)`` in source pixels.
        mm_per_px: Optional ``(dx, dy)`` pixel spacing in mm per pixel; dx scales the
            column difference and dy the row difference.

    >>> point_error([0, 0], [3, 4])
    5.0
    >>> point_error([0, 0], [3, 4], mm_per_px=(0.5, 0.25))
    1.8027756377319946
    """
    d = np.asarray(pred_xy, float).reshape(2) - np.asarray(truth_xy, float).reshape(2)
    if mm_per_px is not None:
        d = d * np.asarray(mm_per_px, float)
    return float(np.hypot(d[0], d[1]))


def nearest_point_errors(
    truth_xy: npt.ArrayLike,
    pred_xy: npt.ArrayLike,
    mm_per_px: tuple[float, float] | None = None,
) -> FloatArray:
    """For each true point, the distance to the nearest predicted point.

    Labels with several instances (rare for points) are matched to the closest prediction.

    Args:
        truth_xy: True points, shape (P, 2).
        pred_xy: Predicted points, shape (Q, 2), Q >= 1.
        mm_per_px: Optional ``(dx, dy)`` spacing in mm per pixel.

    Returns:
        Distances, shape (P,).

    >>> nearest_point_errors([[0, 0], [10, 0]], [[9, 0], [0, 2]]).tolist()
    [2.0, 1.0]
    """
    t = np.asarray(truth_xy, float).reshape(-1, 2)
    p = np.asarray(pred_xy, float).reshape(-1, 2)
    scale = np.ones(2) if mm_per_px is None else np.asarray(mm_per_px, float)
    diff = (t[:, None, :] - p[None, :, :]) * scale
    return np.sqrt((diff**2).sum(axis=2)).min(axis=1)


@dataclass(frozen=True)
class CurveComparison:
    """Geometric agreement of two curves (all in the same unit, px or mm).

    Attributes:
        mean_distance: Symmetric mean point-to-curve distance.
        hausdorff: Largest point-to-curve distance in either direction.
        truth_length: Arc length of the true curve.
        pred_length: Arc length of the predicted curve.
    """

    mean_distance: float
    hausdorff: float
    truth_length: float
    pred_length: float

    @property
    def length_error(self) -> float:
        """Predicted minus true length (signed)."""
        return self.pred_length - self.truth_length


def compare_curves(
    truth_xy: npt.ArrayLike,
    pred_xy: npt.ArrayLike,
    *,
    truth_straight: Sequence[bool] | None = None,
    pred_straight: Sequence[bool] | None = None,
    mm_per_px: tuple[float, float] | None = None,
    spacing_px: float = CURVE_SPACING_PX,
) -> CurveComparison:
    """Compare two curves given by spline control points.

    Both curves are sampled densely along their splines in pixels (the spline is defined in
    pixel space); the dense points are then scaled to mm when a spacing is given, so that
    anisotropic pixels are handled exactly.

    Args:
        truth_xy: True control points, shape (N, 2).
        pred_xy: Predicted control points, shape (M, 2).
        truth_straight: Optional straight-segment flags of the true curve.
        pred_straight: Optional straight-segment flags of the predicted curve.
        mm_per_px: Optional ``(dx, dy)`` spacing in mm per pixel.
        spacing_px: Arc-length sampling step in pixels.

    >>> c = compare_curves([[0, 0], [10, 0]], [[0, 2], [12, 2]])
    >>> round(c.mean_distance, 4), round(c.hausdorff, 4), c.length_error
    (2.0325, 2.8284, 2.0)
    """
    # Given a spacing, the px comparison is computed and dropped; compare_label, the hot
    # caller, wants both and calls compare_curves_px_mm directly.
    px, mm = compare_curves_px_mm(
        truth_xy,
        pred_xy,
        truth_straight=truth_straight,
        pred_straight=pred_straight,
        mm_per_px=mm_per_px,
        spacing_px=spacing_px,
    )
    return px if mm is None else mm


def compare_curves_px_mm(
    truth_xy: npt.ArrayLike,
    pred_xy: npt.ArrayLike,
    *,
    truth_straight: Sequence[bool] | None = None,
    pred_straight: Sequence[bool] | None = None,
    mm_per_px: tuple[float, float] | None = None,
    spacing_px: float = CURVE_SPACING_PX,
) -> tuple[CurveComparison, CurveComparison | None]:
    """:func:`compare_curves` in px and, given a spacing, in mm, sampling each spline once.

    >>> px, mm = compare_curves_px_mm([[0, 0], [10, 0]], [[0, 2], [12, 2]], mm_per_px=(0.5, 0.5))
    >>> px == compare_curves([[0, 0], [10, 0]], [[0, 2], [12, 2]]), mm.length_error
    (True, 1.0)
    """
    a = sample_curve(truth_xy, truth_straight, spacing_px)
    b = sample_curve(pred_xy, pred_straight, spacing_px)
    px = _compare_dense(a, b)
    if mm_per_px is None:
        return px, None
    scale = np.asarray(mm_per_px, float)
    return px, _compare_dense(a * scale, b * scale)


def _compare_dense(a: FloatArray, b: FloatArray) -> CurveComparison:
    """Distances and lengths of two densely sampled curves (same unit)."""
    mean, haus = curve_distances(a, b)
    return CurveComparison(mean, haus, polyline_length(a), polyline_length(b))


@dataclass(frozen=True)
class ErrorSummary:
    """Summary statistics of a set of non-negative errors.

    Attributes:
        n: Number of values.
        median: Median (NaN when n is 0).
        mean: Mean.
        p90: 90th percentile (linear interpolation).
        pck: Fraction of values <= each threshold, keyed by the threshold.
    """

    n: int
    median: float
    mean: float
    p90: float
    pck: dict[float, float]

    def as_dict(self, unit: str = "px") -> dict[str, float | int]:
        """Flat dict for JSON, with the unit in each key (``median_px``, ``pck_4px``)."""
        out: dict[str, float | int] = {
            "n": self.n,
            f"median_{unit}": self.median,
            f"mean_{unit}": self.mean,
            f"p90_{unit}": self.p90,
        }
        for t, v in self.pck.items():
            out[f"pck_{t:g}{unit}"] = v
        return out


def pck(errors: npt.ArrayLike, threshold: float) -> float:
    """Percentage of correct keypoints as a fraction: share of errors <= threshold.

    >>> pck([1.0, 2.0, 3.0, 9.0], 2.0)
    0.5
    """
    e = np.asarray(errors, float).ravel()
    return float((e <= threshold).mean()) if e.size else float("nan")


def summarise_errors(
    errors: npt.ArrayLike, thresholds: Sequence[float] = PCK_THRESHOLDS_PX
) -> ErrorSummary:
    """Median, mean, 90th percentile and PCK of a set of errors.

    NaN values are dropped first.

    >>> s = summarise_errors([1.0, 2.0, 3.0, 10.0])
    >>> s.n, s.median, s.mean, round(s.p90, 6), s.pck[2.0], s.pck[8.0]
    (4, 2.5, 4.0, 7.9, 0.5, 0.75)
    """
    e = np.asarray(errors, float).ravel()
    e = e[np.isfinite(e)]
    if e.size == 0:
        nan = float("nan")
        return ErrorSummary(0, nan, nan, nan, {float(t): nan for t in thresholds})
    return ErrorSummary(
        n=int(e.size),
        median=float(np.median(e)),
        mean=float(e.mean()),
        p90=float(np.percentile(e, 90)),
        pck={float(t): pck(e, t) for t in thresholds},
    )
