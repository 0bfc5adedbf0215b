"""Read and write label JSON in the release (v1) and instance-list (v2) forms.

Reading autodetects the form per label (an object is v1, a list of instances is v2), with or
without the ``"labels"`` wrapper, and normalises image keys to ``<class>-<64hex>-<NNNN>.png``.
Every problem is recorded in :attr:`LabelFile.problems` (see
:mod:`echomark.labels.validate`); unusable labels become ``blurred`` unless ``strict``.

Canonical layout written by :func:`dumps_labels` (reading then writing a file in this layout
gives identical bytes):

* ``json.dumps(..., sort_keys=True, ensure_ascii=True)`` with the default separators
  (``", "`` and ``": "``), no indentation, one trailing newline; image keys, label names and
  fields all sorted.
* v1: ``{key: {"labels": {name: {"type": T, "x": X, "y": Y}}}}`` (wrapper only if the file
  had it); ``x``/``y`` space-separated, rounded to 1 decimal as the release does
  (``"123.4"``, ``"10.0"``; ``-0.0`` is written ``0.0``); ``""`` for off/blurred. v1 keeps
  one instance per label and no ``straight_segment`` or ``conf``.
* v2: ``{key: {name: [{"type", "x", "y", "straight_segment", ["conf"]}]}}``, coordinates as
  JSON float lists at full precision, ``straight_segment`` as 0/1 integers (all 0 when the
  curve has no straight segments), ``conf`` only when known; off/blurred are one instance
  with empty lists.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Container, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from echomark import fileio
from echomark.cache.keys import ImageKey, strip_duplicate_suffix
from echomark.errors import ImageKeyError, LabelError
from echomark.labels.registry import load_registry
from echomark.labels.schema import (
    ImageLabels,
    Label,
    LabelFile,
    LabelFormat,
    LabelState,
    Severity,
)
from echomark.labels.stream import iter_object_items
from echomark.labels.validate import (
    ProblemLog,
    check_known_images,
    check_label_names,
    parse_label,
)
from echomark.progress import byte_progress

_UTF8_BOM = b"\xef\xbb\xbf"


class _DupDict(dict[str, Any]):
    """A decoded JSON object whose text repeated some keys (the last value was kept)."""

    dups: list[str]


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    dup = _DupDict(obj)
    dup.dups = []
    for k, _ in pairs:
        if k in seen and k not in dup.dups:
            dup.dups.append(k)
        seen.add(k)
    return dup


def _dups(obj: dict[str, Any]) -> list[str]:
    return obj.dups if isinstance(obj, _DupDict) else []


def decode_json_bytes(data: bytes, source: str) -> Any:
    """UTF-8 JSON bytes (optional BOM) -> Python value, noting repeated object keys.

    Raises:
        LabelError: if the bytes are not UTF-8 or not valid JSON, naming ``source``.
    """
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LabelError(f"not UTF-8 text (bad byte at offset {exc.start})", file=source) from None
    try:
        return json.loads(text, object_pairs_hook=_pairs_hook)
    except json.JSONDecodeError as exc:
        raise LabelError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=source
        ) from None
    except RecursionError:
        raise LabelError("invalid JSON: nested too deeply", file=source) from None


def read_file_bytes(path: str | os.PathLike[str], source: str) -> bytes:
    """The bytes of the file at ``path``.

    Raises:
        LabelError: naming ``source`` if the file cannot be read.
    """
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise LabelError(f"cannot read: {exc.strerror or exc}", file=source) from None


def read_labels(
    path: str | os.PathLike[str] | bytes,
    *,
    source: str | None = None,
    strict: bool = False,
    known_images: Container[str] | None = None,
    progress: bool = False,
) -> LabelFile:
    """Read a label JSON file (v1 or v2, autodetected), streaming it entry by entry.

    Args:
        path: A file path, or the file's raw bytes.
        source: Name used in messages and stored as :attr:`LabelFile.source` (default: the
            path, or ``"<bytes>"``).
        strict: Raise on the first unusable entry instead of masking it.
        known_images: Image names present in the png-cache (a set, or a
            :class:`~echomark.cache.store.FrameStore`); keys not in it are ERRORs.
        progress: Show reading progress on stderr (a bar on a terminal).

    Returns:
        The labels; :attr:`LabelFile.problems` lists what was wrong (ERROR entries were
        turned into ``blurred`` labels or, for malformed image keys, left out).

    Raises:
        LabelError: if the file cannot be read, is not UTF-8 JSON, or its top level is not
            an object; in strict mode also for the first unusable entry.
    """
    if isinstance(path, bytes):
        src = source or "<bytes>"
        return read_labels_stream(
            io.BytesIO(path), source=src, strict=strict, known_images=known_images
        )
    src = source or os.fspath(path)
    try:
        with Path(path).open("rb") as f:
            bar = None
            if progress:
                bar = byte_progress(os.fstat(f.fileno()).st_size, f"reading {Path(src).name}")
            try:
                return read_labels_stream(
                    f,
                    source=src,
                    strict=strict,
                    known_images=known_images,
                    on_bytes=None if bar is None else bar.update,
                )
            finally:
                if bar is not None:
                    bar.close()
    except OSError as exc:
        raise LabelError(f"cannot read: {exc.strerror or exc}", file=src) from None


def _normalise_key(raw: str, log: ProblemLog) -> str | None:
    """The release spelling of an image key, or None (reported) if it is malformed."""
    try:
        key = ImageKey.parse(raw).name
    except ImageKeyError:
        log.add(
            "malformed image key (expected <class>-<64 hex>-<NNNN>.png); entry left out",
            key=raw,
        )
        return None
    if key != raw:
        why = (
            "duplicate-upload suffix removed"
            if strip_duplicate_suffix(raw.strip()) != raw.strip()
            else "key normalised"
        )
        log.add(f"{why}: read as {key}", key=raw, severity=Severity.INFO)
    return key


def labels_from_json(
    obj: object,
    *,
    source: str = "<memory>",
    strict: bool = False,
    known_images: Container[str] | None = None,
) -> LabelFile:
    """Decoded label JSON -> :class:`LabelFile` (see :func:`read_labels`).

    Raises:
        LabelError: if ``obj`` is not an object keyed by image name; in strict mode also
            for the first unusable entry.
    """
    if not isinstance(obj, dict):
        raise _not_an_object(obj, source)
    builder = _Builder(source, strict)
    for raw in _dups(obj):
        builder.log.add(
            "image key repeated in the file; the last entry was kept",
            key=raw,
            severity=Severity.WARNING,
        )
    for raw_key, entry in obj.items():
        builder.add(raw_key, entry)
    return builder.finish(known_images)


def _not_an_object(obj: object, source: str) -> LabelError:
    kind = "list" if isinstance(obj, list) else type(obj).__name__
    return LabelError(
        f"top level must be a JSON object keyed by image name, got {kind}", file=source
    )


class _Builder:
    """Turns ``(image key, entry)`` pairs into a :class:`LabelFile`, one entry at a time."""

    def __init__(self, source: str, strict: bool) -> None:
        self.source = source
        self.log = ProblemLog(source, strict=strict)
        self.images: dict[str, ImageLabels] = {}
        self.raw_of: dict[str, str] = {}
        self.n_wrapped = self.n_bare = self.n_v1 = self.n_v2 = 0

    def add(self, raw_key: str, entry: Any, *, replaces_same_spelling: bool = False) -> None:
        """Add one image entry (a later entry for the same image replaces the earlier one)."""
        log = self.log
        key = _normalise_key(raw_key, log)
        if key is None:
            return
        images = self.images
        if key in images:
            if not (replaces_same_spelling and self.raw_of[key] == raw_key):
                log.add(
                    f"same image as the earlier key {self.raw_of[key]!r}; the later entry was kept",
                    key=raw_key,
                    severity=Severity.WARNING,
                )
            del images[key]
        self.raw_of[key] = raw_key
        labels: ImageLabels = {}
        images[key] = labels
        if not isinstance(entry, dict):
            kind = "list" if isinstance(entry, list) else type(entry).__name__
            log.add(f"image entry must be an object of labels, got {kind}", key=raw_key)
            return
        if isinstance(entry.get("labels"), dict):
            self.n_wrapped += 1
            extra = sorted(k for k in entry if k != "labels")
            if extra:
                log.add(
                    f"ignored image-level field(s) {', '.join(extra)}",
                    key=raw_key,
                    severity=Severity.INFO,
                )
            label_obj: dict[str, Any] = entry["labels"]
        else:
            self.n_bare += bool(entry)
            label_obj = entry
        for name in _dups(label_obj):
            log.add(
                "label repeated for this image; the last entry was kept",
                key=raw_key,
                label=name,
                severity=Severity.WARNING,
            )
        for name, value in label_obj.items():
            self.n_v1 += isinstance(value, dict)
            self.n_v2 += isinstance(value, list)
            # One string object per label name, not one per image: big files repeat them.
            labels[sys.intern(name)] = parse_label(value, log=log, key=raw_key, name=name)

    def finish(self, known_images: Container[str] | None) -> LabelFile:
        """The label file, with format, wrapper and every problem found."""
        log = self.log
        n_v1, n_v2, n_wrapped, n_bare = self.n_v1, self.n_v2, self.n_wrapped, self.n_bare
        if n_v1 and n_v2:
            log.add(
                f"mixes v1 label objects ({n_v1}) and v2 instance lists ({n_v2}); read as v2",
                severity=Severity.INFO,
            )
        if n_wrapped and n_bare:
            log.add(
                f"{n_wrapped} image entries use the 'labels' wrapper and {n_bare} do not",
                severity=Severity.INFO,
            )
        fmt = LabelFormat.V2 if n_v2 else LabelFormat.V1
        wrapped = n_wrapped >= n_bare if (n_wrapped or n_bare) else fmt is LabelFormat.V1
        lf = LabelFile(images=self.images, format=fmt, wrapped=wrapped, source=self.source)
        lf.problems = log.problems
        lf.problems.extend(check_label_names(lf, load_registry()))
        if known_images is not None:
            lf.problems.extend(check_known_images(lf, known_images, strict=log.strict))
        return lf


def read_labels_stream(
    stream: IO[bytes],
    *,
    source: str,
    strict: bool = False,
    known_images: Container[str] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> LabelFile:
    """Read label JSON from a binary stream, one image entry at a time.

    Memory holds the result and a window of the text, never the whole file decoded: a
    200 MB file needs little more than its labels take as objects.

    Args/Returns/Raises: as :func:`read_labels`; ``on_bytes`` is called with the bytes
    read, chunk by chunk (for progress).
    """
    builder = _Builder(source, strict)
    seen: set[str] = set()
    items = iter_object_items(
        stream,
        source=source,
        object_pairs_hook=_pairs_hook,
        on_bytes=on_bytes,
        not_an_object=lambda obj: _not_an_object(obj, source),
    )
    for raw_key, entry in items:
        if raw_key in seen:
            builder.log.add(
                "image key repeated in the file; the last entry was kept",
                key=raw_key,
                severity=Severity.WARNING,
            )
        seen.add(raw_key)
        builder.add(raw_key, entry, replaces_same_spelling=True)
    return builder.finish(known_images)


def format_1dp(value: float) -> str:
    """A coordinate as the release writes it: 1 decimal, ``-0.0`` as ``0.0``.

    >>> format_1dp(123.44), format_1dp(10), format_1dp(-0.04)
    ('123.4', '10.0', '0.0')
    """
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _check_drawn(label: Label, where: tuple[str, str, str]) -> None:
    """Refuse to write a point/curve that the reader would reject (hand-built labels)."""
    problem = ""
    if not label.instances:
        problem = f"{label.state.value} label has no instances"
    for inst in label.instances:
        n = len(inst.xy)
        if label.state is LabelState.POINT and n != 1:
            problem = f"point instance has {n} nodes"
        elif label.state is LabelState.CURVE and n < 2:
            problem = f"curve instance has {n} node(s)"
        elif not np.isfinite(inst.xy).all():
            problem = "non-finite coordinate"
        elif inst.conf is not None and not 0.0 <= inst.conf <= 1.0:
            problem = f"conf {inst.conf} outside [0, 1]"
    if problem:
        file, key, name = where
        raise LabelError(f"cannot write: {problem}", file=file, key=key, field=name)


def _v1_label(label: Label, *, where: tuple[str, str, str], first_only: bool) -> dict[str, str]:
    if not label.state.drawn:
        return {"type": label.state.value, "x": "", "y": ""}
    _check_drawn(label, where)
    if len(label.instances) > 1 and not first_only:
        file, key, name = where
        raise LabelError(
            f"{len(label.instances)} instances, but v1 holds one per label "
            "(write v2, or allow keeping the first instance only)",
            file=file,
            key=key,
            field=name,
        )
    inst = label.instances[0]
    return {
        "type": label.state.value,
        "x": " ".join(format_1dp(v) for v in inst.x),
        "y": " ".join(format_1dp(v) for v in inst.y),
    }


def _v2_label(label: Label, *, where: tuple[str, str, str]) -> list[dict[str, Any]]:
    if not label.state.drawn:
        return [{"type": label.state.value, "x": [], "y": [], "straight_segment": []}]
    _check_drawn(label, where)
    out = []
    for inst in label.instances:
        flags = inst.straight or (False,) * len(inst.xy)
        item: dict[str, Any] = {
            "type": label.state.value,
            "x": [float(v) for v in inst.x],
            "y": [float(v) for v in inst.y],
            "straight_segment": [int(f) for f in flags],
        }
        if inst.conf is not None:
            item["conf"] = float(inst.conf)
        out.append(item)
    return out


def labels_to_json(
    lf: LabelFile,
    format: LabelFormat | None = None,
    *,
    wrapped: bool | None = None,
    first_instance_only: bool = False,
) -> dict[str, Any]:
    """:class:`LabelFile` -> JSON-ready dict in v1 or v2 form (see the module docstring).

    Args:
        lf: The labels.
        format: Target form; default the form ``lf`` was read in.
        wrapped: Put each image's labels under ``"labels"``; default: as read when writing
            the form ``lf`` was read in, else the target form's usual layout (v1 wrapped,
            v2 not).
        first_instance_only: For v1, keep the first instance of a multi-instance label
            instead of refusing.

    Raises:
        LabelError: for v1, if a label has several instances and ``first_instance_only``
            is False.
    """
    fmt = LabelFormat(format) if format is not None else lf.format
    if wrapped is None:
        wrapped = lf.wrapped if fmt is lf.format else fmt is LabelFormat.V1
    out: dict[str, Any] = {}
    for key, labels in lf.images.items():
        if fmt is LabelFormat.V1:
            body: dict[str, Any] = {
                name: _v1_label(label, where=(lf.source, key, name), first_only=first_instance_only)
                for name, label in labels.items()
            }
        else:
            body = {
                name: _v2_label(label, where=(lf.source, key, name))
                for name, label in labels.items()
            }
        out[key] = {"labels": body} if wrapped else body
    return out


def dumps_labels(
    lf: LabelFile,
    format: LabelFormat | None = None,
    *,
    wrapped: bool | None = None,
    first_instance_only: bool = False,
) -> str:
    """The canonical JSON text of ``lf`` (see the module docstring for the layout).

    Args/Raises: as :func:`labels_to_json`.
    """
    obj = labels_to_json(lf, format, wrapped=wrapped, first_instance_only=first_instance_only)
    try:
        return json.dumps(obj, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n"
    except ValueError as exc:  # only non-finite floats, which the reader never produces
        raise LabelError(f"cannot write: {exc}", file=lf.source) from None


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :mod:`echomark.fileio`).

    On any failure ``path`` is left as it was.

    Raises:
        LabelError: if the file or its folder cannot be written.
    """
    try:
        fileio.atomic_write_text(path, text)
    except OSError as exc:
        raise LabelError(f"cannot write: {exc.strerror or exc}", file=os.fspath(path)) from None


def write_labels(
    lf: LabelFile,
    path: str | os.PathLike[str],
    format: LabelFormat | None = None,
    *,
    wrapped: bool | None = None,
    first_instance_only: bool = False,
) -> None:
    """Write ``lf`` to ``path`` atomically in the canonical layout.

    The whole text is built before the file is touched, so a refusal (e.g. a
    multi-instance label for v1) leaves ``path`` as it was.

    Args/Raises: as :func:`labels_to_json` and :func:`atomic_write_text`.
    """
    text = dumps_labels(lf, format, wrapped=wrapped, first_instance_only=first_instance_only)
    atomic_write_text(path, text)


def v1_losses(lf: LabelFile) -> dict[str, int]:
    """What writing ``lf`` as v1 would drop or change, counted.

    Returns:
        ``{"conf": labels with a confidence, "straight_segment": curves with straight
        segments, "extra_instances": instances beyond the first, "rounded": drawn labels
        with a coordinate not already at 1 decimal}``.
    """
    counts = {"conf": 0, "straight_segment": 0, "extra_instances": 0, "rounded": 0}
    for labels in lf.images.values():
        for label in labels.values():
            if not label.state.drawn:
                continue
            counts["conf"] += any(i.conf is not None for i in label.instances)
            counts["straight_segment"] += any(i.straight for i in label.instances)
            counts["extra_instances"] += len(label.instances) - 1
            xy = label.instances[0].xy
            counts["rounded"] += any(float(format_1dp(v)) != v for v in xy.ravel())
    return counts


def label_file_from_mapping(
    images: Mapping[str, ImageLabels],
    *,
    format: LabelFormat = LabelFormat.V1,
    source: str = "<memory>",
) -> LabelFile:
    """A :class:`LabelFile` from already-typed labels (e.g. synthetic or predicted ones).

    Keys are normalised to the release spelling.

    Raises:
        ImageKeyError: if a key is malformed.
    """
    return LabelFile(
        images={ImageKey.parse(k).name: dict(v) for k, v in images.items()},
        format=format,
        wrapped=format is LabelFormat.V1,
        source=source,
    )
