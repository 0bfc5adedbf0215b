"""A DICOM's frames as curation writes them, held in memory: what every model input starts from.

``echomark predict x.dcm``, ``echomark measure x.dcm`` and ``echomark curate`` all decode
and mask a file through :func:`~echomark.dicom.curate.plan_video` and
:func:`~echomark.dicom.curate.masked_frames`, with the same text-detection (OCR) default, so
the model sees the same pixels whichever verb runs it. Nothing is written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from echomark.calibration import Calibration
from echomark.dicom.codes import file_code
from echomark.dicom.curate import CurateOptions, masked_frames, plan_video
from echomark.dicom.read import (
    SkipFile,
    SkipReason,
    UInt8Array,
    frame_count,
    is_ultrasound,
    read_header,
)
from echomark.dicom.regions import calibration_from_dataset
from echomark.errors import CalibrationError, DicomError, InputError

#: Dataset class of keys made up for a DICOM given on the command line (the release uses
#: ``01`` and ``02``; ``00`` marks ad-hoc input).
ADHOC_CLASS = "00"

_log = logging.getLogger(__name__)


@dataclass
class CuratedCine:
    """A DICOM's frames as curation would write them.

    Attributes:
        video: Video code ``00-<sha256 of the file>``.
        frames: Frame number -> masked uint8 frame (grey (H, W) or RGB (H, W, 3)), in the
            order asked for.
        frame_time_ms: Time between frames, if the header says.
        calibration: Spacing from the ultrasound regions; None when they give none.
        calibration_note: Why there is no calibration (empty when there is one).
    """

    video: str
    frames: dict[int, UInt8Array]
    frame_time_ms: float | None
    calibration: Calibration | None
    calibration_note: str = ""


def parse_frames(spec: str | None, n_frames: int) -> list[int]:
    """Frame numbers selected by a Python-style slice ``start:stop[:step]`` or a list ``1,5,9``.

    >>> parse_frames("0:4", 120)
    [0, 1, 2, 3]
    >>> parse_frames("1,5", 10), parse_frames(None, 3), parse_frames("::50", 120)
    ([1, 5], [0, 1, 2], [0, 50, 100])
    """
    if spec is None or spec.strip() in ("", ":"):
        return list(range(n_frames))
    try:
        if ":" in spec:
            parts = [int(p) if p.strip() else None for p in spec.split(":")]
            if len(parts) > 3:
                raise ValueError(spec)
            return list(range(n_frames))[slice(*parts)]
        idx = [int(p) for p in spec.split(",") if p.strip()]
    except ValueError:
        raise InputError(f"--frames must look like 0:10 or 1,5,9, got {spec!r}") from None
    return _in_range(idx, n_frames)


def _in_range(idx: list[int], n_frames: int) -> list[int]:
    bad = [i for i in idx if not 0 <= i < n_frames]
    if bad:
        raise InputError(f"frame(s) {bad} out of range 0..{n_frames - 1}")
    return idx


def curate_in_memory(
    path: str | os.PathLike[str],
    *,
    frames: str | Sequence[int] | None = None,
    ocr: bool = CurateOptions.ocr,
    need_calibration: bool = False,
    force: bool = False,
) -> CuratedCine:
    """Decode and mask a DICOM's frames exactly as ``echomark curate`` does, writing nothing.

    Args:
        path: The DICOM file (ultrasound, as curation requires).
        frames: Frame numbers, or a selection string (:func:`parse_frames`); default all.
        ocr: Also blank burnt-in text found by OCR (curation's default; needs rapidocr).
        need_calibration: Check the region spacing first and fail before any decoding.
        force: Accept an image that is not ultrasound (CT, MR, ...) with one warning. It
            goes through the same masking: having no ultrasound regions, it keeps the
            moving sector, else a scan fan, else all but the top band, less OCR text; the
            landmarks drawn on it mean nothing clinically.

    Returns:
        The masked frames, frame time and calibration (origin: the video code, never the
        file name).

    Raises:
        CalibrationError: ``need_calibration`` and no usable region spacing.
        ConfigError: ``ocr`` but rapidocr is not installed.
        DicomError: The file is not a usable DICOM, not ultrasound (without ``force``), or
            cannot be decoded.
        InputError: A bad or empty frame selection.
    """
    p = os.fspath(path)
    try:
        ds = read_header(p, ultrasound_only=not force)
    except SkipFile as exc:
        if exc.reason is SkipReason.NOT_ULTRASOUND:
            raise DicomError(
                f"{exc.reason.value} ({exc.detail}): pass --force to use it anyway",
                file=p,
            ) from None
        raise DicomError(f"not a usable ultrasound DICOM ({exc})", file=p) from None
    if not is_ultrasound(ds):
        _log.warning(
            "%s is not ultrasound (Modality %s): --force given, using it anyway; "
            "the landmarks mean nothing clinically",
            p,
            ds.get("Modality", "?"),
        )
    video = f"{ADHOC_CLASS}-{file_code(p)}"
    calibration: Calibration | None = None
    note = ""
    try:
        calibration = calibration_from_dataset(ds, source=video)
    except CalibrationError as exc:
        if need_calibration:
            raise CalibrationError(exc.message, file=p) from None
        note = exc.message
    if isinstance(frames, str):
        # A bad selection fails before the (OCR) planning, not after it.
        parse_frames(frames, frame_count(ds))
    opts = CurateOptions(dataset_class=ADHOC_CLASS, out_dir=Path(os.devnull), ocr=ocr)
    record = plan_video(p, video, opts.settings(), ocr, ultrasound_only=not force)
    n = int(record["frames"])
    if frames is None or isinstance(frames, str):
        wanted = parse_frames(frames, n)
    else:
        wanted = _in_range([int(i) for i in frames], n)
    order = list(dict.fromkeys(wanted))
    if not order:
        raise InputError("no frames selected", file=p)
    decoded = dict(masked_frames(p, record, sorted(order), ultrasound_only=not force))
    ft = record.get("frame_time_ms")
    return CuratedCine(
        video, {i: decoded[i] for i in order}, float(ft) if ft else None, calibration, note
    )
