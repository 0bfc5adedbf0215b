"""What the annotator serves: a png-cache, the edited layer, read-only layers, predictions."""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from echomark.cache.keys import ImageKey, VideoCode
from echomark.cache.store import FrameStore, open_store
from echomark.errors import ImageKeyError, InputError, MissingFrameError
from echomark.geometry.curves import curve_distances, sample_curve
from echomark.labels.io import labels_to_json
from echomark.labels.registry import LabelSpec, load_registry
from echomark.labels.schema import ImageLabels, Label, LabelFile, LabelFormat, LabelState
from echomark.labels.splits import available_splits, read_split, read_split_list
from echomark.serve.layer import LabelLayer

#: Spacing (px) of the dense curve polylines sent to the browser.
DENSE_SPACING_PX = 1.0
#: Most frames one list request returns.
MAX_PAGE = 10000


class StateFilter(str, Enum):
    """Which frames the ``state`` filter keeps, judged on the edited layer."""

    UNLABELLED = "unlabelled"
    """No label saved for the frame."""
    LABELLED = "labelled"
    """At least one label saved."""
    POINT = "point"
    """Some label is a point."""
    CURVE = "curve"
    """Some label is a curve."""
    OFF = "off"
    """Some label is marked off."""
    BLURRED = "blurred"
    """Some label is marked blurred."""


class SortOrder(str, Enum):
    """Order of the frame list."""

    KEY = "key"
    """By image key (video, then frame number)."""
    ERROR = "error"
    """Largest model error first (needs predictions); frames without an error last."""


@dataclass
class FrameQuery:
    """Filters and paging of the frame list; None means no filter."""

    dataset_class: str | None = None
    split: str | None = None
    view: str | None = None
    state: StateFilter | None = None
    rater: str | None = None
    video: str | None = None
    sort: SortOrder = SortOrder.KEY
    offset: int = 0
    limit: int = 200


@dataclass
class Workspace:
    """Everything one ``echomark serve`` session reads and edits.

    Attributes:
        store: The png-cache, read in place.
        layer: The rater's editable labels.
        layers: Read-only label layers by name (other raters, the release labels).
        predictions: Model predictions (with ``conf``), if given.
        splits: Split name -> image keys in it.
        registry: The label registry (names, kinds, colours).
        checkpoint: Model for "predict this frame", if given.
    """

    store: FrameStore
    layer: LabelLayer
    layers: dict[str, LabelFile] = field(default_factory=dict)
    predictions: LabelFile | None = None
    splits: dict[str, frozenset[str]] = field(default_factory=dict)
    registry: dict[str, LabelSpec] = field(default_factory=load_registry)
    checkpoint: Path | None = None

    def __post_init__(self) -> None:
        self._keys = [k.name for k in self.store.keys()]
        self._key_set = frozenset(self._keys)
        self._by_video: dict[str, list[str]] = {}
        for k in self._keys:
            self._by_video.setdefault(k[:67], []).append(k)
        self._errors: dict[str, float | None] = {}
        self._thumbs: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._thumb_lock = threading.Lock()
        self._views = self._video_views()

    # -- keys ---------------------------------------------------------------------------

    def key(self, text: str) -> ImageKey:
        """The image key named by ``text``, which must be in the cache.

        Raises:
            ImageKeyError: if ``text`` is not an image key in the release spelling.
            MissingFrameError: if the frame is not in the cache.
        """
        k = ImageKey.parse(text) if "/" not in text and "\\" not in text else None
        if k is None or k.name != text:
            raise ImageKeyError(f"not an image key <class>-<64 hex>-<NNNN>.png: {text[:100]!r}")
        if k.name not in self._key_set:
            raise MissingFrameError("frame not in the png-cache", key=k.name)
        return k

    def video(self, text: str) -> VideoCode:
        """The video code named by ``text``.

        Raises:
            ImageKeyError: if it is not ``<class>-<64 hex>``.
        """
        return VideoCode.parse(text)

    # -- label views --------------------------------------------------------------------

    def _video_views(self) -> dict[str, list[str]]:
        return {v: self._views_of(self._drawn_names(v)) for v in self._by_video}

    def _drawn_names(self, video: str) -> set[str]:
        """Names of the labels drawn anywhere in ``video`` (edited layer, layers, predictions)."""
        sources: list[Mapping[str, ImageLabels]] = [
            *(lf.images for lf in self.layers.values()),
            *([self.predictions.images] if self.predictions is not None else []),
        ]
        names: set[str] = set()
        for k in self._by_video.get(video, []):
            for labels in (self.layer.labels(k), *(src.get(k, {}) for src in sources)):
                names.update(n for n, lab in labels.items() if lab.state.drawn)
        return names

    def _views_of(self, names: Iterable[str]) -> list[str]:
        counts: dict[str, int] = {}
        for n in names:
            spec = self.registry.get(n)
            for v in spec.views if spec else ():
                counts[v.value] = counts.get(v.value, 0) + 1
        if not counts:
            return []
        top = max(counts.values())
        return sorted(v for v, c in counts.items() if c == top)

    def views(self) -> list[str]:
        """Views seen in any video (inferred from the registry views of its labels)."""
        return sorted({v for vs in self._views.values() for v in vs})

    def raters(self) -> list[str]:
        """Raters to filter by: users stamped in the edited layer and read-only layer names."""
        return sorted(self.layer.raters() | set(self.layers))

    # -- frame list ---------------------------------------------------------------------

    def _keep(self, key: str, q: FrameQuery) -> bool:
        if q.dataset_class is not None and key[:2] != q.dataset_class:
            return False
        if q.video is not None and key[:67] != q.video:
            return False
        if q.split is not None and key not in self.splits.get(q.split, frozenset()):
            return False
        if q.view is not None and q.view not in self._views.get(key[:67], ()):
            return False
        if q.state is not None:
            labels = self.layer.labels(key)
            if q.state is StateFilter.UNLABELLED:
                if labels:
                    return False
            elif q.state is StateFilter.LABELLED:
                if not labels:
                    return False
            elif not any(lab.state.value == q.state.value for lab in labels.values()):
                return False
        if q.rater is not None:
            in_layer = q.rater in self.layers and key in self.layers[q.rater].images
            stamped = any(s.user == q.rater for s in self.layer.stamps(key).values())
            if not (in_layer or stamped):
                return False
        return True

    def frames(self, q: FrameQuery) -> tuple[int, list[dict[str, Any]]]:
        """The frames matching ``q``: total count and the requested page."""
        candidates = self._keys if q.video is None else self._by_video.get(q.video, [])
        keys = [k for k in candidates if self._keep(k, q)]
        if q.sort is SortOrder.ERROR:
            if self.predictions is None:
                raise InputError("sorting by model error needs --predictions")
            errs = {k: self.error(k) for k in keys}
            keys.sort(key=lambda k: (errs[k] is None, -(errs[k] or 0.0), k))
        page = keys[q.offset : q.offset + q.limit]
        return len(keys), [self.frame_summary(k) for k in page]

    def frame_summary(self, key: str) -> dict[str, Any]:
        """One row of the frame list."""
        out: dict[str, Any] = {
            "key": key,
            "video": key[:67],
            "frame": int(key[68:72]),
            "labels": len(self.layer.labels(key)),
        }
        if self.predictions is not None:
            out["error_px"] = self.error(key)
        return out

    def videos(self, offset: int = 0, limit: int = 200) -> tuple[int, list[dict[str, Any]]]:
        """The videos of the cache (paged), with frame and labelled-frame counts."""
        vids = self.store.videos()
        codes = sorted(vids)
        labelled: dict[str, int] = {}
        for k in self.layer.keys():
            labelled[k[:67]] = labelled.get(k[:67], 0) + 1
        page = codes[offset : offset + limit]
        rows = [
            {
                "video": str(v),
                "class": v.dataset_class,
                "frames": vids[v],
                "labelled": labelled.get(str(v), 0),
                "views": self._views.get(str(v), []),
            }
            for v in page
        ]
        return len(codes), rows

    # -- one frame ----------------------------------------------------------------------

    def frame(self, key: str) -> dict[str, Any]:
        """Everything the viewer shows for one frame (labels as v2 JSON + dense curves)."""
        layer_labels = self.layer.labels(key)
        out: dict[str, Any] = {
            "key": key,
            "video": key[:67],
            "frame": int(key[68:72]),
            "version": self.layer.version(key),
            "labels": _strip_stamps(self.layer.body(key)),
            "stamps": {n: vars(s) for n, s in self.layer.stamps(key).items()},
            "dense": dense_curves(layer_labels),
            "split": sorted(s for s, ks in self.splits.items() if key in ks),
            "views": self._views.get(key[:67], []),
        }
        if self.predictions is not None:
            pred = self.predictions.images.get(key, {})
            out["predictions"] = labels_v2(key, pred)
            out["predictions_dense"] = dense_curves(pred)
            out["error_px"] = self.error(key)
        out["layers"] = {
            name: {
                "labels": labels_v2(key, lf.images.get(key, {})),
                "dense": dense_curves(lf.images.get(key, {})),
            }
            for name, lf in self.layers.items()
        }
        return out

    def previous_labelled(self, key: str) -> str | None:
        """The nearest earlier frame of the same video with labels in the edited layer."""
        k = ImageKey.parse(key)
        for f in range(k.frame - 1, -1, -1):
            name = ImageKey(k.dataset_class, k.hex, f).name
            if self.layer.labels(name):
                return name
        return None

    def error(self, key: str) -> float | None:
        """Mean model error (px) of ``key`` against the edited layer.

        Points count by distance, curves by the symmetric mean distance of the dense
        splines; None when no drawn label is in both.
        """
        if self.predictions is None:
            return None
        if key not in self._errors:
            self._errors[key] = frame_error(
                self.layer.labels(key), self.predictions.images.get(key, {})
            )
        return self._errors[key]

    def sync(self) -> None:
        """Pick up the edited file if another process saved it (errors and views follow)."""
        if self.layer.refresh():
            self._errors.clear()
            self._views = self._video_views()

    def note_edit(self, key: str) -> None:
        """Refresh what depends on ``key``'s labels: its model error and its video's views."""
        self._errors.pop(key, None)
        video = key[:67]
        self._views[video] = self._views_of(self._drawn_names(video))

    def thumbnail(self, key: str, size: int) -> bytes:
        """A JPEG thumbnail of ``key``, longest side ``size`` px (cached)."""
        with self._thumb_lock:
            hit = self._thumbs.get((key, size))
            if hit is not None:
                self._thumbs.move_to_end((key, size))
                return hit
        img = Image.fromarray(np.ascontiguousarray(self.store.read(key)))
        img.thumbnail((size, size))
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "JPEG", quality=80)
        data = buf.getvalue()
        with self._thumb_lock:
            self._thumbs[(key, size)] = data
            while len(self._thumbs) > 2000:
                self._thumbs.popitem(last=False)
        return data


def labels_v2(key: str, labels: ImageLabels) -> dict[str, Any]:
    """One frame's labels as the v2 JSON body (what the browser draws and sends back)."""
    if not labels:
        return {}
    body: dict[str, Any] = labels_to_json(LabelFile({key: labels}), LabelFormat.V2, wrapped=False)[
        key
    ]
    return body


def _strip_stamps(body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: [{f: v for f, v in inst.items() if f not in ("user", "time")} for inst in insts]
        for name, insts in body.items()
    }


def dense_curve(xy: Any, straight: Any = None) -> list[list[float]]:
    """The dense spline through control points as a JSON polyline (2-decimal px).

    The same curve every other part of echomark uses (:func:`echomark.geometry.sample_curve`).

    >>> dense_curve([[0, 0], [2, 0]])
    [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]
    """
    pts = sample_curve(np.asarray(xy, float), straight, DENSE_SPACING_PX)
    out: list[list[float]] = np.round(pts, 2).tolist()
    return out


def dense_curves(labels: ImageLabels) -> dict[str, list[list[list[float]]]]:
    """Label name -> dense polyline of each instance, for the curve labels of a frame."""
    return {
        name: [dense_curve(inst.xy, inst.straight) for inst in lab.instances]
        for name, lab in labels.items()
        if lab.state is LabelState.CURVE
    }


def _label_error(a: Label, b: Label) -> float | None:
    if a.state is not b.state or not a.state.drawn or not a.instances or not b.instances:
        return None
    ia, ib = a.instances[0], b.instances[0]
    if a.state is LabelState.POINT:
        return float(np.linalg.norm(ia.xy[0] - ib.xy[0]))
    return curve_distances(
        sample_curve(ia.xy, ia.straight, DENSE_SPACING_PX),
        sample_curve(ib.xy, ib.straight, DENSE_SPACING_PX),
    )[0]


def frame_error(truth: ImageLabels, pred: ImageLabels) -> float | None:
    """Mean error (px) over labels drawn in both ``truth`` and ``pred`` with the same kind.

    >>> frame_error({"a": Label.point(0, 0)}, {"a": Label.point(3, 4)})
    5.0
    >>> frame_error({"a": Label.off()}, {"a": Label.point(3, 4)}) is None
    True
    """
    errs = [
        e
        for name, lab in truth.items()
        if name in pred and (e := _label_error(lab, pred[name])) is not None
    ]
    return float(np.mean(errs)) if errs else None


def load_splits(path: str | os.PathLike[str]) -> dict[str, frozenset[str]]:
    """Split name -> image keys, from a labels zip/folder with ``labels-<split>`` files.

    Raises:
        LabelError: if the path cannot be read.
    """
    out: dict[str, frozenset[str]] = {}
    for split in available_splits(path):
        if split == "all":
            continue
        listed = read_split_list(path, split)
        keys = listed if listed is not None else list(read_split(path, split).images)
        out[split] = frozenset(ImageKey.parse(k).name for k in keys)
    return out


def open_workspace(
    images: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    *,
    user: str,
    layers: Mapping[str, str | os.PathLike[str]] | None = None,
    predictions: str | os.PathLike[str] | None = None,
    splits: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
) -> Workspace:
    """Open everything a session needs, reading the cache in place.

    Args:
        images: png-cache folder or zip.
        labels: The JSON file this rater edits (created on the first save).
        user: The rater's name, stamped on every saved label.
        layers: Read-only label files (another rater's, the release) by layer name.
        predictions: A predictions JSON (same schema, with ``conf``).
        splits: A labels zip/folder with ``labels-<split>.json``/``.txt`` for the split filter.
        checkpoint: Model for "predict this frame".

    Raises:
        InputError: if any input is missing or malformed.
    """
    if not user or len(user) > 64 or not user.isprintable():
        raise InputError(f"user name must be 1-64 printable characters, got {user!r}")
    store = open_store(images)
    ws = Workspace(
        store=store,
        layer=LabelLayer(labels, user),
        layers={n: read_split(p, None) for n, p in (layers or {}).items()},
        predictions=read_split(predictions, None) if predictions is not None else None,
        splits=load_splits(splits) if splits is not None else {},
        checkpoint=Path(checkpoint) if checkpoint is not None else None,
    )
    if ws.checkpoint is not None and not ws.checkpoint.is_file():
        raise InputError("checkpoint not found", file=str(ws.checkpoint))
    return ws
