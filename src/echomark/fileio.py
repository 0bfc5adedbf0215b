"""Atomic file writes (temp file in the same folder, then rename) and safe zip member names."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

_UMASK = os.umask(0)
os.umask(_UMASK)


#: Ending of atomic_path's temporary files, which start with ``.<destination name>.``.
_TMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched, so a
    reader never sees a half-written file.

    Args:
        path: Final destination. Its parent folder is created if needed.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=_TMP_SUFFIX, dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def stale_temps(folder: str | os.PathLike[str], name_prefix: str) -> list[Path]:
    """Temporary files that a killed :func:`atomic_path` left in ``folder``.

    Args:
        folder: Where the destinations live.
        name_prefix: Only temporaries of destinations whose names start with this.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / ".a-1.png.x1.tmp").write_bytes(b""), (d / "a-1.png").write_bytes(b"")
    >>> [p.name for p in stale_temps(d, "a-")], stale_temps(d / "none", "a-")
    (['.a-1.png.x1.tmp'], [])
    """
    return sorted(Path(folder).glob(f".{glob.escape(name_prefix)}*{_TMP_SUFFIX}"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (newlines written as given)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def is_unsafe_member_name(name: str) -> bool:
    """True for a zip member name that is absolute, has a drive, a ``..`` part or a NUL.

    Such a name could escape a folder if the zip were ever extracted.

    >>> is_unsafe_member_name("png-cache/01/ab/cd/x.png"), is_unsafe_member_name("a/../../x")
    (False, True)
    """
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return (
        name.startswith(("/", "\\"))
        or re.match(r"^[A-Za-z]:", name) is not None
        or ".." in parts
        or "\x00" in name
    )
