"""Frame stores: read png-cache frames from an extracted folder or straight from the zip."""

from __future__ import annotations

import os
import re
import threading
import zipfile
from abc import ABC, abstractmethod
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

from echomark.cache.keys import ImageKey, VideoCode
from echomark.cache.png import UInt8Array, decode_png
from echomark.errors import CacheError, ImageKeyError
from echomark.fileio import is_unsafe_member_name

#: ``<class>/<h0h1>/<h2h3>/<file>`` at the end of a member path.
_SHARD_RE = re.compile(
    r"(?:^|/)(?P<cls>\d{2})/(?P<a>[0-9a-f]{2})/(?P<b>[0-9a-f]{2})/(?P<file>[^/]+\.png)$"
)


def shard_key(path: str) -> ImageKey | None:
    """The image key of a path shaped ``.../<class>/<h0h1>/<h2h3>/<file>.png``, else None.

    The file may carry the class prefix or not (the seed's example omits it); a file whose
    hash does not match its shard folders is not a cache frame.

    >>> k = shard_key("png-cache/01/ab/cd/01-abcd" + "0" * 60 + "-0002.png")
    >>> (k.dataset_class, k.frame)
    ('01', 2)
    >>> shard_key("png-cache/01/ab/cd/notes.txt") is None
    True
    """
    m = _SHARD_RE.search(path)
    if m is None:
        return None
    try:
        key = ImageKey.parse(m["file"], default_class=m["cls"])
    except ImageKeyError:
        return None
    if key.dataset_class != m["cls"] or key.hex[:2] != m["a"] or key.hex[2:4] != m["b"]:
        return None
    return key


def _as_key(key: ImageKey | str) -> ImageKey:
    return key if isinstance(key, ImageKey) else ImageKey.parse(key)


class FrameStore(ABC):
    """Read-only access to the frames of a png-cache, by image key."""

    location: str

    @abstractmethod
    def _index(self) -> dict[ImageKey, str]:
        """Image key -> location of its PNG (path or member name)."""

    @abstractmethod
    def read_bytes(self, key: ImageKey | str) -> bytes:
        """The PNG bytes of one frame.

        Raises:
            CacheError: if the frame is not in the cache.
        """

    def read(self, key: ImageKey | str) -> UInt8Array:
        """The decoded frame: uint8 (H, W) grey or (H, W, 3) RGB.

        Raises:
            CacheError: if the frame is missing or its PNG is corrupt.
        """
        k = _as_key(key)
        return decode_png(self.read_bytes(k), name=f"{self.location}::{k.name}")

    def keys(self) -> list[ImageKey]:
        """Every frame in the cache, sorted."""
        return sorted(self._index())

    def videos(self) -> dict[VideoCode, list[int]]:
        """Video code -> sorted frame numbers."""
        out: dict[VideoCode, list[int]] = defaultdict(list)
        for k in self.keys():
            out[k.video].append(k.frame)
        return dict(out)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            try:
                key = ImageKey.parse(key)
            except ImageKeyError:
                return False
        return key in self._index()

    def __len__(self) -> int:
        return len(self._index())


class FolderStore(FrameStore):
    """Frames in an extracted ``png-cache`` folder.

    Args:
        root: The ``png-cache`` folder itself or a folder holding it.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        root = Path(root)
        if (root / "png-cache").is_dir():
            root = root / "png-cache"
        if not root.is_dir():
            raise CacheError("png-cache folder not found", file=str(root))
        self.root = root
        self.location = str(root)
        self._idx: dict[ImageKey, str] | None = None

    def _index(self) -> dict[ImageKey, str]:
        if self._idx is None:
            idx: dict[ImageKey, str] = {}
            for dirpath, _dirs, files in os.walk(self.root):
                for f in files:
                    full = os.path.join(dirpath, f)
                    k = shard_key(PurePosixPath(Path(full).relative_to(self.root)).as_posix())
                    if k is not None:
                        idx.setdefault(k, full)
            self._idx = idx
        return self._idx

    def read_bytes(self, key: ImageKey | str) -> bytes:
        """The PNG bytes of one frame (prefixed or unprefixed file name)."""
        k = _as_key(key)
        for rel in (k.relpath, k.relpath_unprefixed):
            p = self.root / rel
            if p.is_file():
                return p.read_bytes()
        raise CacheError("frame not in the png-cache", file=self.location, key=k.name)


class ZipStore(FrameStore):
    """Frames read straight out of ``png-cache.zip`` without extracting it.

    Random access by member; safe in forked DataLoader workers (the zip handle is reopened
    in each process) and picklable for spawned ones.

    Raises:
        CacheError: if the zip cannot be opened or holds unsafe member names.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        if not self.path.is_file():
            raise CacheError("zip file not found", file=self.location)
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1
        self._lock = threading.Lock()
        try:
            names = self._handle().namelist()
        except zipfile.BadZipFile as exc:
            raise CacheError(f"not a zip file ({exc})", file=self.location) from None
        idx: dict[ImageKey, str] = {}
        for name in names:
            if is_unsafe_member_name(name):
                raise CacheError(f"unsafe zip member name {name!r}", file=self.location)
            k = shard_key(name)
            if k is not None:
                idx.setdefault(k, name)
        self._idx = idx
        self.members = names

    def _handle(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            self._zip = zipfile.ZipFile(self.path)
            self._pid = os.getpid()
        return self._zip

    def _index(self) -> dict[ImageKey, str]:
        return self._idx

    def read_bytes(self, key: ImageKey | str) -> bytes:
        """The PNG bytes of one frame, read from its zip member (CRC checked)."""
        k = _as_key(key)
        member = self._idx.get(k)
        if member is None:
            raise CacheError("frame not in the png-cache zip", file=self.location, key=k.name)
        with self._lock:
            try:
                return self._handle().read(member)
            except (zipfile.BadZipFile, OSError) as exc:
                raise CacheError(
                    f"cannot read zip member ({exc})", file=self.location, key=k.name
                ) from None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_zip"] = None
        state["_pid"] = -1
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def open_store(path: str | os.PathLike[str]) -> FrameStore:
    """Open a png-cache: ``png-cache.zip``, a ``png-cache`` folder, or a folder holding either.

    Raises:
        CacheError: if nothing usable is found at ``path``.
    """
    p = Path(path)
    if p.is_file():
        return ZipStore(p)
    if p.is_dir():
        has_classes = any(c.is_dir() and re.fullmatch(r"\d{2}", c.name) for c in p.iterdir())
        if (p / "png-cache").is_dir() or has_classes:
            return FolderStore(p)
        if (p / "png-cache.zip").is_file():
            return ZipStore(p / "png-cache.zip")
    raise CacheError("no png-cache folder or png-cache.zip here", file=str(p))
