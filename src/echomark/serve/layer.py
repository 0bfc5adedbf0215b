"""The editable label layer of one rater: per-frame versions, user/time stamps, atomic saves."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from echomark import fileio
from echomark.errors import LabelConflictError, LabelError
from echomark.labels.io import decode_json_bytes, labels_from_json, labels_to_json
from echomark.labels.schema import ImageLabels, LabelFile, LabelFormat
from echomark.labels.validate import ProblemLog, parse_label

_fcntl: ModuleType | None
try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - not POSIX
    _fcntl = None

#: What a saved label carries besides its geometry: who set it and when (UTC, ISO 8601).
STAMP_FIELDS = ("user", "time")


@dataclass(frozen=True)
class Stamp:
    """Who last changed a label and when.

    Attributes:
        user: The rater's name as given to ``echomark serve --user``.
        time: UTC time of the save, ``YYYY-MM-DDTHH:MM:SSZ``.
    """

    user: str
    time: str


def utc_now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def frame_version(body: Mapping[str, Any]) -> str:
    """A short content hash of one frame's saved JSON body (its version for saves).

    Content-derived, so it survives a server restart and needs no counter on disk.

    >>> frame_version({}) == frame_version({})
    True
    >>> len(frame_version({"a": [1]}))
    16
    """
    text = json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_frame_labels(
    raw: object, *, key: str, known: Callable[[str], bool], source: str = "<request>"
) -> ImageLabels:
    """Labels of one frame in the v2 instance form (as the browser sends them) -> typed labels.

    Args:
        raw: ``{name: [{"type", "x", "y", "straight_segment"}]}``; v1 objects are read too.
        key: The image key, for messages.
        known: Whether a label name may be saved (registry names).
        source: Where the body came from, for messages.

    Raises:
        LabelError: naming the label and what is wrong, for the first unusable entry.
    """
    if not isinstance(raw, dict):
        raise LabelError("labels must be an object of label name -> instances", key=key)
    log = ProblemLog(source, strict=True)
    out: ImageLabels = {}
    for name, value in raw.items():
        if not known(name):
            raise LabelError("label name is not in the registry", file=source, key=key, field=name)
        out[name] = parse_label(value, log=log, key=key, name=name)
    return out


class LabelLayer:
    """The label file one rater edits, kept in memory and saved atomically on every change.

    The file is written in the v2 instance form (``echomark.labels.io``'s canonical layout),
    each instance carrying the ``user`` and ``time`` of its last change. Saves check a
    per-frame version so that two browsers cannot silently overwrite each other. Frames
    that were not edited are written back as they were read.

    Args:
        path: The JSON file; created on the first save if missing.
        user: The rater; stamped on every label this layer saves.

    Raises:
        LabelError: if the file exists but is unreadable, invalid, or in the v1 form.
    """

    def __init__(self, path: str | os.PathLike[str], user: str) -> None:
        self.path = Path(path)
        self.user = user
        self._lock = threading.Lock()
        self._sig: tuple[int, int, int] | None = None
        self.wrapped = False
        self._clear()
        self._refresh_locked()

    def _clear(self) -> None:
        self._labels: dict[str, ImageLabels] = {}
        # The frame's JSON as in the file (unwrapped); canonical v2 for frames saved here.
        self._raw: dict[str, Any] = {}
        # Canonical v2 bodies with stamps, built on first use (a release-sized file has
        # thousands of frames that a session never opens).
        self._canon: dict[str, dict[str, Any]] = {}
        # Each frame's serialised file entry, so that a save re-serialises one frame only.
        self._texts: dict[str, str] = {}

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def refresh(self) -> bool:
        """Re-read the file if something else replaced it since this layer read or wrote it.

        Another server (or a script) saving the same file is then seen before the next
        save, so its edits are neither hidden nor overwritten.

        Returns:
            True when the file was re-read.

        Raises:
            LabelError: if the new file is unreadable or invalid.
        """
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> bool:
        if self._signature() == self._sig:
            return False
        self._clear()
        self._sig = None
        try:
            with open(self.path, "rb") as f:
                sig = os.fstat(f.fileno())
                data = f.read()
        except FileNotFoundError:
            return True
        except OSError as exc:
            raise LabelError(f"cannot read: {exc.strerror or exc}", file=str(self.path)) from None
        self._load(data)
        self._sig = (sig.st_mtime_ns, sig.st_size, sig.st_ino)
        return True

    def _load(self, data: bytes) -> None:
        src = str(self.path)
        obj = decode_json_bytes(data, src)
        lf = labels_from_json(obj, source=src, strict=True)
        if lf.format is not LabelFormat.V2 and lf.images:
            raise LabelError(
                "this is a v1 (release form) file; the annotator saves the v2 instance form. "
                "Show it read-only with --layer, or convert it first "
                "(echomark labels convert IN OUT --to v2)",
                file=src,
            )
        self.wrapped = lf.wrapped if lf.images else False
        for key, labels in lf.images.items():
            self._labels[key] = labels
            entry = obj.get(key)
            raw = entry.get("labels") if self.wrapped and isinstance(entry, dict) else entry
            if isinstance(raw, dict) and raw.keys() == labels.keys():
                self._raw[key] = raw
            else:  # written under another spelling of the key: keep the parsed labels
                self._raw[key] = _canonical(key, labels)

    def keys(self) -> list[str]:
        """Image keys with labels in this layer."""
        return list(self._labels)

    def labels(self, key: str) -> ImageLabels:
        """The labels of ``key`` (empty when it has none)."""
        return self._labels.get(key, {})

    def body(self, key: str) -> dict[str, Any]:
        """The saved labels of ``key`` as canonical v2 JSON with stamps (empty when none)."""
        if key not in self._labels:
            return {}
        if key not in self._canon:
            body = _canonical(key, self._labels[key])
            for name, stamp in self.stamps(key).items():
                for inst in body[name]:
                    inst.update({"user": stamp.user, "time": stamp.time})
            self._canon[key] = body
        return self._canon[key]

    def version(self, key: str) -> str:
        """The current version of ``key``'s labels."""
        return frame_version(self.body(key))

    def stamps(self, key: str) -> dict[str, Stamp]:
        """Label name -> who changed it last and when, for labels that carry a stamp."""
        out = {}
        raw = self._raw.get(key, {})
        for name, instances in raw.items():
            stamp = _first_stamp(instances)
            if stamp is not None:
                out[name] = stamp
        return out

    def raters(self) -> set[str]:
        """Every user stamped on some label of this layer."""
        return {s.user for key in self._raw for s in self.stamps(key).values()}

    def put(self, key: str, base_version: str, labels: ImageLabels) -> str:
        """Replace the labels of ``key`` and save the whole file atomically.

        Labels equal to what is saved keep their stamp; changed or new ones get this
        layer's user and the current time. An empty ``labels`` removes the frame.

        Args:
            key: Image key (release spelling).
            base_version: The version the editor started from.
            labels: The frame's complete new labels.

        Returns:
            The new version.

        Raises:
            LabelConflictError: if ``base_version`` is not the current version.
            LabelError: if a label cannot be written or the file cannot be saved.
        """
        with self._lock, _folder_lock(self.path.parent):
            self._refresh_locked()
            current = self.version(key)
            if base_version != current:
                raise LabelConflictError(
                    "the labels of this frame changed since they were loaded "
                    f"(version {base_version} is not the current {current})",
                    key=key,
                )
            old_labels = self.labels(key)
            old_stamps = self.stamps(key)
            body = _canonical(key, labels, source=str(self.path)) if labels else {}
            now = utc_now()
            for name, instances in body.items():
                keep = old_stamps.get(name) if old_labels.get(name) == labels[name] else None
                stamp = keep or Stamp(self.user, now)
                for inst in instances:
                    inst.update({"user": stamp.user, "time": stamp.time})
            if body == self.body(key):
                return current  # nothing changed: the file is not rewritten
            texts = {k: self._text(k) for k in self._labels if k != key}
            if body:
                texts[key] = self._entry_text(body)
            self._write(texts)
            # Memory follows the disk only once the file is safely replaced.
            self._texts = texts
            if body:
                self._labels[key], self._raw[key], self._canon[key] = dict(labels), body, body
            else:
                for store in (self._labels, self._raw, self._canon):
                    store.pop(key, None)
            return frame_version(body)

    def _entry_text(self, raw: Any) -> str:
        entry = {"labels": raw} if self.wrapped else raw
        try:
            return json.dumps(entry, sort_keys=True, ensure_ascii=True, allow_nan=False)
        except ValueError as exc:
            raise LabelError(f"cannot write: {exc}", file=str(self.path)) from None

    def _text(self, key: str) -> str:
        if key not in self._texts:
            self._texts[key] = self._entry_text(self._raw[key])
        return self._texts[key]

    def _write(self, texts: Mapping[str, str]) -> None:
        # The same bytes as json.dumps(whole, sort_keys=True), built from per-frame texts.
        text = "{" + ", ".join(f"{json.dumps(k)}: {texts[k]}" for k in sorted(texts)) + "}\n"
        try:
            with fileio.atomic_path(self.path) as tmp, open(tmp, "wb") as f:
                f.write(text.encode("utf-8"))
                f.flush()
                # A rater's work must survive a power cut too, not only a killed process.
                os.fsync(f.fileno())
        except OSError as exc:
            raise LabelError(f"cannot write: {exc.strerror or exc}", file=str(self.path)) from None
        self._sig = self._signature()

    def export_text(self, fmt: LabelFormat) -> str:
        """The whole layer as JSON text in ``fmt`` (v1: the release form, stamps dropped).

        Raises:
            LabelError: for v1, if a label has several instances.
        """
        if fmt is LabelFormat.V2:
            obj = {
                k: ({"labels": self.body(k)} if self.wrapped else self.body(k))
                for k in self._labels
            }
            return json.dumps(obj, sort_keys=True, ensure_ascii=True) + "\n"
        lf = LabelFile(dict(self._labels), LabelFormat.V2, False, str(self.path))
        obj = labels_to_json(lf, LabelFormat.V1)
        return json.dumps(obj, sort_keys=True, ensure_ascii=True) + "\n"


def _canonical(key: str, labels: ImageLabels, source: str = "<memory>") -> dict[str, Any]:
    body: dict[str, Any] = labels_to_json(
        LabelFile({key: labels}, source=source), LabelFormat.V2, wrapped=False
    )[key]
    return body


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``folder`` (POSIX; a no-op elsewhere).

    Two processes saving label files there then cannot interleave their read-check-write.
    """
    if _fcntl is None:  # pragma: no cover - not POSIX
        yield
        return
    fcntl = _fcntl
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _first_stamp(instances: object) -> Stamp | None:
    if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
        return None
    user, time = instances[0].get("user"), instances[0].get("time")
    if isinstance(user, str) and isinstance(time, str):
        return Stamp(user, time)
    return None
