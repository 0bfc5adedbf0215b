"""Release splits (``labels-<split>.json`` + ``.txt``) from labels.zip, a folder or a file.

The zip is read in place (nothing is extracted); member names that are absolute or contain
``..`` are refused.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Container, Mapping
from pathlib import Path, PurePosixPath

from echomark.cache.keys import ImageKey, strip_duplicate_suffix
from echomark.errors import ImageKeyError, LabelError
from echomark.fileio import is_unsafe_member_name
from echomark.labels.io import atomic_write_text, read_file_bytes, read_labels
from echomark.labels.schema import LabelFile, LabelProblem, Severity

#: The splits of the release: ``all`` = train ∪ tune ∪ ival (class 01).
SPLITS = ("all", "train", "tune", "ival")
_SPLIT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SPLIT_FILE_RE = re.compile(r"^labels-([a-z0-9][a-z0-9_-]*)\.json$")


def split_file_name(split: str, suffix: str = ".json") -> str:
    """``labels-<split>.json`` (or ``.txt``).

    Raises:
        LabelError: if the split name has characters other than ``a-z 0-9 _ -``.

    >>> split_file_name("train"), split_file_name("ival", ".txt")
    ('labels-train.json', 'labels-ival.txt')
    """
    if not _SPLIT_RE.match(split):
        raise LabelError(f"bad split name {split!r}; the release has {', '.join(SPLITS)}")
    return f"labels-{split}{suffix}"


def is_zip_file(path: Path) -> bool:
    """True for an existing file named ``*.zip`` or holding a zip archive."""
    return path.is_file() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path))


class _Zip:
    """An opened labels zip whose member names were all checked for safety."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise LabelError(f"not a readable zip file: {exc}", file=self.path) from None
        self.names = [n for n in self.zf.namelist() if not n.endswith("/")]
        for name in self.names:
            if is_unsafe_member_name(name):
                raise LabelError(
                    f"unsafe zip member name {name!r} (absolute or '..')", file=self.path
                )

    def __enter__(self) -> _Zip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zf.close()

    def find(self, base: str) -> str | None:
        """The one member whose file name is ``base`` (at any depth), or None."""
        hits = [
            n for n in self.names if PurePosixPath(n).name == base and not n.startswith("__MACOSX/")
        ]
        if len(hits) > 1:
            raise LabelError(f"several members named {base}: {', '.join(hits)}", file=self.path)
        return hits[0] if hits else None

    def read(self, member: str) -> bytes:
        try:
            return self.zf.read(member)
        except (zipfile.BadZipFile, OSError, KeyError) as exc:
            raise LabelError(f"cannot read member: {exc}", file=f"{self.path}::{member}") from None


def _find_in_folder(folder: Path, base: str) -> Path | None:
    hits = sorted(folder.glob(base)) or sorted(folder.glob(f"*/{base}"))
    hits = [h for h in hits if h.is_file()]
    if len(hits) > 1:
        raise LabelError(f"several files named {base}", file=str(folder))
    return hits[0] if hits else None


def _split_files_in_folder(folder: Path) -> list[str]:
    """File names ``labels-*.json`` in ``folder`` or one level down."""
    return [h.name for h in [*folder.glob("labels-*.json"), *folder.glob("*/labels-*.json")]]


def available_splits(labels_path: str | os.PathLike[str]) -> list[str]:
    """Splits present as ``labels-<split>.json`` in a zip or folder (release ones first).

    A single JSON file gives ``[]``.

    Raises:
        LabelError: if the path does not exist or is an unreadable/unsafe zip.
    """
    p = Path(labels_path)
    if is_zip_file(p):
        with _Zip(p) as z:
            bases = [PurePosixPath(n).name for n in z.names if not n.startswith("__MACOSX/")]
    elif p.is_dir():
        bases = _split_files_in_folder(p)
        if not bases and (p / "labels.zip").is_file():
            return available_splits(p / "labels.zip")
    elif p.is_file():
        return []
    else:
        raise LabelError("no such file or folder", file=str(p))
    found = {m[1] for b in bases if (m := _SPLIT_FILE_RE.match(b))}
    return [s for s in SPLITS if s in found] + sorted(found - set(SPLITS))


def read_split(
    labels_path: str | os.PathLike[str],
    split: str | None = "all",
    *,
    strict: bool = False,
    known_images: Container[str] | None = None,
    progress: bool = False,
) -> LabelFile:
    """Read one split's labels from labels.zip, a folder, or a single ``.json`` file.

    Args:
        labels_path: ``labels.zip`` (read in place), a folder holding
            ``labels-<split>.json`` (directly or one level down) or ``labels.zip``, or a
            JSON file (then ``split`` is ignored).
        split: ``all``, ``train``, ``tune``, ``ival`` (or another ``labels-<name>.json``
            present, e.g. ``external``); None means ``all``.
        strict: Raise on the first unusable entry (see :func:`~echomark.labels.io.read_labels`).
        known_images: Image names in the png-cache; keys not in it are reported.
        progress: Show reading progress of a plain JSON file on stderr.

    Returns:
        The labels, with :attr:`LabelFile.source` ``<zip>::<member>`` or the file path.

    Raises:
        LabelError: if the path or split is missing, a zip member name is unsafe, or the
            file is not valid label JSON.
    """
    p = Path(labels_path)
    base = split_file_name(split or "all")
    if is_zip_file(p) or p.is_dir():
        got = _read_named(p, base)
        if got is None and p.is_dir() and (p / "labels.zip").is_file():
            return read_split(p / "labels.zip", split, strict=strict, known_images=known_images)
        if got is None:
            where = "zip" if is_zip_file(p) else "folder"
            have = available_splits(p)
            raise LabelError(
                f"no {base} in the {where} (splits present: {', '.join(have) or 'none'})",
                file=str(p),
            )
        src, data = got
        return read_labels(data, source=src, strict=strict, known_images=known_images)
    if not p.is_file():
        raise LabelError("no such file or folder", file=str(p))
    return read_labels(
        p, source=str(p), strict=strict, known_images=known_images, progress=progress
    )


def parse_list(text: str) -> list[str]:
    r"""Image keys from ``.txt`` list text, in order.

    One key per line; blank lines are skipped and surrounding whitespace (and ``\r``) is
    stripped.

    >>> parse_list("a.png\r\n\n b.png \n")
    ['a.png', 'b.png']
    """
    return [s for line in text.splitlines() if (s := line.strip())]


def _read_named(p: Path, base: str) -> tuple[str, bytes] | None:
    """``(source, bytes)`` of the one file named ``base`` in a zip or folder, or None."""
    if is_zip_file(p):
        with _Zip(p) as z:
            found = z.find(base)
            return None if found is None else (f"{p}::{found}", z.read(found))
    hit = _find_in_folder(p, base)
    return None if hit is None else (str(hit), read_file_bytes(hit, str(hit)))


def _decode_list(data: bytes, src: str) -> list[str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelError(f"not UTF-8 text (bad byte at offset {exc.start})", file=src) from None
    return parse_list(text)


def read_list(path_or_zip: str | os.PathLike[str], member: str | None = None) -> list[str]:
    """Read a ``.txt`` image list from a file, a folder or a zip.

    Args:
        path_or_zip: A ``.txt`` file; or a zip / folder holding ``member``.
        member: File name inside the zip (found at any depth) or folder, e.g.
            ``labels-train.txt``; required unless ``path_or_zip`` is the file itself.

    Raises:
        LabelError: if the list is missing, unreadable, not UTF-8, or the zip is unsafe.
    """
    p = Path(path_or_zip)
    if is_zip_file(p) or p.is_dir():
        if member is None:
            raise LabelError(
                "which list? give the member name (e.g. labels-train.txt)", file=str(p)
            )
        got = _read_named(p, PurePosixPath(member).name)
        if got is None:
            where = "zip" if is_zip_file(p) else "folder"
            raise LabelError(f"no {member} in the {where}", file=str(p))
        src, data = got
    elif p.is_file():
        src = str(p)
        data = read_file_bytes(p, src)
    else:
        raise LabelError("no such file or folder", file=str(p))
    return _decode_list(data, src)


def read_split_list(labels_path: str | os.PathLike[str], split: str) -> list[str] | None:
    """The ``labels-<split>.txt`` list beside the split's JSON, or None if there is none.

    Raises:
        LabelError: if the list exists but cannot be read.
    """
    p = Path(labels_path)
    if p.is_dir() and not _split_files_in_folder(p) and (p / "labels.zip").is_file():
        p = p / "labels.zip"
    if not (is_zip_file(p) or p.is_dir()):
        txt = p.with_suffix(".txt")
        return read_list(txt) if txt.is_file() else None
    got = _read_named(p, split_file_name(split, ".txt"))
    return None if got is None else _decode_list(got[1], got[0])


def write_list(path: str | os.PathLike[str], keys: list[str]) -> None:
    """Write an image list (one key per line, LF endings) atomically."""
    atomic_write_text(path, "".join(f"{k}\n" for k in keys))


def _norm(key: str) -> str:
    try:
        return ImageKey.parse(key).name
    except ImageKeyError:
        return strip_duplicate_suffix(key.strip())


def check_list(lf: LabelFile, keys: list[str], list_name: str) -> list[LabelProblem]:
    """WARNING problems where a ``.txt`` list and its JSON disagree (keys normalised)."""
    listed = {_norm(k) for k in keys}
    out = [
        LabelProblem(f"in the JSON but not in {list_name}", lf.source, k, None, Severity.WARNING)
        for k in lf.images
        if k not in listed
    ]
    out += [
        LabelProblem(
            f"listed in {list_name} but not in the JSON", lf.source, k, None, Severity.WARNING
        )
        for k in sorted(listed - set(lf.images))
    ]
    return out


def check_splits(files: Mapping[str, LabelFile]) -> list[LabelProblem]:
    """Consistency of the release splits that are present in ``files`` (split -> labels).

    * an image in two of train/tune/ival: ERROR (frame leak);
    * a video (64-hex code) in two of them: WARNING, once per video and split (video-level leak;
      the reference's own split is by video);
    * ``all`` not equal to train ∪ tune ∪ ival (when all four are present): WARNING.
    """
    out: list[LabelProblem] = []
    parts = [s for s in ("train", "tune", "ival") if s in files]
    owner: dict[str, str] = {}
    video_owner: dict[str, str] = {}
    reported: set[tuple[str, str]] = set()
    for split in parts:
        lf = files[split]
        for key in lf.images:
            if key in owner and owner[key] != split:
                out.append(
                    LabelProblem(
                        f"image also in {owner[key]} (frame leak)",
                        lf.source,
                        key,
                        None,
                        Severity.ERROR,
                    )
                )
            owner.setdefault(key, split)
            video = key.rsplit("-", 1)[0]
            other = video_owner.setdefault(video, split)
            if other != split and (video, split) not in reported:
                reported.add((video, split))
                out.append(
                    LabelProblem(
                        f"video also in {other} (video-level leak)",
                        lf.source,
                        key,
                        None,
                        Severity.WARNING,
                    )
                )
    if "all" in files and len(parts) == 3:
        all_keys = set(files["all"].images)
        for key in sorted(all_keys - owner.keys()):
            out.append(
                LabelProblem(
                    "in all but in none of train/tune/ival",
                    files["all"].source,
                    key,
                    None,
                    Severity.WARNING,
                )
            )
        for key in sorted(owner.keys() - all_keys):
            out.append(
                LabelProblem(
                    f"in {owner[key]} but not in all",
                    files["all"].source,
                    key,
                    None,
                    Severity.WARNING,
                )
            )
    return out
