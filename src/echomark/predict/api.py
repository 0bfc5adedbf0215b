"""Prediction job: load a model, resolve inputs, predict in batches, write JSON and overlays."""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from echomark.data.spec import ModelSpec
from echomark.dicom.memory import ADHOC_CLASS
from echomark.errors import InputError
from echomark.evaluate.runner import load_registry_info
from echomark.fileio import atomic_write_text
from echomark.labels.io import write_labels
from echomark.labels.schema import ImageLabels, LabelFile, LabelFormat
from echomark.labels.splits import read_list, read_split
from echomark.predict.engine import Engine, OnnxEngine, TorchEngine
from echomark.predict.export import spec_from_checkpoint, spec_from_onnx_metadata
from echomark.predict.inputs import InputFrame, collect_frames
from echomark.predict.overlay import overlay_image, write_animation, write_overlay_png
from echomark.predict.predictor import Progress, predict_frames

PathLike = str | os.PathLike[str]

#: File name of the predictions JSON inside the output folder.
PREDICTIONS_JSON = "predictions.json"
#: Map from made-up ``00-<sha256>-NNNN.png`` keys to the input files they stand for.
INPUTS_CSV = "inputs.csv"


@dataclass
class PredictionResult:
    """What :func:`run_prediction` produced.

    Attributes:
        labels: Image key -> predicted labels (source pixels).
        json_path: The predictions JSON.
        overlay_dir: Folder of overlay pictures, when written.
        failed: ``(key, reason)`` of frames that could not be read (skipped).
    """

    labels: dict[str, ImageLabels]
    json_path: Path
    overlay_dir: Path | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; other values pass through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def with_presence_threshold(spec: ModelSpec, threshold: float | None) -> ModelSpec:
    """``spec`` with the decoder's presence threshold replaced (None keeps the trained one)."""
    if threshold is None:
        return spec
    from dataclasses import replace

    if not 0.0 < threshold < 1.0:
        raise InputError(f"presence threshold must be in (0, 1), got {threshold}")
    codec = replace(spec.data.codec, presence_threshold=float(threshold))
    return replace(spec, data=replace(spec.data, codec=codec))


def load_engine(
    checkpoint: PathLike,
    *,
    engine: str = "torch",
    device: str = "cpu",
    onnx: PathLike | None = None,
) -> tuple[Engine, ModelSpec]:
    """Open a model for prediction.

    Args:
        checkpoint: A training checkpoint (``.pt``) or an exported ``.onnx``.
        engine: ``torch`` or ``onnx``; a ``.onnx`` checkpoint implies ``onnx``.
        device: ``cpu``, ``cuda``, ``auto``...
        onnx: ONNX file to run when ``checkpoint`` is a ``.pt`` and ``engine`` is ``onnx``.

    Returns:
        The engine and the model's channels / data config.
    """
    device = resolve_device(device)
    path = Path(checkpoint)
    if path.suffix.lower() == ".onnx":
        eng = OnnxEngine(path, device)
        return eng, spec_from_onnx_metadata(eng.metadata, file=str(path))
    from echomark.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path, map_location="cpu")
    spec = spec_from_checkpoint(ckpt)
    if engine == "onnx":
        if onnx is None:
            raise InputError(
                "--engine onnx needs an exported model: pass --checkpoint model.onnx or --onnx"
            )
        return OnnxEngine(onnx, device), spec
    if engine != "torch":
        raise InputError(f"unknown engine {engine!r}; use torch or onnx")
    return TorchEngine(ckpt.build_model("cpu"), device, amp=True), spec


def select_keys(
    *, list_spec: str | None = None, split: str | None = None, labels: PathLike | None = None
) -> list[str] | None:
    """Image keys chosen by ``--list zip::member.txt`` or ``--split S --labels L``."""
    if list_spec is not None:
        if "::" in list_spec:
            container, member = list_spec.split("::", 1)
            return read_list(container, member)
        return read_list(list_spec)
    if split is not None:
        if labels is None:
            raise InputError("--split needs --labels (labels.zip, folder or .json)")
        return list(read_split(labels, split).images)
    return None


def run_prediction(
    inputs: Sequence[PathLike],
    *,
    checkpoint: PathLike,
    out: PathLike,
    engine: str = "torch",
    onnx: PathLike | None = None,
    device: str = "cpu",
    keys: Sequence[str] | None = None,
    frames: str | None = None,
    ocr: bool = True,
    batch_size: int = 8,
    overlays: bool = False,
    animation: str = "gif",
    min_conf: float = 0.0,
    presence_threshold: float | None = None,
    stream: TextIO | None = sys.stderr,
) -> PredictionResult:
    """Predict labels for inputs and write ``OUT/predictions.json`` (v2, with ``conf``).

    Args:
        inputs: PNG files, folders, png-cache folders or zips, DICOM files.
        checkpoint: ``.pt`` checkpoint or exported ``.onnx``.
        out: Output folder.
        engine: ``torch`` or ``onnx``.
        onnx: ONNX file for ``engine="onnx"`` with a ``.pt`` checkpoint.
        device: ``cpu``, ``cuda``, ``auto``.
        keys: Only these image keys of png-cache inputs.
        frames: Frame selection for DICOM inputs (``0:4``).
        ocr: Blank burnt-in text of DICOM inputs found by OCR, as curation does.
        batch_size: Frames per forward pass.
        overlays: Also write overlay PNGs (and one animation per multi-frame video).
        animation: ``gif`` or ``apng`` for cine animations.
        min_conf: Overlays skip instances below this confidence.
        presence_threshold: Override the decoder's presence threshold (peak or ridge
            height below which a label is ``off``); None keeps the checkpoint's.
        stream: Progress output (None: silent).

    Returns:
        The predictions and output paths.
    """
    eng, spec = load_engine(checkpoint, engine=engine, device=device, onnx=onnx)
    spec = with_presence_threshold(spec, presence_threshold)
    todo = collect_frames(inputs, keys=keys, frames=frames, ocr=ocr)
    if not todo:
        raise InputError("no frames to predict")
    if stream is not None:
        print(
            f"predict: {len(todo)} frames, {len(spec.channels)} labels, engine {eng.name}, "
            f"input {spec.data.input_hw[0]}x{spec.data.input_hw[1]} ({spec.data.resize.value})",
            file=stream,
            flush=True,
        )
    failed: list[tuple[str, str]] = []

    def on_error(frame: InputFrame, exc: Exception) -> None:
        failed.append((frame.key, str(exc)))
        if stream is not None:
            print(f"predict: skipped {frame.key}: {exc}", file=stream, flush=True)

    labels = predict_frames(
        todo,
        eng,
        spec,
        batch_size=batch_size,
        on_error=on_error,
        progress=Progress(len(todo), stream),
    )
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / PREDICTIONS_JSON
    write_labels(
        LabelFile(images=labels, format=LabelFormat.V2, wrapped=False, source=str(json_path)),
        json_path,
        format=LabelFormat.V2,
    )
    adhoc = [f for f in todo if f.key.startswith(ADHOC_CLASS + "-") and f.key in labels]
    if adhoc:
        # Made-up keys are content hashes; this map says which input each one came from.
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["key", "source"])
        writer.writerows([f.key, f.source] for f in adhoc)
        atomic_write_text(out_dir / INPUTS_CSV, buf.getvalue())
    overlay_dir = None
    if overlays:
        overlay_dir = out_dir / "overlays"
        write_overlays(todo, labels, overlay_dir, animation=animation, min_conf=min_conf)
    return PredictionResult(labels, json_path, overlay_dir, failed)


def write_overlays(
    frames: Sequence[InputFrame],
    labels: dict[str, ImageLabels],
    out_dir: Path,
    *,
    animation: str = "gif",
    min_conf: float = 0.0,
) -> None:
    """One overlay PNG per predicted frame, plus an animation per video with >1 frame."""
    _, _, colours = load_registry_info()
    by_video: dict[str, list[InputFrame]] = {}
    for f in frames:
        if f.key in labels:
            by_video.setdefault(f.video, []).append(f)
    for video, vframes in by_video.items():
        pictures = []
        for f in sorted(vframes, key=lambda fr: fr.index):
            pic = overlay_image(f.load(), labels[f.key], colours, min_conf=min_conf)
            write_overlay_png(out_dir / Path(f.key).with_suffix(".png").name, pic)
            pictures.append(pic)
        if len(pictures) > 1:
            suffix = ".png" if animation == "apng" else ".gif"
            write_animation(out_dir / f"{video}-cine{suffix}", pictures)
