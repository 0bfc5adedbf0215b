"""Checking label entries: raw JSON values -> typed labels, with every problem reported.

The reader (:mod:`echomark.labels.io`) hands each raw label value to :func:`parse_label`.
A label that cannot be used as written becomes ``blurred`` (masked from the loss, exactly
what the reference training did with malformed labels, but reported instead of printed) and
an ERROR :class:`~echomark.labels.schema.LabelProblem` is recorded; in strict mode the first
ERROR raises :class:`~echomark.errors.LabelError` instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Container, Iterable
from typing import Any

import numpy as np

from echomark.errors import LabelError
from echomark.labels.schema import (
    Instance,
    Label,
    LabelFile,
    LabelProblem,
    LabelState,
    Severity,
)

#: A plain decimal number as written in label files ("123.4", "-1e-3", "7", ".5").
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_NON_FINITE = frozenset(
    {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
)
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})
#: Instance fields the reader understands or knowingly ignores (Firebase/gls extras).
_KNOWN_FIELDS = frozenset(
    {
        "type",
        "x",
        "y",
        "straight_segment",
        "conf",
        "curve_len",
        "vis",
        "time",
        "user",
        "instance",
        "nodeKey",
    }
)
_STATES = {s.value: s for s in LabelState}

#: Largest coordinate magnitude accepted (px): far beyond any image, so a larger value is a
#: corrupt or hostile entry that would otherwise come out of measure as an absurd length.
MAX_COORD_PX = 1e6
#: Pixel centres sit at integer coordinates, so an image spans [-0.5, size - 0.5].
_EDGE = 0.5

#: Shared immutable labels for the two coordinate-free states.
BLURRED = Label.blurred()
OFF = Label.off()


class ProblemLog:
    """Collects problems for one file; in strict mode the first ERROR raises instead.

    Args:
        file: The file (or ``zip::member``) being read, named in every problem.
        strict: Raise :class:`LabelError` on the first ERROR.
    """

    def __init__(self, file: str, *, strict: bool = False) -> None:
        self.file = file
        self.strict = strict
        self.problems: list[LabelProblem] = []

    def add(
        self,
        message: str,
        *,
        key: str | None = None,
        label: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        """Record a problem (or raise it, for an ERROR in strict mode).

        Raises:
            LabelError: in strict mode, for an ERROR.
        """
        if self.strict and severity is Severity.ERROR:
            raise LabelError(message, file=self.file, key=key, field=label)
        self.problems.append(LabelProblem(message, self.file, key, label, severity))


class _InvalidEntryError(Exception):
    """Internal: the label entry being parsed cannot be used; the message says why."""


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _token_to_float(token: str, what: str) -> float:
    # float() alone would also take "1_0", "nan", "infinity" and non-ASCII digits; the
    # plain-decimal regex decides only for the rare tokens the fast path does not accept.
    if token.isascii() and "_" not in token:
        try:
            value = float(token)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return value
    if _NUMBER_RE.match(token):
        return float(token)
    if token.lower() in _NON_FINITE:
        raise _InvalidEntryError(f"{what} has a non-finite value {token!r}")
    raise _InvalidEntryError(f"{what} has a non-numeric value {token!r}")


def parse_numbers(value: object, what: str) -> list[float]:
    """Coordinates (or confidences) from a label field, as finite floats.

    Accepts the release's space-separated string (``"10.0 12.5"``), a bare JSON number, or
    a list of JSON numbers (v2). ``""`` and ``[]`` give an empty list.

    Args:
        value: The decoded JSON value.
        what: The field name, for messages (``"x"``).

    Raises:
        _InvalidEntryError: if a value is missing, non-numeric or not finite.

    >>> parse_numbers("10.0  12.5", "x"), parse_numbers([1, 2.5], "y"), parse_numbers(7, "x")
    ([10.0, 12.5], [1.0, 2.5], [7.0])
    """
    if value is None:
        raise _InvalidEntryError(f"{what} is missing")
    if isinstance(value, bool):
        raise _InvalidEntryError(f"{what} has a non-numeric value {value!r}")
    if isinstance(value, str):
        out = [_token_to_float(tok, what) for tok in value.split()]
    elif isinstance(value, int | float):
        out = [float(value)]
    elif isinstance(value, list):
        out = []
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise _InvalidEntryError(f"{what}[{i}] is not a number: {v!r}")
            out.append(float(v))
    else:
        raise _InvalidEntryError(
            f"{what} must be a string or a list of numbers, got {_json_type(value)}"
        )
    if not all(math.isfinite(v) for v in out):
        raise _InvalidEntryError(f"{what} has a non-finite value (NaN or infinity)")
    return out


def parse_flags(value: object, what: str = "straight_segment") -> list[bool]:
    """Per-node straight flags from ``"0 0 1"`` or a list of 0/1/true/false values.

    >>> parse_flags("0 1 true"), parse_flags([1, False, "no"])
    ([False, True, True], [True, False, False])
    """
    if isinstance(value, str):
        items: list[object] = list(value.split())
    elif isinstance(value, list):
        items = value
    else:
        raise _InvalidEntryError(f"{what} must be a string or a list, got {_json_type(value)}")
    flags = []
    for i, item in enumerate(items):
        if isinstance(item, bool):
            flags.append(item)
        elif isinstance(item, int | float) and item in (0, 1):
            flags.append(bool(item))
        elif isinstance(item, str) and item.strip().lower() in _TRUE | _FALSE:
            flags.append(item.strip().lower() in _TRUE)
        else:
            raise _InvalidEntryError(f"{what}[{i}] is not 0/1/true/false: {item!r}")
    return flags


def _parse_conf(value: object, log_info: Callable[[str], None]) -> float | None:
    if value is None:
        return None
    if isinstance(value, str | list) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    ):
        values = parse_numbers(value, "conf")
    else:
        raise _InvalidEntryError(f"conf must be a number, got {_json_type(value)}")
    if not values:
        return None
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise _InvalidEntryError(
            f"conf must be in [0, 1], got {values[0] if len(values) == 1 else values}"
        )
    if len(values) > 1:
        log_info(f"conf has {len(values)} values; their mean is kept")
    return float(np.mean(values))


def _instance_state(raw: dict[str, Any], index: int) -> LabelState:
    where = "" if index == 0 else f"instance {index}: "
    if "type" not in raw or raw["type"] is None:
        raise _InvalidEntryError(f"{where}type missing")
    t = raw["type"]
    if not isinstance(t, str) or t not in _STATES:
        raise _InvalidEntryError(
            f"{where}unknown type {t!r} (expected point, curve, off or blurred)"
        )
    return _STATES[t]


def _parse_instance(
    raw: dict[str, Any], state: LabelState, index: int, log_info: Callable[[str], None]
) -> Instance:
    where = "" if index == 0 else f"instance {index}: "
    try:
        x = parse_numbers(raw.get("x"), "x")
        y = parse_numbers(raw.get("y"), "y")
        if len(x) != len(y):
            raise _InvalidEntryError(f"x has {len(x)} values but y has {len(y)}")
        n = len(x)
        far = next((v for v in (*x, *y) if abs(v) > MAX_COORD_PX), None)
        if far is not None:
            raise _InvalidEntryError(
                f"coordinate {far:g} is beyond ±{MAX_COORD_PX:g} px: not a position in an image"
            )
        if state is LabelState.POINT and n != 1:
            raise _InvalidEntryError(f"point must have exactly 1 coordinate, got {n}")
        if state is LabelState.CURVE and n < 2:
            raise _InvalidEntryError(f"curve needs at least 2 nodes, got {n}")
        straight: tuple[bool, ...] | None = None
        if state is LabelState.CURVE and raw.get("straight_segment") is not None:
            flags = parse_flags(raw["straight_segment"])
            if len(flags) != n:
                raise _InvalidEntryError(f"straight_segment has {len(flags)} flags for {n} nodes")
            # All-false flags mean "no straight segments": the same as absent.
            straight = tuple(flags) if any(flags) else None
        conf = _parse_conf(raw.get("conf"), log_info)
    except _InvalidEntryError as exc:
        raise _InvalidEntryError(f"{where}{exc}") from None
    return Instance(np.array([x, y], np.float64).T, straight, conf)


def _has_coords(raw: dict[str, Any]) -> bool:
    for field in ("x", "y"):
        v = raw.get(field)
        if isinstance(v, str) and v.strip():
            return True
        if isinstance(v, list) and v:
            return True
        if isinstance(v, int | float) and not isinstance(v, bool):
            return True
    return False


def parse_label(value: object, *, log: ProblemLog, key: str, name: str) -> Label:
    """One raw label value (v1 object or v2 instance list) -> :class:`Label`.

    Problems go to ``log``: an unusable entry is recorded as an ERROR and returned as
    ``blurred`` (or raised, if the log is strict); ignored extras are INFO.

    Args:
        value: The decoded JSON value of the label.
        log: Where problems go.
        key: Image key (as written), for messages.
        name: Label name, for messages.

    Raises:
        LabelError: only in strict mode, for an unusable entry.
    """

    def info(message: str) -> None:
        log.add(message, key=key, label=name, severity=Severity.INFO)

    try:
        if isinstance(value, dict):
            raws: list[dict[str, Any]] = [value]
        elif isinstance(value, list):
            if not value:
                raise _InvalidEntryError("empty instance list")
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise _InvalidEntryError(
                        f"instance {i} must be an object, got {_json_type(item)}"
                    )
            raws = value
        else:
            raise _InvalidEntryError(
                "label value must be an object (v1) or a list of instances (v2), "
                f"got {_json_type(value)}"
            )
        state = _instance_state(raws[0], 0)
        for i, raw in enumerate(raws[1:], start=1):
            other = _instance_state(raw, i)
            if other is not state:
                raise _InvalidEntryError(
                    f"instance {i} has type {other.value!r} but instance 0 has {state.value!r}"
                )
        if not all(raw.keys() <= _KNOWN_FIELDS for raw in raws):
            extra = sorted({f for raw in raws for f in raw} - _KNOWN_FIELDS)
            info(f"ignored field(s) {', '.join(extra)}")
        if not state.drawn:
            if any(_has_coords(raw) for raw in raws):
                info(f"coordinates ignored for a {state.value!r} label")
            return OFF if state is LabelState.OFF else BLURRED
        instances = tuple(_parse_instance(raw, state, i, info) for i, raw in enumerate(raws))
        low = min(float(inst.xy.min()) for inst in instances)
        if low < -_EDGE:
            log.add(
                f"coordinate {low:g} is negative: outside the image",
                key=key,
                label=name,
                severity=Severity.WARNING,
            )
        return Label(state, instances)
    except _InvalidEntryError as exc:
        log.add(str(exc), key=key, label=name)
        return BLURRED


def check_known_images(
    lf: LabelFile, known_images: Container[str], *, strict: bool = False
) -> list[LabelProblem]:
    """ERROR problems for image keys of ``lf`` that are not in ``known_images``.

    Args:
        lf: The labels.
        known_images: Image names (``01-<hex>-0000.png``) present in the png-cache; a
            :class:`~echomark.cache.store.FrameStore` works too (it supports ``in``).
        strict: Raise on the first missing image.

    Raises:
        LabelError: in strict mode, for the first image not in the cache.
    """
    log = ProblemLog(lf.source, strict=strict)
    for key in lf.images:
        if key not in known_images:
            log.add("image not found in the png-cache", key=key)
    return log.problems


def check_inside_images(
    lf: LabelFile, image_size: Callable[[str], tuple[int, int] | None]
) -> list[LabelProblem]:
    """ERROR problems for drawn coordinates outside their image.

    Args:
        lf: The labels.
        image_size: Image key -> (width, height) in px, or None when the image is unknown.
    """
    log = ProblemLog(lf.source)
    for key, labels in lf.images.items():
        size = image_size(key)
        if size is None:
            continue
        width, height = size
        for name, label in labels.items():
            for inst in label.instances:
                x, y = inst.xy[:, 0], inst.xy[:, 1]
                bad = (x < -_EDGE) | (x > width - _EDGE) | (y < -_EDGE) | (y > height - _EDGE)
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    log.add(
                        f"point ({x[i]:g}, {y[i]:g}) is outside the {width}x{height} image",
                        key=key,
                        label=name,
                    )
    return log.problems


def check_label_names(lf: LabelFile, known_names: Container[str]) -> list[LabelProblem]:
    """INFO problems, one per label name of ``lf`` missing from ``known_names``.

    Unknown names are kept (a hospital may label more structures); the count of images
    using each is given.
    """
    counts: dict[str, int] = {}
    for labels in lf.images.values():
        for name in labels:
            if name not in known_names:
                counts[name] = counts.get(name, 0) + 1
    return [
        LabelProblem(
            f"label name not in the registry (in {n} image{'s' if n != 1 else ''})",
            lf.source,
            None,
            name,
            Severity.INFO,
        )
        for name, n in sorted(counts.items())
    ]


def count_problems(problems: Iterable[LabelProblem]) -> dict[str, int]:
    """Number of problems per severity name (``error``, ``warning``, ``info``)."""
    counts = {s.value: 0 for s in Severity}
    for p in problems:
        counts[p.severity.value] += 1
    return counts
