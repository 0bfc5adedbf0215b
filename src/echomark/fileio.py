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


def lock_path(folder: str | os.PathLike[str]) -> Path:
    """The lock file of an output folder: hidden, beside it (so the folder stays clean)."""
    dest = Path(folder)
    return dest.parent / f".{dest.name}.lock"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on an output folder; a second holder fails at once.

    The lock is an ``flock`` on a hidden file beside the folder, removed on release. After
    locking, the file is checked to still be the one at the path, so a process that opened
    a file another one was removing cannot slip in.

    Raises:
        OutputBusyError: Another process holds the lock.
    """
    import fcntl

    from echomark.errors import OutputBusyError

    path = lock_path(folder)
    # Folders made only to hold the lock go again on release if the job left them empty.
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputBusyError(
                f"{folder}: another echomark process is writing this folder (lock {path.name}); "
                "wait for it to finish or choose another --out"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the file was replaced while we waited: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)
        for folder_made in made:  # innermost first
            try:
                folder_made.rmdir()
            except OSError:  # not empty (the job wrote there) or already gone
                break


def check_out_folder(folder: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Refuse an ``--out`` that is a file, or a non-empty folder without ``overwrite``.

    Raises:
        InputError: What is wrong and what to do instead.
    """
    from echomark.errors import InputError

    dest = Path(folder)
    if dest.exists() and not dest.is_dir():
        raise InputError("--out names an existing file; give a folder name", file=str(dest))
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise InputError(
            "--out folder is not empty; choose a new folder or pass --overwrite to replace it",
            file=str(dest),
        )
    return dest


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``folder``; on success it replaces ``folder`` whole.

    A failure leaves ``folder`` as it was (absent, or the previous result), so a reader
    never sees half an output or stale files of an earlier run mixed with new ones. The
    folder is locked (:func:`folder_lock`) while the job runs.

    Raises:
        InputError: ``folder`` is a file, or not empty and ``overwrite`` is False.
        OutputBusyError: Another process is writing ``folder``.
    """
    import shutil

    dest = check_out_folder(folder, overwrite=overwrite)
    with folder_lock(dest):
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=_TMP_SUFFIX, dir=dest.parent))
        os.chmod(tmp, 0o777 & ~_UMASK)
        try:
            yield tmp
            if dest.exists():
                old = dest.parent / f".{dest.name}.old-{os.getpid()}"
                os.replace(dest, old)
                os.replace(tmp, dest)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
