"""Prediction inputs: PNG files, folders, png-cache stores with a key list, and DICOM cines.

Every input becomes a list of :class:`InputFrame` objects: an output key, the video it
belongs to (for neighbour frames and animations), its frame index, and a loader. Nothing
here imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from echomark.cache.keys import ImageKey
from echomark.cache.png import decode_png
from echomark.cache.store import open_store
from echomark.dicom.codes import file_code
from echomark.dicom.memory import ADHOC_CLASS, curate_in_memory
from echomark.dicom.read import is_dicom_file
from echomark.errors import ImageKeyError, InputError

UInt8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class InputFrame:
    """One frame to predict.

    Attributes:
        key: Output key (image key ``<class>-<64hex>-<NNNN>.png`` where known, else the
            file name).
        video: Video (cine) identifier; frames of one video share it.
        index: Frame number within the video.
        load: Returns the frame as uint8 (H, W) or (H, W, 3).
        neighbour: Returns the frame ``offset`` frames away in the same video, or None
            where there is none (multi-frame models); None when the input has no videos.
        source: The input file or store it came from (for the key map of ad-hoc inputs).
    """

    key: str
    video: str
    index: int
    load: Callable[[], UInt8Array]
    neighbour: Callable[[int], UInt8Array | None] | None = None
    source: str = ""


def _read_png_file(path: Path) -> UInt8Array:
    try:
        return decode_png(path.read_bytes(), name=str(path))
    except OSError as exc:
        raise InputError(f"cannot read image: {exc}", file=str(path)) from None


def check_png_header(path: Path) -> None:
    """Refuse a file that is not a PNG or whose header declares an impossible size.

    Only the first bytes are read, so a batch finds such files before predicting anything.

    Raises:
        CacheError: not a PNG, no header, or larger than echomark reads.
    """
    from echomark.cache.png import PNG_MAGIC, check_image_size, png_size
    from echomark.errors import CacheError

    try:
        with path.open("rb") as f:
            head = f.read(33)
    except OSError as exc:
        raise InputError(f"cannot read image: {exc.strerror or exc}", file=str(path)) from None
    if not head.startswith(PNG_MAGIC):
        raise CacheError("not a PNG file (bad signature)", file=str(path))
    size = png_size(head)
    if size is None:
        raise CacheError("truncated PNG (no image header)", file=str(path))
    check_image_size(*size, name=str(path))


def png_file_frames(
    paths: Sequence[Path], *, on_error: Callable[[str, InputError], None] | None = None
) -> list[InputFrame]:
    """Frames from PNG files.

    Release-style names keep their image key and video. Other files get the key
    ``00-<sha256 of the file>-0000.png`` (label files only hold image keys; see
    :attr:`InputFrame.source` for the file it came from). A file whose header is bad is
    reported to ``on_error`` and skipped (raised without ``on_error``).
    """
    parsed = []
    for path in sorted(paths):
        try:
            check_png_header(path)
        except InputError as exc:
            if on_error is None:
                raise
            on_error(str(path), exc)
            continue
        try:
            key = ImageKey.parse(path.name)
            parsed.append((path, key.name, str(key.video), key.frame))
        except ImageKeyError:
            adhoc = ImageKey(ADHOC_CLASS, file_code(path), 0)
            parsed.append((path, adhoc.name, str(adhoc.video), 0))
    by_video = {(video, index): path for path, _, video, index in parsed}
    out = []
    for path, name, video, index in parsed:

        def load(p: Path = path) -> UInt8Array:
            return _read_png_file(p)

        def neighbour(off: int, v: str = video, i: int = index) -> UInt8Array | None:
            p = by_video.get((v, i + off))
            return None if p is None else _read_png_file(p)

        out.append(InputFrame(name, video, index, load, neighbour, str(path)))
    return out


def cine_frames(video: str, frames: Mapping[int, UInt8Array], source: str) -> list[InputFrame]:
    """Frames of one in-memory cine; neighbours are the other frames held.

    Args:
        video: Video code ``<class>-<64hex>`` (keys are ``<video>-<NNNN>.png``).
        frames: Frame number -> uint8 frame.
        source: Where the cine came from (each frame's source is ``<source>#frame<N>``).
    """
    cls, hexcode = video.split("-", 1)
    out = []
    for i, arr in sorted(frames.items()):

        def load(a: UInt8Array = arr) -> UInt8Array:
            return a

        def neighbour(off: int, i: int = i) -> UInt8Array | None:
            return frames.get(i + off)

        key = ImageKey(cls, hexcode, i).name
        out.append(InputFrame(key, video, i, load, neighbour, f"{source}#frame{i}"))
    return out


def dicom_frames(
    path: Path, frames: str | None = None, *, ocr: bool = True, force: bool = False
) -> list[InputFrame]:
    """Frames of one DICOM file (all unless ``frames`` selects some), in the order asked for.

    Decoded and masked exactly as curation writes them
    (:func:`echomark.dicom.memory.curate_in_memory`, OCR as ``ocr`` says), so a DICOM is
    predicted on the pixels ``echomark curate`` would store and ``echomark measure`` measures.
    A file that is not ultrasound is refused unless ``force``.
    """
    cine = curate_in_memory(path, frames=frames, ocr=ocr, force=force)
    out = cine_frames(cine.video, cine.frames, str(path))
    order = {i: n for n, i in enumerate(cine.frames)}
    return sorted(out, key=lambda f: order[f.index])


def store_frames(path: Path, keys: Sequence[str] | None = None) -> list[InputFrame]:
    """Frames of a png-cache folder or zip, optionally only ``keys`` (in that order).

    Raises:
        InputError: if a listed key is not in the store.
    """
    store = open_store(path)
    if keys is None:
        chosen = sorted(store.keys())
    else:
        chosen = []
        for k in keys:
            try:
                ik = ImageKey.parse(k)
            except ImageKeyError as exc:
                raise InputError(exc.message, file=str(path), key=k) from None
            if ik not in store:
                raise InputError("listed image is not in the png-cache", file=str(path), key=k)
            chosen.append(ik)
    out = []
    for ik in chosen:

        def load(k: ImageKey = ik) -> UInt8Array:
            return store.read(k)

        def neighbour(off: int, k: ImageKey = ik) -> UInt8Array | None:
            j = k.frame + off
            if not 0 <= j <= 9999:
                return None
            nk = ImageKey(k.dataset_class, k.hex, j)
            return store.read(nk) if nk in store else None

        out.append(InputFrame(ik.name, str(ik.video), ik.frame, load, neighbour, str(path)))
    return out


def _is_store_folder(path: Path) -> bool:
    if (path / "png-cache").is_dir() or (path / "png-cache.zip").is_file():
        return True
    return any(c.is_dir() and len(c.name) == 2 and c.name.isdigit() for c in path.iterdir())


def collect_frames(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    keys: Sequence[str] | None = None,
    frames: str | None = None,
    ocr: bool = True,
    force: bool = False,
    on_error: Callable[[str, InputError], None] | None = None,
) -> list[InputFrame]:
    """Resolve command-line inputs into frames.

    Args:
        inputs: PNG files, folders of PNGs, png-cache folders or zips, DICOM files.
        keys: Only these image keys (for png-cache inputs; from a split list).
        frames: Frame selection for DICOM inputs (``0:4``).
        ocr: Blank burnt-in text of DICOM inputs found by OCR, as curation does.
        force: Accept DICOM inputs that are not ultrasound (a warning each).
        on_error: Called with an input that cannot be used and why, which is then
            skipped; None raises instead.

    Returns:
        Frames in a stable order, duplicates (same key) removed.

    Raises:
        InputError: for a missing path or unsupported file (without ``on_error``).
    """
    out: list[InputFrame] = []
    for raw in inputs:
        try:
            out += _input_frames(Path(raw), keys, frames, ocr, on_error, force)
        except InputError as exc:
            if on_error is None:
                raise
            on_error(str(raw), exc)
    seen: set[str] = set()
    unique = []
    for f in out:
        if f.key not in seen:
            seen.add(f.key)
            unique.append(f)
    return unique


def _input_frames(
    path: Path,
    keys: Sequence[str] | None,
    frames: str | None,
    ocr: bool,
    on_error: Callable[[str, InputError], None] | None,
    force: bool = False,
) -> list[InputFrame]:
    """The frames of one command-line input."""
    out: list[InputFrame] = []
    if not path.exists():
        raise InputError("no such file or folder", file=str(path))
    if path.is_dir():
        if _is_store_folder(path):
            out += store_frames(path, keys)
        else:
            pngs = sorted(p for p in path.rglob("*.png") if p.is_file())
            if not pngs:
                raise InputError("folder holds no PNG files or png-cache", file=str(path))
            out += png_file_frames(pngs, on_error=on_error)
    elif path.suffix.lower() == ".zip":
        out += store_frames(path, keys)
    elif path.suffix.lower() == ".png":
        out += png_file_frames([path])
    elif is_dicom_file(path):
        out += dicom_frames(path, frames, ocr=ocr, force=force)
    else:
        raise InputError("not a PNG, folder, png-cache zip or DICOM file", file=str(path))
    return out
