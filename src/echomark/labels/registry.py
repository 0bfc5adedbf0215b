"""The label registry: every known label name with its kind, views, colour and flags.

The registry is package data (``labels/registry.csv``); its row order is the output-channel
order of every model, so rows are only ever appended, never reordered. The names are those of
the UnityImaging label files (2020 release and the 2024 gls additions); neither public
repository ships the list, so it was collected from their code (see
``reference-unity-code.md`` §1.5).
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path

from echomark.errors import ConfigError

_COLOUR_RE = re.compile(r"^#[0-9a-f]{6}$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_COLUMNS = ("name", "kind", "views", "colour", "derived", "auxiliary", "description")


class LabelKind(str, Enum):
    """What an expert draws for a label when it is visible."""

    POINT = "point"
    """One landmark: rendered as a Gaussian dot."""

    CURVE = "curve"
    """A boundary given by spline control points: rendered as a Gaussian tube."""


class View(str, Enum):
    """Echo views (and Doppler / effusion projects) that a label belongs to.

    The reference code trains one network over A2C, A3C, A4C, A5C, PLAX and aortic PLAX; no
    published label is specific to A5C, so it has no registry rows yet.
    """

    PLAX = "PLAX"
    """Parasternal long axis (LV level)."""

    PLAX_AO = "PLAX_AO"
    """Parasternal long axis centred on the aortic root."""

    A2C = "A2C"
    """Apical two-chamber."""

    A3C = "A3C"
    """Apical three-chamber."""

    A4C = "A4C"
    """Apical four-chamber."""

    A5C = "A5C"
    """Apical five-chamber."""

    DOPPLER = "DOPPLER"
    """Spectral Doppler traces (not a B-mode view)."""

    EFFUSION = "EFFUSION"
    """Pericardial-effusion boundaries (any view showing the pericardium; stubs in gls)."""


@dataclass(frozen=True)
class LabelSpec:
    """One registry row.

    Attributes:
        name: Label name as it appears in the label JSON, e.g. ``"lv-ivs-top"``.
        kind: Point or curve.
        views: The views the label is drawn in.
        colour: Display colour ``#rrggbb`` (lower case), readable on dark grey.
        derived: True when the release converter computes it from other labels rather than
            an expert drawing it (e.g. PLAX curve end points, connector curves).
        auxiliary: True for training-only helper channels not meant as outputs.
        description: One line saying what the label marks.
    """

    name: str
    kind: LabelKind
    views: tuple[View, ...]
    colour: str
    derived: bool = False
    auxiliary: bool = False
    description: str = ""

    @property
    def rgb(self) -> tuple[float, float, float]:
        """The colour as three floats in [0, 1] (the reference ``keys.json`` ``rgb``).

        >>> LabelSpec("x", LabelKind.POINT, (View.PLAX,), "#ff8000").rgb
        (1.0, 0.5019607843137255, 0.0)
        """
        r, g, b = (int(self.colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5))
        return (r, g, b)


def _parse_bool(text: str, *, where: str) -> bool:
    value = text.strip().lower()
    if value in ("yes", "true", "1"):
        return True
    if value in ("no", "false", "0", ""):
        return False
    raise ConfigError(f"expected yes/no, got {text!r}", file=where)


def parse_registry(text: str, *, source: str = "<registry>") -> dict[str, LabelSpec]:
    """Parse registry CSV text into name -> spec, in row (= channel) order.

    Columns: ``name, kind, views, colour, derived, auxiliary, description``; ``views`` is
    ``;``-separated.

    Raises:
        ConfigError: on a missing column, duplicate name, unknown kind or view, or a colour
            that is not ``#rrggbb``.
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ConfigError(f"missing column(s) {', '.join(missing)}", file=source)
    specs: dict[str, LabelSpec] = {}
    for row_no, row in enumerate(reader, start=2):
        where = f"{source}:{row_no}"
        name = (row["name"] or "").strip()
        if not _NAME_RE.match(name):
            raise ConfigError(f"bad label name {name!r}", file=where)
        if name in specs:
            raise ConfigError(f"duplicate label name {name!r}", file=where)
        try:
            kind = LabelKind(row["kind"].strip())
            views = tuple(View(v.strip()) for v in row["views"].split(";") if v.strip())
        except ValueError as exc:
            raise ConfigError(str(exc), file=where, field=name) from None
        if not views:
            raise ConfigError("no views", file=where, field=name)
        colour = (row["colour"] or "").strip().lower()
        if not _COLOUR_RE.match(colour):
            raise ConfigError(f"colour must be #rrggbb, got {colour!r}", file=where, field=name)
        specs[name] = LabelSpec(
            name=name,
            kind=kind,
            views=views,
            colour=colour,
            derived=_parse_bool(row["derived"], where=where),
            auxiliary=_parse_bool(row["auxiliary"], where=where),
            description=(row["description"] or "").strip(),
        )
    return specs


@functools.cache
def _package_registry() -> dict[str, LabelSpec]:
    text = resources.files("echomark.labels").joinpath("registry.csv").read_text("utf-8")
    return parse_registry(text, source="echomark/labels/registry.csv")


def load_registry(path: str | Path | None = None) -> dict[str, LabelSpec]:
    """The label registry, name -> spec, in channel order.

    Args:
        path: A registry CSV of the same layout to use instead of the package's own
            (e.g. a hospital's extra labels); None for the packaged registry.

    Returns:
        A fresh dict (callers may modify it); the specs themselves are immutable.

    >>> reg = load_registry()
    >>> reg["lv-ivs-top"].kind.value, reg["curve-lv-endo"].kind.value
    ('point', 'curve')
    """
    if path is None:
        return dict(_package_registry())
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read registry: {exc}", file=str(path)) from None
    return parse_registry(text, source=str(path))


def channels_for_views(
    views: Iterable[View | str],
    *,
    include_derived: bool = False,
    include_auxiliary: bool = True,
    registry: dict[str, LabelSpec] | None = None,
) -> list[str]:
    """Label names drawn in any of ``views``, in registry (channel) order.

    Derived labels (computed by the release converter from drawn ones) are left out unless
    ``include_derived``; the 2020 reference training did include them, as auxiliary targets
    and as tracing anchors.

    Args:
        views: Views as :class:`View` members or their names (``"PLAX"``).
        include_derived: Also return derived labels.
        include_auxiliary: Return auxiliary (training-only) labels too.
        registry: Registry to use; default the packaged one.

    Raises:
        ConfigError: if a view name is unknown.

    >>> channels_for_views(["PLAX"])[:4]
    ['lv-ivs-top', 'lv-ivs-bottom', 'lv-pw-top', 'lv-pw-bottom']
    """
    try:
        wanted = {View(v) for v in views}
    except ValueError as exc:
        raise ConfigError(f"{exc}; known views: {', '.join(v.value for v in View)}") from None
    reg = registry if registry is not None else _package_registry()
    return [
        spec.name
        for spec in reg.values()
        if wanted.intersection(spec.views)
        and (include_derived or not spec.derived)
        and (include_auxiliary or not spec.auxiliary)
    ]


def kinds_for(
    names: Iterable[str], registry: dict[str, LabelSpec] | None = None
) -> list[LabelKind]:
    """The kind of each named label, in the given order.

    Raises:
        ConfigError: if a name is not in the registry.
    """
    reg = registry if registry is not None else _package_registry()
    out = []
    for name in names:
        if name not in reg:
            raise ConfigError(f"label {name!r} is not in the registry")
        out.append(reg[name].kind)
    return out


def keys_json(
    names: Iterable[str], registry: dict[str, LabelSpec] | None = None
) -> dict[str, dict[str, str]]:
    """The reference ``keys.json`` form for ``names`` (in that order), for interoperability.

    Each entry is ``{"type": "point"|"curve", "rgb": "r g b", "active": "yes"}`` with the
    colour as three floats in [0, 1].

    >>> keys_json(["lv-ivs-top"])["lv-ivs-top"]["type"]
    'point'
    """
    reg = registry if registry is not None else _package_registry()
    out: dict[str, dict[str, str]] = {}
    for name, kind in zip(names_list := list(names), kinds_for(names_list, reg), strict=True):
        rgb = " ".join(f"{c:.4f}" for c in reg[name].rgb)
        out[name] = {"type": kind.value, "rgb": rgb, "active": "yes"}
    return out
