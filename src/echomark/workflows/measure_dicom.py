"""Measure a DICOM directly: curate its frames in memory, predict labels, then measure.

The frames are those ``echomark predict`` and ``echomark curate`` see
(:func:`echomark.dicom.memory.curate_in_memory`); the spacing comes from the file's
ultrasound regions. torch is imported only when a model is loaded.
"""

from __future__ import annotations

import os

from echomark.calibration import Calibration
from echomark.dicom.memory import CuratedCine, curate_in_memory
from echomark.labels.schema import LabelFile, LabelFormat
from echomark.predict.api import load_engine, with_tta_shift
from echomark.predict.inputs import cine_frames
from echomark.predict.predictor import predict_frames


def predict_cine(
    cine: CuratedCine,
    checkpoint: str | os.PathLike[str],
    *,
    device: str = "cpu",
    batch_size: int = 8,
    tta_shift_px: int | None = None,
) -> LabelFile:
    """Predict labels for every frame of an in-memory cine.

    Args:
        cine: From :func:`~echomark.dicom.memory.curate_in_memory`.
        checkpoint: ``.pt`` checkpoint or exported ``.onnx``.
        device: ``cpu``, ``cuda`` or ``auto``.
        batch_size: Frames per forward pass.
        tta_shift_px: Override the model's test-time shift (None keeps it; 0 turns it off).

    Returns:
        Predictions keyed ``00-<hex>-NNNN.png`` (source pixels, with ``conf``).
    """
    engine, spec = load_engine(checkpoint, device=device)
    spec = with_tta_shift(spec, tta_shift_px)
    inputs = cine_frames(cine.video, cine.frames, cine.video)
    labels = predict_frames(inputs, engine, spec, batch_size=batch_size)
    return LabelFile(images=labels, format=LabelFormat.V2, source=cine.video)


def predict_dicom(
    path: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str],
    *,
    device: str = "cpu",
    frames: str | None = None,
    ocr: bool = True,
) -> tuple[LabelFile, CuratedCine, Calibration]:
    """Curate a calibrated DICOM in memory and predict its labels.

    The calibration is checked first, so a file whose regions do not fit its pixels fails
    before any decoding or prediction.

    Args:
        path: The DICOM file.
        checkpoint: ``.pt`` checkpoint or exported ``.onnx``.
        device: ``cpu``, ``cuda`` or ``auto``.
        frames: Frame selection (``0:10``, ``1,5,9``); default all.
        ocr: Blank burnt-in text found by OCR, as curation does.

    Returns:
        The predictions, the curated cine (video code, frame time) and its calibration.

    Raises:
        CalibrationError: No usable region spacing.
        DicomError: The file cannot be read or decoded.
    """
    cine = curate_in_memory(path, frames=frames, ocr=ocr, need_calibration=True)
    if cine.calibration is None:  # need_calibration raised already; this narrows the type
        raise AssertionError("curate_in_memory returned no calibration")
    return predict_cine(cine, checkpoint, device=device), cine, cine.calibration
