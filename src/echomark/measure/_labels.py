"""Reading points and curves out of one image's labels, with a confidence floor."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from echomark.labels.schema import ImageLabels, Instance, LabelState

FloatArray = npt.NDArray[np.float64]

#: Predictions at or below this confidence count as absent (the reference code used 0.1).
DEFAULT_MIN_CONF = 0.1


def _instance(
    labels: ImageLabels, name: str, state: LabelState, min_conf: float
) -> Instance | None:
    label = labels.get(name)
    if label is None or label.state is not state or not label.instances:
        return None
    inst = label.instances[0]
    if inst.conf is not None and not inst.conf > min_conf:
        return None
    if not np.all(np.isfinite(inst.xy)):
        return None
    return inst


def get_point(
    labels: ImageLabels, name: str, min_conf: float = DEFAULT_MIN_CONF
) -> FloatArray | None:
    """The ``(x, y)`` of a point label, or None when absent, off, blurred or low-confidence.

    Args:
        labels: One image's labels.
        name: Label name.
        min_conf: Instances with ``conf`` at or below this are ignored (labels without a
            confidence, i.e. expert labels, always count).

    Returns:
        Array of shape (2,) or None.
    """
    inst = _instance(labels, name, LabelState.POINT, min_conf)
    return None if inst is None else inst.xy[0].copy()


def get_first_point(
    labels: ImageLabels, names: Sequence[str], min_conf: float = DEFAULT_MIN_CONF
) -> FloatArray | None:
    """The first of several alternative point names that is present (e.g. old/new names)."""
    for name in names:
        xy = get_point(labels, name, min_conf)
        if xy is not None:
            return xy
    return None


def get_curve(
    labels: ImageLabels, name: str, min_conf: float = DEFAULT_MIN_CONF
) -> Instance | None:
    """The first instance of a curve label with at least two nodes, or None."""
    inst = _instance(labels, name, LabelState.CURVE, min_conf)
    if inst is None or len(inst.xy) < 2:
        return None
    return inst
