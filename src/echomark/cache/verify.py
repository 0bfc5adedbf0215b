"""Checks of a png-cache: missing, corrupt, misplaced and unexpected files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from echomark.cache.keys import ImageKey
from echomark.cache.png import PNG_MAGIC
from echomark.cache.store import FrameStore, ZipStore, shard_key
from echomark.errors import CacheError


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
    if isinstance(store, ZipStore):
        for name in store.members:
            if not name.endswith("/") and shard_key(name) is None:
                problems.append(
                    CacheProblem(Severity.WARNING, loc, name, "not a frame in the png-cache layout")
                )
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
