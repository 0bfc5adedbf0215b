"""Typed label objects: the four label states, instances and per-image label sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class LabelState(str, Enum):
    """What an expert said about one structure in one image."""

    POINT = "point"
    """A single landmark at (x, y): target is a Gaussian dot, loss weight 1 (supervised)."""

    CURVE = "curve"
    """A boundary given by cubic-spline control points: target is a Gaussian tube around
    the dense spline, loss weight 1 (supervised)."""

    OFF = "off"
    """The structure is definitely not in the image: target is all zeros and the loss weight
    is 1, so the network is taught to output nothing there (supervised)."""

    BLURRED = "blurred"
    """The structure may be there but has no usable label (too blurry, never asked, or
    invalid): target zeros with loss weight 0, i.e. masked out of the loss."""

    @property
    def supervised(self) -> bool:
        """True when the state contributes to the loss (weight 1)."""
        return self is not LabelState.BLURRED

    @property
    def drawn(self) -> bool:
        """True when the state carries coordinates (point or curve)."""
        return self in (LabelState.POINT, LabelState.CURVE)


@dataclass(frozen=True, eq=False, slots=True)
class Instance:
    """One drawn instance of a label: a point (N = 1) or curve control points (N >= 2).

    Attributes:
        xy: Coordinates, shape (N, 2), float64, x = column and y = row in source-image
            pixels, origin top-left, pixel centres at integers.
        straight: Optional per-node flags, length N; ``straight[i]`` means the segment from
            node i to node i + 1 is a straight line rather than part of the spline.
        conf: Optional confidence in [0, 1] (predictions carry one, expert labels do not).
    """

    xy: FloatArray
    straight: tuple[bool, ...] | None = None
    conf: float | None = None

    def __post_init__(self) -> None:
        xy = np.asarray(self.xy, dtype=np.float64).reshape(-1, 2)
        if xy.base is not None or not xy.flags.c_contiguous:
            # One array owning its data: a view would keep its base (and the base's
            # header) alive, tripling the memory of a big label file.
            xy = xy.copy()
        xy.setflags(write=False)
        object.__setattr__(self, "xy", xy)
        if self.straight is not None and len(self.straight) != len(xy):
            raise ValueError(f"straight has {len(self.straight)} flags for {len(xy)} nodes")

    @property
    def x(self) -> FloatArray:
        """Column coordinates, shape (N,)."""
        return self.xy[:, 0]

    @property
    def y(self) -> FloatArray:
        """Row coordinates, shape (N,)."""
        return self.xy[:, 1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instance):
            return NotImplemented
        return (
            self.xy.shape == other.xy.shape
            and bool(np.array_equal(self.xy, other.xy))
            and self.straight == other.straight
            and self.conf == other.conf
        )

    def __hash__(self) -> int:
        return hash((self.xy.tobytes(), self.straight, self.conf))


@dataclass(frozen=True, slots=True)
class Label:
    """One label of one image: its state and, for point/curve, its instances.

    Off and blurred labels have no instances. Point labels have instances of one node,
    curve labels instances of two or more nodes.
    """

    state: LabelState
    instances: tuple[Instance, ...] = ()

    @classmethod
    def off(cls) -> Label:
        """An ``off`` label (structure absent, supervised to zero)."""
        return cls(LabelState.OFF)

    @classmethod
    def blurred(cls) -> Label:
        """A ``blurred`` label (masked from the loss)."""
        return cls(LabelState.BLURRED)

    @classmethod
    def point(cls, x: float, y: float, conf: float | None = None) -> Label:
        """A single-point label at column ``x``, row ``y``."""
        return cls(LabelState.POINT, (Instance(np.array([[x, y]]), conf=conf),))

    @classmethod
    def curve(
        cls,
        xy: npt.ArrayLike,
        straight: tuple[bool, ...] | None = None,
        conf: float | None = None,
    ) -> Label:
        """A curve label from control points ``xy`` of shape (N, 2)."""
        return cls(LabelState.CURVE, (Instance(np.asarray(xy, float), straight, conf),))

    @property
    def xy(self) -> FloatArray:
        """Nodes of the first instance, shape (N, 2); empty (0, 2) for off/blurred."""
        if not self.instances:
            return np.zeros((0, 2))
        return self.instances[0].xy


#: Labels of one image: label name -> Label.
ImageLabels = dict[str, Label]


class LabelFormat(str, Enum):
    """On-disk label JSON dialects."""

    V1 = "v1"
    """2020 release form: ``{key: {"labels": {name: {type, x, y}}}}``, x/y as strings."""

    V2 = "v2"
    """Instance-list form: ``{key: {name: [{type, x, y, straight_segment, conf}]}}``."""


class Severity(str, Enum):
    """How serious a problem found while reading or validating labels is."""

    ERROR = "error"
    """The entry is unusable as written: the label was masked (blurred) or the image dropped.
    Strict reading raises :class:`~echomark.errors.LabelError` on the first one."""

    WARNING = "warning"
    """The data was kept but something was discarded or is inconsistent (e.g. a duplicate
    key whose earlier entry was dropped, or a split list that disagrees with its JSON)."""

    INFO = "info"
    """Worth knowing, nothing lost (e.g. a label name not in the registry, a key
    normalised to the release spelling)."""


@dataclass(frozen=True)
class LabelProblem:
    """One problem found in a label file, with where it is.

    Attributes:
        message: What is wrong, in words.
        file: The file (or ``zip::member``) it is in.
        key: The image key concerned, if any (as written in the file).
        label: The label name concerned, if any.
        severity: How serious it is.
    """

    message: str
    file: str | None = None
    key: str | None = None
    label: str | None = None
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, self.key, self.label) if p)
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, str | None]:
        """A JSON-ready dict (``file``, ``key``, ``label``, ``severity``, ``message``)."""
        return {
            "file": self.file,
            "key": self.key,
            "label": self.label,
            "severity": self.severity.value,
            "message": self.message,
        }


@dataclass
class LabelFile:
    """A whole label file: image key -> label name -> Label, plus how it was stored.

    Attributes:
        images: Image key (``01-<64hex>-0000.png``) -> labels of that image.
        format: The dialect it was read in (written back the same way by default).
        wrapped: Whether image entries sat under a ``"labels"`` key (the v1 release does).
        source: Where it came from (path or ``zip::member``), for messages.
        problems: What reading (and any later validation) found wrong, in file order.
    """

    images: dict[str, ImageLabels] = field(default_factory=dict)
    format: LabelFormat = LabelFormat.V1
    wrapped: bool = True
    source: str = "<memory>"
    problems: list[LabelProblem] = field(default_factory=list)

    def label_names(self) -> list[str]:
        """All label names used anywhere in the file, sorted."""
        names: set[str] = set()
        for labels in self.images.values():
            names.update(labels)
        return sorted(names)
