"""Prediction job: load a model, resolve inputs, predict in batches, write JSON and overlays."""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from echomark.data.spec import ModelSpec
from echomark.dicom.memory import ADHOC_CLASS
from echomark.errors import InputError
from echomark.evaluate.runner import load_registry_info
from echomark.fileio import atomic_write_text, check_out_folder, staged_folder
from echomark.labels.io import write_labels
from echomark.labels.schema import ImageLabels, LabelFile, LabelFormat
from echomark.labels.splits import read_list, read_split
from echomark.predict.engine import Engine, OnnxEngine, TorchEngine
from echomark.predict.export import spec_from_card, spec_from_checkpoint, spec_from_onnx_metadata
from echomark.predict.inputs import InputFrame, collect_frames
from echomark.predict.overlay import overlay_image, write_animation, write_overlay_png
from echomark.predict.predictor import Progress, predict_frames

PathLike = str | os.PathLike[str]

#: File name of the predictions JSON inside the output folder.
PREDICTIONS_JSON = "predictions.json"
#: One row per predicted instance node, beside the JSON, for spreadsheets.
PREDICTIONS_CSV = "predictions.csv"
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
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cpu``/``cuda[:N]``/``mps`` pass.

    Raises:
        InputError: Any other name.
    """
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", device):
        raise InputError(f"unknown device {device!r}; use cpu, cuda, cuda:N, mps or auto")
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


def with_tta_shift(spec: ModelSpec, shift_px: int | None) -> ModelSpec:
    """``spec`` with the test-time shift replaced (None keeps the model's; 0 turns it off).

    Raises:
        InputError: Not 0 or a positive multiple of every stride of the model.
    """
    if shift_px is None:
        return spec
    from dataclasses import replace

    from echomark.errors import ConfigError

    try:
        return replace(spec, data=replace(spec.data, tta_shift_px=int(shift_px)))
    except ConfigError as exc:
        raise InputError(f"--tta-shift: {exc.message}") from None


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
    from echomark.models.modelfile import is_model_dir

    device = resolve_device(device)
    path = Path(checkpoint)
    if path.suffix.lower() == ".onnx":
        eng = OnnxEngine(path, device)
        return eng, spec_from_onnx_metadata(eng.metadata, file=str(path))
    if is_model_dir(path):
        return _load_model_dir(path, engine=engine, device=device, onnx=onnx)
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


def _load_model_dir(
    path: Path, *, engine: str, device: str, onnx: PathLike | None
) -> tuple[Engine, ModelSpec]:
    """A shared model folder (safetensors + card) as an engine."""
    from echomark.models import build_model
    from echomark.models.modelfile import CARD_FILE, load_weights, read_model_dir

    card, state = read_model_dir(path)
    folder = path if path.is_dir() else path.parent
    spec = spec_from_card(card, file=str(folder / CARD_FILE))
    if engine == "onnx":
        if onnx is None:
            raise InputError("--engine onnx needs an exported model: pass --onnx model.onnx")
        return OnnxEngine(onnx, device), spec
    model = build_model(card.variant, card.in_channels, len(card.channels))
    load_weights(model, state, file=str(folder), variant=card.variant)
    return TorchEngine(model.eval(), device, amp=True), spec


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
    force: bool = False,
    batch_size: int = 8,
    overlays: bool = False,
    animation: str = "gif",
    min_conf: float = 0.0,
    presence_threshold: float | None = None,
    tta_shift_px: int | None = None,
    stream: TextIO | None = sys.stderr,
    overwrite: bool = False,
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
        force: Accept DICOM inputs that are not ultrasound, with a warning each.
        batch_size: Frames per forward pass.
        overlays: Also write overlay PNGs (and one animation per multi-frame video).
        animation: ``gif`` or ``apng`` for cine animations.
        min_conf: Overlays skip instances below this confidence.
        presence_threshold: Override the decoder's presence threshold (peak or ridge
            height below which a label is ``off``); None keeps the checkpoint's.
        tta_shift_px: Override the model's test-time shift (0: one forward pass; None
            keeps the model's ``dataset.tta_shift_px``).
        stream: Progress output (None: silent).
        overwrite: Replace a non-empty ``out`` (its old files go; nothing stale stays).

    Returns:
        The predictions and output paths. ``out`` appears whole at the end (written in a
        temporary folder beside it), or not at all when the job fails.
    """
    check_out_folder(out, overwrite=overwrite)
    eng, spec = load_engine(checkpoint, engine=engine, device=device, onnx=onnx)
    spec = with_tta_shift(with_presence_threshold(spec, presence_threshold), tta_shift_px)
    bad_inputs: list[tuple[str, InputError]] = []
    todo = collect_frames(
        inputs,
        keys=keys,
        frames=frames,
        ocr=ocr,
        force=force,
        on_error=lambda source, exc: bad_inputs.append((source, exc)),
    )
    if not todo:
        if bad_inputs:
            if len(bad_inputs) == 1:
                raise bad_inputs[0][1]
            raise InputError(
                f"none of the {len(bad_inputs)} inputs could be read (first: {bad_inputs[0][1]})"
            )
        raise InputError("no frames to predict")
    for source, exc in bad_inputs:
        if stream is not None:
            print(f"predict: skipped {source}: {exc}", file=stream, flush=True)
    out_dir = Path(out)
    with staged_folder(out_dir, overwrite=overwrite) as tmp:
        result = _predict_into(
            tmp, eng, spec, todo, batch_size, overlays, animation, min_conf, stream
        )
        if not result.labels:
            reason = result.failed[0][1]
            raise InputError(f"no frame could be predicted (first: {reason})")
    return PredictionResult(
        result.labels,
        out_dir / result.json_path.name,
        out_dir / result.overlay_dir.name if result.overlay_dir else None,
        [(source, str(exc)) for source, exc in bad_inputs] + result.failed,
    )


def _predict_into(
    out_dir: Path,
    eng: Engine,
    spec: ModelSpec,
    todo: list[InputFrame],
    batch_size: int,
    overlays: bool,
    animation: str,
    min_conf: float,
    stream: TextIO | None,
) -> PredictionResult:
    """Predict ``todo`` and write every output into ``out_dir``."""
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
    json_path = out_dir / PREDICTIONS_JSON
    write_labels(
        LabelFile(images=labels, format=LabelFormat.V2, wrapped=False, source=str(json_path)),
        json_path,
        format=LabelFormat.V2,
    )
    atomic_write_text(out_dir / PREDICTIONS_CSV, predictions_csv(labels))
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


def predictions_csv(labels: dict[str, ImageLabels]) -> str:
    """The predictions as CSV: ``key,label,state,instance,node,x,y,conf`` (source px).

    Off and blurred labels have one row with empty coordinates; a curve has one row per
    node.

    >>> from echomark.labels.schema import Label
    >>> print(predictions_csv({"k.png": {"a": Label.point(1.5, 2.0, conf=0.9), "b": Label.off()}}), end="")
    key,label,state,instance,node,x,y,conf
    k.png,a,point,0,0,1.5,2.0,0.9
    k.png,b,off,,,,,
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["key", "label", "state", "instance", "node", "x", "y", "conf"])
    for key in sorted(labels):
        for name, label in labels[key].items():
            if not label.instances:
                writer.writerow([key, name, label.state.value, "", "", "", "", ""])
            for i, inst in enumerate(label.instances):
                conf = "" if inst.conf is None else repr(round(float(inst.conf), 4))
                for j, (x, y) in enumerate(inst.xy.tolist()):
                    writer.writerow(
                        [
                            key,
                            name,
                            label.state.value,
                            i,
                            j,
                            repr(round(x, 2)),
                            repr(round(y, 2)),
                            conf,
                        ]
                    )
    return buf.getvalue()


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
            pic = overlay_image(
                f.load(),
                labels[f.key],
                colours,
                min_conf=min_conf,
                title=f"{f.video[:15]}... frame {f.index}",
            )
            write_overlay_png(out_dir / Path(f.key).with_suffix(".png").name, pic)
            pictures.append(pic)
        if len(pictures) > 1:
            suffix = ".png" if animation == "apng" else ".gif"
            write_animation(out_dir / f"{video}-cine{suffix}", pictures)
