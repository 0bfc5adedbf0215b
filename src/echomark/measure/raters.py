"""Several raters and a model on the same images: the Howard et al. (2021) comparison.

Each rater's labels (and the model's predictions) are measured separately; values are lined up
by image (per-frame rows) or by video (beat means). The reference is the consensus (mean) of
the raters; each rater is compared with the consensus of the *other* raters so that nobody is
compared with themselves, and the model with the consensus of all raters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from echomark.labels.vocabulary import Measurement, parse, spec
from echomark.measure.agreement import Agreement, agreement, consensus, icc, raters_vs_consensus
from echomark.measure.pipeline import MeasureResult, RowKind


def ratings_matrix(
    results: Mapping[str, MeasureResult],
    measurement: Measurement | str,
    kind: RowKind = RowKind.FRAME,
) -> tuple[list[str], list[str], npt.NDArray[np.float64]]:
    """Line up one measurement across raters.

    Args:
        results: Rater name → that rater's measurements.
        measurement: e.g. ``"LVID"`` (per frame) or ``"LVIDd"`` (beat mean).
        kind: ``FRAME`` lines up by image key, ``MEAN`` by video code.

    Returns:
        ``(targets, raters, values)`` with values of shape (targets, raters), NaN where a
        rater has no value; targets sorted.
    """
    wanted = parse(measurement)
    raters = list(results)
    table: dict[str, dict[str, float]] = {}
    for name in raters:
        for r in results[name].rows:
            if r.measurement is not wanted or r.kind is not kind:
                continue
            target = r.image if kind is RowKind.FRAME else r.video
            table.setdefault(target, {})[name] = r.value
    targets = sorted(table)
    values = np.full((len(targets), len(raters)), math.nan)
    for i, t in enumerate(targets):
        for j, name in enumerate(raters):
            values[i, j] = table[t].get(name, math.nan)
    return targets, raters, values


@dataclass(frozen=True)
class RaterStudy:
    """Agreement of raters and a model with the raters' consensus for one measurement.

    Attributes:
        measurement: The measurement.
        n_targets: Images (or videos) rated by at least one rater.
        raters: Each rater vs the consensus of the other raters.
        model: The model vs the consensus of all raters (None without a model).
        icc_raters: ICC(2,1) among the raters (targets every rater measured).
    """

    measurement: str
    n_targets: int
    raters: dict[str, Agreement]
    model: Agreement | None
    icc_raters: float


def rater_study(
    raters: Mapping[str, MeasureResult],
    measurement: Measurement | str,
    *,
    model: MeasureResult | None = None,
    kind: RowKind = RowKind.FRAME,
) -> RaterStudy:
    """Compare each rater, and optionally a model, with the consensus of the raters.

    Args:
        raters: Rater name → measurements from that rater's labels (at least two raters).
        measurement: Which measurement.
        model: Measurements from the model's predictions on the same images.
        kind: ``FRAME`` (per image) or ``MEAN`` (per video).

    Returns:
        The study.

    Raises:
        ValueError: Fewer than two raters.
    """
    if len(raters) < 2:
        raise ValueError("a rater study needs at least two raters")
    targets, names, values = ratings_matrix(raters, measurement, kind)
    unit = spec(measurement).unit
    per_rater = dict(zip(names, raters_vs_consensus(values, unit=unit), strict=True))
    model_stats = None
    if model is not None:
        m_targets, _, mv = ratings_matrix({"model": model}, measurement, kind)
        lookup = dict(zip(m_targets, mv[:, 0], strict=True))
        test = np.array([lookup.get(t, math.nan) for t in targets])
        model_stats = agreement(test, consensus(values), unit=unit)
    return RaterStudy(parse(measurement).value, len(targets), per_rater, model_stats, icc(values))
