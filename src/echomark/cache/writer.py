"""Writing a png-cache: frames into the sharded folder layout, and a deterministic zip."""

from __future__ import annotations

import functools
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from echomark.cache.keys import ImageKey
from echomark.cache.png import DEFAULT_COMPRESS_LEVEL, encode_png
from echomark.fileio import atomic_path, atomic_write_bytes

#: Fixed member timestamp so the same frames always give a byte-identical zip.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


class CacheWriter:
    """Writes frames into ``out_dir/png-cache/<class>/<h0h1>/<h2h3>/<key>.png``.

    Each frame is written atomically, so an interrupted run leaves only whole PNGs and a
    resumed run can skip frames that :meth:`exists`.

    Args:
        out_dir: Dataset folder; frames go under ``out_dir/png-cache``.
        compress_level: zlib level for the PNGs.
    """

    def __init__(
        self, out_dir: str | os.PathLike[str], compress_level: int = DEFAULT_COMPRESS_LEVEL
    ) -> None:
        self.root = Path(out_dir) / "png-cache"
        self.compress_level = compress_level

    def path(self, key: ImageKey) -> Path:
        """Where the PNG of ``key`` goes."""
        return self.root / key.relpath

    def exists(self, key: ImageKey) -> bool:
        """True when the frame has already been written."""
        return self.path(key).is_file()

    def write(self, key: ImageKey, image: npt.NDArray[np.generic]) -> Path:
        """Encode and write one frame; returns its path."""
        return self.write_png(key, encode_png(image, self.compress_level))

    def write_png(self, key: ImageKey, png: bytes) -> Path:
        """Write already-encoded PNG bytes for ``key``; returns its path."""
        dest = self.path(key)
        atomic_write_bytes(dest, png)
        return dest


def add_member(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Add one member with the fixed timestamp and Unix 0644 mode (reproducible bytes)."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.external_attr = 0o644 << 16
    info.create_system = 3
    zf.writestr(info, data)


def _write_members(
    zip_path: str | os.PathLike[str],
    members: list[tuple[str, Callable[[], bytes]]],
    compression: int = zipfile.ZIP_STORED,
) -> None:
    """Write ``(arcname, loader)`` members in the given order; data is loaded one at a time."""
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", compression) as zf:
        for name, load in members:
            add_member(zf, name, load())


def write_zip(
    zip_path: str | os.PathLike[str],
    members: Iterable[tuple[str, bytes]],
    *,
    compression: int = zipfile.ZIP_STORED,
) -> None:
    """Write a deterministic zip: members sorted by name, fixed timestamps, stored.

    PNGs are already deflated, so storing them costs little space and makes random access
    cheap. The zip appears atomically.

    Args:
        zip_path: Destination.
        members: ``(arcname, data)`` pairs (POSIX names).
        compression: ``zipfile.ZIP_STORED`` (default) or ``zipfile.ZIP_DEFLATED`` (text).
    """
    items = sorted(members, key=lambda m: m[0])
    loaders: list[tuple[str, Callable[[], bytes]]] = [
        (name, functools.partial(bytes, data)) for name, data in items
    ]
    _write_members(zip_path, loaders, compression)


def zip_folder(folder: str | os.PathLike[str], zip_path: str | os.PathLike[str]) -> int:
    """Zip a dataset folder's ``png-cache`` tree into ``zip_path`` (release layout).

    Files are read one at a time while writing, so memory stays flat for any cache size.

    Args:
        folder: The folder holding ``png-cache/`` (or the ``png-cache`` folder itself).
        zip_path: Destination, e.g. ``DIR/png-cache.zip``; members are ``png-cache/...``.

    Returns:
        The number of files zipped.
    """
    root = Path(folder)
    if root.name != "png-cache" and (root / "png-cache").is_dir():
        root = root / "png-cache"
    files = sorted(
        (f"png-cache/{p.relative_to(root).as_posix()}", p)
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    _write_members(zip_path, [(name, p.read_bytes) for name, p in files])
    return len(files)
