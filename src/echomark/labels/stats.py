"""Counts over a label file: images, videos, label states per label and per view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from echomark.labels.registry import LabelSpec, load_registry
from echomark.labels.schema import LabelFile, LabelState


@dataclass
class LabelStats:
    """What a label file holds.

    Attributes:
        source: The file the counts are for.
        images: Number of labelled images (frames).
        videos: Number of distinct videos (``<class>-<64hex>``).
        states: Label name -> state name -> number of images (a label absent from an image
            counts as ``missing``).
        views: View name -> ``{"images": images with at least one drawn label of that view,
            "drawn": drawn labels of that view}``.
        unknown: Label names not in the registry (counted in ``states`` too).
    """

    source: str
    images: int = 0
    videos: int = 0
    states: dict[str, dict[str, int]] = field(default_factory=dict)
    views: dict[str, dict[str, int]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the same fields."""
        return {
            "source": self.source,
            "images": self.images,
            "videos": self.videos,
            "states": self.states,
            "views": self.views,
            "unknown": self.unknown,
        }


def label_stats(lf: LabelFile, registry: dict[str, LabelSpec] | None = None) -> LabelStats:
    """Count images, videos, label states and views in ``lf``.

    Labels are listed in registry order, then unknown names alphabetically.

    >>> from echomark.labels.schema import Label
    >>> key = "01-" + "a" * 64 + "-0000.png"
    >>> s = label_stats(LabelFile({key: {"lv-ivs-top": Label.point(1, 2)}}))
    >>> s.images, s.videos, s.states["lv-ivs-top"]["point"], s.views["PLAX"]["drawn"]
    (1, 1, 1, 1)
    """
    reg = registry if registry is not None else load_registry()
    names = lf.label_names()
    present = set(names)
    ordered = [n for n in reg if n in present] + [n for n in names if n not in reg]
    states = {n: {s.value: 0 for s in LabelState} | {"missing": 0} for n in ordered}
    views: dict[str, dict[str, int]] = {}
    videos = set()
    for key, labels in lf.images.items():
        videos.add(key.rsplit("-", 1)[0])
        seen_views: set[str] = set()
        for name in ordered:
            label = labels.get(name)
            if label is None:
                states[name]["missing"] += 1
                continue
            states[name][label.state.value] += 1
            if label.state.drawn and name in reg:
                for view in reg[name].views:
                    views.setdefault(view.value, {"images": 0, "drawn": 0})["drawn"] += 1
                    seen_views.add(view.value)
        for view_name in seen_views:
            views[view_name]["images"] += 1
    return LabelStats(
        source=lf.source,
        images=len(lf.images),
        videos=len(videos),
        states=states,
        views=dict(sorted(views.items())),
        unknown=[n for n in ordered if n not in reg],
    )
