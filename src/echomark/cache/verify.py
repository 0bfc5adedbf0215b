"""Checks of a png-cache: missing, corrupt, misplaced and unexpected files."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from echomark.cache.keys import ImageKey
from echomark.cache.png import PNG_MAGIC
from echomark.cache.store import FolderStore, FrameStore, ZipStore, shard_key
from echomark.errors import CacheError, ImageKeyError


class Severity(str, Enum):
    """How bad a cache problem is."""

    ERROR = "error"
    """The frame cannot be used (missing, corrupt)."""

    WARNING = "warning"
    """Suspicious but usable (stray files, gaps in a video's frame numbers)."""


@dataclass(frozen=True)
class CacheProblem:
    """One finding of :func:`verify_store`.

    Attributes:
        severity: Error or warning.
        location: The cache (folder or zip) concerned.
        item: The image key or member name concerned.
        message: What is wrong.
    """

    severity: Severity
    location: str
    item: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.item}: {self.severity.value}: {self.message}"


def _all_files(store: FrameStore) -> list[str]:
    """Every file of the cache (relative path or member name), frames or not."""
    if isinstance(store, ZipStore):
        return [n for n in store.members if not n.endswith("/")]
    if isinstance(store, FolderStore):
        root = Path(store.root)
        return sorted(
            Path(d, f).relative_to(root).as_posix() for d, _, files in os.walk(root) for f in files
        )
    return []


def layout_problem(name: str, store: FrameStore | None = None) -> tuple[Severity, str] | None:
    """Why a file in a png-cache is not a frame readers will find, or None when it is one.

    >>> k = "01-ab" + "0" * 62 + "-0001.png"
    >>> layout_problem("01/ab/00/" + k) is None
    True
    >>> layout_problem("01/cd/00/" + k)[1][:60]
    'misplaced frame: a reader looks for it at 01/ab/00/01-ab0000'
    >>> layout_problem("01/ab/00/" + k.upper())[1][:40]
    'upper-case file name: readers only find '
    >>> layout_problem("01/ab/00/notes.txt")
    (<Severity.WARNING: 'warning'>, 'stray file: not a frame of the png-cache layout')
    """
    if shard_key(name) is not None:
        return None
    base = name.rsplit("/", 1)[-1]
    parts = name.split("/")
    folder_class = next((p for p in reversed(parts[:-1]) if len(p) == 2 and p.isdigit()), None)
    for candidate, upper in ((base, False), (base.lower(), True)):
        try:
            key = ImageKey.parse(candidate, default_class=folder_class)
        except ImageKeyError:
            continue
        if not candidate.endswith(".png"):
            break
        if upper and base != candidate:
            twin = store is not None and key in store
            return (
                Severity.ERROR,
                f"upper-case file name: readers only find {key.name}"
                + (", which also exists (a duplicate)" if twin else ""),
            )
        return Severity.ERROR, f"misplaced frame: a reader looks for it at {key.relpath}"
    return Severity.WARNING, "stray file: not a frame of the png-cache layout"


def verify_store(
    store: FrameStore,
    expected_keys: Iterable[ImageKey | str] | None = None,
    *,
    decode: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> list[CacheProblem]:
    """Check every frame of a png-cache, and that ``expected_keys`` are all present.

    Args:
        store: The cache to check.
        expected_keys: Keys that must be present (e.g. every image of a label file).
        decode: Decode every PNG (slower, catches corrupt image data); when False only the
            bytes are read (zip CRCs are still checked) and the PNG signature tested.
        progress: Called as ``progress(done, total)`` after each frame.

    Returns:
        Problems found, errors first, in a stable order.
    """
    problems: list[CacheProblem] = []
    loc = store.location
    keys = store.keys()
    for i, key in enumerate(keys):
        try:
            if decode:
                store.read(key)
            elif not store.read_bytes(key).startswith(PNG_MAGIC):
                raise CacheError("not a PNG file (bad signature)")
        except CacheError as exc:
            problems.append(CacheProblem(Severity.ERROR, loc, key.name, exc.message))
        if progress is not None:
            progress(i + 1, len(keys))
    if expected_keys is not None:
        for k in sorted(
            {k if isinstance(k, ImageKey) else ImageKey.parse(k) for k in expected_keys}
        ):
            if k not in store:
                problems.append(CacheProblem(Severity.ERROR, loc, k.name, "missing from the cache"))
    for name in _all_files(store):
        found = layout_problem(name, store)
        if found is not None:
            problems.append(CacheProblem(found[0], loc, name, found[1]))
    for video, frames in store.videos().items():
        if frames != list(range(frames[0], frames[0] + len(frames))):
            problems.append(
                CacheProblem(
                    Severity.WARNING,
                    loc,
                    str(video),
                    f"frame numbers have gaps ({len(frames)} frames, last {frames[-1]:04d})",
                )
            )
    problems.sort(key=lambda p: (p.severity != Severity.ERROR, p.item))
    return problems
