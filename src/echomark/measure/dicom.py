"""Measure a DICOM directly: curate its frames in memory, predict labels, then measure.

The frames go through the same decoding and masking as ``echomark curate`` (so the model sees
what it was trained on) but nothing is written; the spacing comes from the file's ultrasound
regions via :func:`~echomark.measure.calibration.calibration_from_dataset`. torch and pydicom
are imported inside the functions only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from echomark.labels.schema import LabelFile, LabelFormat
from echomark.measure.calibration import Calibration, calibration_from_dataset

UInt8Array = npt.NDArray[np.uint8]

#: Dataset class of keys made up for a DICOM measured directly (as ``echomark predict`` does).
ADHOC_CLASS = "00"


@dataclass
class CuratedCine:
    """A DICOM's frames as curation would write them, held in memory.

    Attributes:
        video: Video code ``00-<sha256 of the file>``.
        frames: Frame number -> masked uint8 frame (grey (H, W) or RGB (H, W, 3)).
        frame_time_ms: Time between frames, if the header says.
        calibration: Spacing from the ultrasound regions.
    """

    video: str
    frames: dict[int, UInt8Array]
    frame_time_ms: float | None
    calibration: Calibration


def curate_in_memory(
    path: str | os.PathLike[str], *, frames: Sequence[int] | None = None, ocr: bool = False
) -> CuratedCine:
    """Decode and mask a DICOM's frames like ``echomark curate``, without writing anything.

    The calibration is checked first, so a file whose regions do not fit its pixels fails
    before any decoding.

    Args:
        path: The DICOM file.
        frames: Frame numbers to keep (default all).
        ocr: Also blank burnt-in text found by OCR (slower; needs rapidocr).

    Returns:
        The masked frames, frame time and calibration.

    Raises:
        CalibrationError: No usable region spacing.
        DicomError: The file cannot be read or decoded.
    """
    from echomark.dicom.codes import file_code
    from echomark.dicom.curate import CurateOptions, masked_frames, plan_video
    from echomark.dicom.read import SkipFile, read_header
    from echomark.errors import DicomError

    p = os.fspath(path)
    try:
        ds = read_header(p)
    except SkipFile as exc:
        raise DicomError(f"not a usable ultrasound DICOM ({exc})", file=p) from None
    cal = calibration_from_dataset(ds, source=os.path.basename(p))
    video = f"{ADHOC_CLASS}-{file_code(p)}"
    opts = CurateOptions(dataset_class=ADHOC_CLASS, out_dir=Path(os.devnull), ocr=ocr)
    record = plan_video(p, video, opts.settings(), ocr)
    n = int(record["frames"])
    indices = sorted(set(range(n) if frames is None else (int(i) for i in frames if 0 <= i < n)))
    out = dict(masked_frames(p, record, indices))
    ft = record.get("frame_time_ms")
    return CuratedCine(video, out, float(ft) if ft else None, cal)


def predict_cine(
    cine: CuratedCine,
    checkpoint: str | os.PathLike[str],
    *,
    device: str = "cpu",
    batch_size: int = 8,
) -> LabelFile:
    """Predict labels for every frame of an in-memory cine with ``echomark.predict``.

    Args:
        cine: From :func:`curate_in_memory`.
        checkpoint: ``.pt`` checkpoint or exported ``.onnx``.
        device: ``cpu``, ``cuda`` or ``auto``.
        batch_size: Frames per forward pass.

    Returns:
        Predictions keyed ``00-<hex>-NNNN.png`` (source pixels, with ``conf``).
    """
    from echomark.predict.api import load_engine
    from echomark.predict.inputs import cine_frames
    from echomark.predict.predictor import predict_frames

    engine, spec = load_engine(checkpoint, device=device)
    inputs = cine_frames(cine.video, cine.frames, cine.video)
    labels = predict_frames(inputs, engine, spec, batch_size=batch_size)
    return LabelFile(images=labels, format=LabelFormat.V2, source=cine.video)


def predict_dicom(
    path: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str],
    *,
    device: str = "cpu",
    ocr: bool = False,
) -> tuple[LabelFile, CuratedCine]:
    """Curate a DICOM in memory and predict its labels.

    Returns:
        The predictions and the curated cine (video code, frame time, calibration).
    """
    cine = curate_in_memory(path, ocr=ocr)
    return predict_cine(cine, checkpoint, device=device), cine
