"""Video files (AVI, MP4: the EchoNet datasets' form) as in-memory cines, masked like DICOMs.

A video carries no spacing and no header: its frames are read with OpenCV (imported only
here, when a video is read), turned grey, and masked by the same recipe curation applies to
a DICOM without regions (:func:`echomark.dicom.curate.scan_mask`: moving sector, burnt-in
text by OCR). The frame time comes from the container's frame rate.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from echomark.dicom import mask as masklib
from echomark.dicom.codes import file_code
from echomark.dicom.curate import scan_mask
from echomark.dicom.memory import ADHOC_CLASS, CuratedCine, parse_frames
from echomark.dicom.read import UInt8Array
from echomark.errors import ConfigError, InputError

#: File name endings read as videos.
VIDEO_SUFFIXES = (".avi", ".mp4", ".m4v", ".mov", ".mkv")

#: Frames sampled to find the moving sector and the burnt-in text.
MASK_SAMPLE = 16


def is_video_file(path: str | os.PathLike[str]) -> bool:
    """Whether a path names a video file echomark reads (by its ending)."""
    p = Path(path)
    return p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:  # pragma: no cover - opencv-python-headless is a core dependency
        raise ConfigError("reading videos needs opencv-python-headless") from None
    return cv2


def read_video(path: str | os.PathLike[str]) -> tuple[list[UInt8Array], float | None]:
    """All frames of a video as grey uint8 arrays, and its frame time in ms (None if unknown).

    Raises:
        InputError: The file cannot be opened or holds no frame.
    """
    cv2 = _cv2()
    p = os.fspath(path)
    cap = cv2.VideoCapture(p)
    try:
        if not cap.isOpened():
            raise InputError("cannot open as a video", file=p)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        frames: list[UInt8Array] = []
        while True:
            ok, img = cap.read()
            if not ok:
                break
            grey = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            frames.append(np.ascontiguousarray(grey, dtype=np.uint8))
    finally:
        cap.release()
    if not frames:
        raise InputError("no frame could be decoded", file=p)
    return frames, (1000.0 / fps if fps > 0 else None)


def curate_video_in_memory(
    path: str | os.PathLike[str], *, frames: str | None = None, ocr: bool = True
) -> CuratedCine:
    """Read and mask a video's frames as curation masks a DICOM without regions.

    Args:
        path: The video file.
        frames: Frame selection (``0:40``, ``1,5,9``); default all.
        ocr: Blank burnt-in text found by OCR.

    Returns:
        The masked frames (video code ``00-<sha256 of the file>``), the frame time from the
        frame rate, and no calibration (give ``--mm-per-px`` or ``--calibration``).
    """
    p = os.fspath(path)
    all_frames, frame_time_ms = read_video(p)
    rows, cols = all_frames[0].shape[:2]
    if any(f.shape[:2] != (rows, cols) for f in all_frames):
        raise InputError("frames differ in size", file=p)
    step = max(1, len(all_frames) // MASK_SAMPLE)
    spec = scan_mask(all_frames[::step], rows, cols, [], ocr)
    keep = masklib.render_keep(spec)
    wanted = parse_frames(frames, len(all_frames))
    if not wanted:
        raise InputError("no frames selected", file=p)
    video = f"{ADHOC_CLASS}-{file_code(p)}"
    masked = {i: masklib.apply_keep(all_frames[i], keep) for i in dict.fromkeys(wanted)}
    return CuratedCine(video, masked, frame_time_ms, None, "a video file carries no spacing")
