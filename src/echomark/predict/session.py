"""A loaded model for notebooks and scripts: predict an array, a PNG, a DICOM or a cine."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from echomark.cache.keys import ImageKey
from echomark.dicom.memory import CuratedCine
from echomark.errors import InputError, missing_extra_message
from echomark.labels.schema import ImageLabels, LabelFile, LabelFormat
from echomark.predict.api import load_engine, resolve_device, with_presence_threshold
from echomark.predict.inputs import ADHOC_CLASS, InputFrame, cine_frames, collect_frames
from echomark.predict.predictor import predict_frames

PathLike = str | os.PathLike[str]

#: Channel counts a trailing axis of a 3-D array may have to be read as one colour frame.
COLOUR_CHANNELS = (3, 4)


def array_frames(array: npt.ArrayLike, source: str = "<array>") -> list[InputFrame]:
    """Frames of an in-memory image or cine, keyed ``00-<sha256 of the pixels>-NNNN.png``.

    Shapes: ``(H, W)`` grey or ``(H, W, 3|4)`` colour is one frame; ``(T, H, W)`` or
    ``(T, H, W, C)`` is a cine of T frames (neighbours for multi-frame models). An alpha
    channel is dropped. The key's code is a hash of the pixels, so the same cine always gets
    the same keys and all its frames belong to one video (as measurement needs).

    >>> [f.key[:10] + "..." + f.key[-9:] for f in array_frames(np.zeros((2, 4, 5), np.uint8))]
    ['00-70e9b81...-0000.png', '00-70e9b81...-0001.png']

    Raises:
        InputError: Not uint8, or a shape that is neither a frame nor a cine.
    """
    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise InputError(f"images must be uint8 (0-255), got {arr.dtype}", file=source)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in COLOUR_CHANNELS):
        arr = arr[None]
    if arr.ndim == 4 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim not in (3, 4) or arr.shape[0] == 0 or min(arr.shape[1:3]) == 0:
        raise InputError(
            f"expected (H, W), (H, W, 3), (T, H, W) or (T, H, W, C) pixels, got {arr.shape}",
            file=source,
        )
    arr = np.ascontiguousarray(arr)
    digest = hashlib.sha256(repr(arr.shape).encode() + arr.tobytes()).hexdigest()
    video = str(ImageKey(ADHOC_CLASS, digest, 0).video)
    return cine_frames(video, dict(enumerate(arr)), source)


class Predictor:
    """A trained model, ready to predict.

    Args:
        checkpoint: Training checkpoint (``.pt``), model folder, exported ``.onnx``, or the
            name of a model (``echomark models``; a path of that name wins).
        device: ``cpu``, ``cuda`` or ``auto``.
        engine: ``torch`` or ``onnx`` (an ``.onnx`` checkpoint implies ``onnx``).
        onnx: ONNX file to run with ``engine="onnx"`` and a ``.pt`` checkpoint.
        batch_size: Frames per forward pass.
        presence_threshold: Decoder presence threshold (None: the trained one).

    Raises:
        InputError: Unknown engine or bad threshold.
        ConfigError: The checkpoint is missing, unreadable or not an echomark checkpoint,
            or no model has that name.
        ModuleNotFoundError: torch (or onnxruntime for ``engine="onnx"``) is not installed;
            the message names the pip extra.
    """

    def __init__(
        self,
        checkpoint: PathLike,
        *,
        device: str = "cpu",
        engine: str = "torch",
        onnx: PathLike | None = None,
        batch_size: int = 8,
        presence_threshold: float | None = None,
    ) -> None:
        try:
            if isinstance(checkpoint, str) and not Path(checkpoint).exists():
                from echomark.models.zoo import is_model_name, resolve_model

                if is_model_name(checkpoint):
                    checkpoint = resolve_model(checkpoint)
            self.device = resolve_device(device)
            self.engine, spec = load_engine(
                checkpoint, engine=engine, device=self.device, onnx=onnx
            )
        except ModuleNotFoundError as exc:
            hint = missing_extra_message(exc.name or "")
            if hint is None:
                raise
            raise ModuleNotFoundError(f"Predictor {hint}", name=exc.name) from None
        self.spec = with_presence_threshold(spec, presence_threshold)
        self.batch_size = batch_size
        self.checkpoint = Path(checkpoint)

    @property
    def channels(self) -> tuple[str, ...]:
        """Label names the model predicts, in output order."""
        return self.spec.channels

    def predict(
        self,
        source: PathLike | CuratedCine | npt.ArrayLike,
        *,
        frames: str | None = None,
        ocr: bool = True,
    ) -> LabelFile:
        """Predict every frame of ``source``.

        Args:
            source: A uint8 image ``(H, W[, 3])`` or cine ``(T, H, W[, C])`` array; a DICOM
                cine read by :func:`echomark.curate_in_memory`; or a path to a PNG, a folder
                of PNGs, a png-cache (folder or zip) or a DICOM file (decoded and masked as
                ``echomark curate`` does).
            frames: Frame selection for a DICOM path, e.g. ``"0:8"`` (default: all).
            ocr: For a DICOM path, also blank burnt-in text found by OCR, as curation does
                (needs the ``ocr`` extra).

        Returns:
            Predicted labels (with ``conf``) per image key, in source pixels; arrays and
            DICOMs get ``00-<64hex>-NNNN.png`` keys, one video per cine, so the result goes
            straight into :func:`echomark.measure_labels`.

        Raises:
            InputError: Unreadable input or a bad array.
            DicomError: A DICOM without decodable frames.
            ConfigError: ``ocr`` for a DICOM path, but rapidocr is not installed.
        """
        if isinstance(source, str | os.PathLike):
            todo = collect_frames([source], frames=frames, ocr=ocr)
            name = os.fspath(source)
        elif isinstance(source, CuratedCine):
            todo = cine_frames(source.video, source.frames, source.video)
            name = source.video
        else:
            todo = array_frames(source)
            name = "<array>"
        if not todo:
            raise InputError("no frames to predict", file=name)
        labels = predict_frames(todo, self.engine, self.spec, batch_size=self.batch_size)
        return LabelFile(images=labels, format=LabelFormat.V2, wrapped=False, source=name)

    def predict_frame(self, image: npt.ArrayLike) -> ImageLabels:
        """Labels of one uint8 frame ``(H, W)`` or ``(H, W, 3)``.

        Raises:
            InputError: Not one frame.
        """
        arr = np.asarray(image)
        if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in COLOUR_CHANNELS)):
            raise InputError(f"expected one frame (H, W) or (H, W, 3), got {arr.shape}")
        (labels,) = self.predict(arr).images.values()
        return labels

    def __repr__(self) -> str:
        return (
            f"Predictor({str(self.checkpoint)!r}, variant={self.spec.variant!r}, "
            f"{len(self.channels)} labels, engine={self.engine.name!r}, device={self.device!r})"
        )
