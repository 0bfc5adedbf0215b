"""``echomark measure`` orchestration: labels, DICOMs or videos in; measurements and reports out.

Inputs are a label/prediction file (with a calibration), or one or more DICOM or video
files (predicted with a checkpoint, every frame, through the one masked-frames path). The
side tables (views, frame times, known phases, studies, QC thresholds) are read here, the
measurement itself is :func:`echomark.measure.pipeline.measure_labels`, and the outputs are
the CSV/JSON/HTML report plus, for every cine whose frames are at hand, an overlay video, a
per-frame CSV and a series plot.
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echomark.cache.physical import read_physical_csv
from echomark.calibration import Calibration, CalibrationSource
from echomark.dicom.memory import CuratedCine, curate_in_memory
from echomark.dicom.read import SkipFile, is_dicom_file, read_header
from echomark.dicom.regions import calibration_from_dataset
from echomark.dicom.video import curate_video_in_memory, is_video_file
from echomark.errors import CacheError, CalibrationError, InputError
from echomark.labels.io import write_labels
from echomark.labels.registry import View
from echomark.labels.schema import ImageLabels, LabelFile, LabelFormat
from echomark.labels.splits import read_split
from echomark.measure.cavity import PhaseSource
from echomark.measure.cine_outputs import write_cine_outputs
from echomark.measure.pipeline import MeasureResult, measure_labels
from echomark.measure.qc import QcConfig, qc_beside, qc_config_from_dict, read_qc_config
from echomark.measure.report import write_outputs
from echomark.measure.series import CyclePhase
from echomark.predict.api import PREDICTIONS_JSON
from echomark.workflows.measure_dicom import predict_cine

#: Exit status when nothing passed the quality gate (documented in docs/measure.md).
EXIT_NOTHING_PASSED = 3

#: Quality-gate thresholds file; one beside a checkpoint is used with that model.
QC_JSON = "qc.json"

CalibrationLookup = Callable[[str], Calibration | None]


@dataclass
class MeasureOptions:
    """Everything ``echomark measure`` was asked (see its ``--help``)."""

    inputs: list[Path]
    out: Path
    calibration: str | None = None
    mm_per_px: float | None = None
    split: str = "all"
    views: str | None = None
    frame_time_ms: float | None = None
    frame_times: str | None = None
    phases: str | None = None
    phases_from: str = "auto"
    studies: str | None = None
    qc: str | None = None
    images: str | None = None
    checkpoint: str | None = None
    min_conf: float = 0.1
    device: str = "cpu"
    tta_shift_px: int | None = None
    ocr: bool = True
    force: bool = False
    frames: str | None = None
    cine_outputs: bool = True
    strict_labels: bool = False


@dataclass
class MeasureRun:
    """What a measure run produced."""

    result: MeasureResult
    paths: dict[str, Path]
    cine_paths: dict[str, dict[str, Path]] = field(default_factory=dict)


# ------------------------------------------------------------------ side tables
def _table(path: str, need: tuple[str, ...], what: str) -> list[dict[str, str]]:
    """Rows of a CSV with lower-cased column names; the named columns must exist."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            cols = {(c or "").strip().lower() for c in reader.fieldnames or []}
            missing = [c for c in need if c.lower() not in cols]
            if missing:
                raise InputError(f"{what} needs column(s) {', '.join(need)}", file=path)
            return [
                {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                for row in reader
            ]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} ({exc})", file=path) from None


def read_views_csv(path: str) -> dict[str, str]:
    """``view_index.csv`` (FileHash, view) as video code -> view."""
    return {r["filehash"]: r["view"] for r in _table(path, ("FileHash", "view"), "a views CSV")}


def resolve_views(given: str, videos: Iterable[str]) -> dict[str, str]:
    """``--views``: a view name (``A4C``) for every video, or a ``view_index.csv`` path.

    A name wins over a file of the same name, since a single cine is the common case and its
    video code is not known before it is curated.
    """
    if given in {v.value for v in View}:
        return dict.fromkeys(videos, given)
    return read_views_csv(given)


def read_frame_times_csv(path: str) -> dict[str, float]:
    """A per-video frame-time table (FileHash, FrameTime in ms) as video code -> seconds.

    Raises:
        InputError: A FrameTime that is not a positive number.
    """
    out = {}
    for i, r in enumerate(_table(path, ("FileHash", "FrameTime"), "a frame-time CSV"), 2):
        out[r["filehash"]] = _ms(r["frametime"], path, i) / 1000.0
    return out


def _ms(text: str, path: str, row: int) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not v > 0:
        raise InputError(f"row {row}: FrameTime must be a positive number of ms", file=path)
    return v


def read_phases_csv(path: str) -> dict[str, dict[int, CyclePhase]]:
    """Known phases (video, frame, phase = ED or ES) as video code -> {frame: phase}.

    Raises:
        InputError: A bad frame number or phase, naming the row.
    """
    out: dict[str, dict[int, CyclePhase]] = {}
    for i, r in enumerate(_table(path, ("video", "frame", "phase"), "a phases CSV"), 2):
        try:
            frame, phase = int(r["frame"]), CyclePhase(r["phase"].upper())
        except ValueError:
            raise InputError(
                f"row {i}: frame must be an integer and phase ED or ES", file=path
            ) from None
        out.setdefault(r["video"], {})[frame] = phase
    return out


def read_studies_csv(path: str) -> dict[str, str]:
    """Video code -> study from ``FileHash, study`` or the synthetic ``study, A4C, A2C`` form."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = {(c or "").strip().lower() for c in next(csv.reader(f), [])}
    if {"study", "a4c", "a2c"} <= header:
        out = {}
        for r in _table(path, ("study", "A4C", "A2C"), "a studies CSV"):
            out[r["a4c"]] = out[r["a2c"]] = r["study"]
        return out
    return {r["filehash"]: r["study"] for r in _table(path, ("FileHash", "study"), "a studies CSV")}


# ------------------------------------------------------------------ calibration
@dataclass
class CalibrationInput:
    """A resolved ``--calibration`` / ``--mm-per-px``: a lookup and any frame times found."""

    lookup: CalibrationLookup
    frame_times_s: dict[str, float] = field(default_factory=dict)
    description: str = ""


def _hex(video: str) -> str:
    return video.split("-", 1)[-1]


def load_calibration(spec: str | None, mm_per_px: float | None) -> CalibrationInput | None:
    """Resolve ``--calibration`` (CSV, DICOM file, folder of DICOMs) or ``--mm-per-px``.

    * a CSV ``FileHash, PhysicalDeltaX, PhysicalDeltaY`` (cm per pixel), optionally with a
      ``FrameTime`` column (ms) that curation writes: per-video spacing and frame time;
    * a DICOM file: its ultrasound-region spacing, for every video;
    * a folder: the region spacing of every DICOM in it, matched to videos by the file's
      content hash (the 64-hex part of the video code);
    * ``--mm-per-px``: one square spacing for every video.

    Returns:
        The lookup, or None when neither was given.

    Raises:
        InputError: The file is none of these (one line naming it).
        CalibrationError: A DICOM has no usable region spacing.
    """
    if mm_per_px is not None:
        if not mm_per_px > 0:
            raise InputError(f"--mm-per-px must be positive, got {mm_per_px}")
        fixed = Calibration.isotropic(mm_per_px, CalibrationSource.GIVEN, "--mm-per-px")
        return CalibrationInput(lambda _v: fixed, {}, "--mm-per-px")
    if spec is None:
        return None
    p = Path(spec)
    if not p.exists():
        raise InputError("no such calibration file or folder", file=spec)
    if p.is_dir():
        by_hex: dict[str, Calibration] = {}
        for f in sorted(p.rglob("*")):
            if f.is_file() and is_dicom_file(f):
                by_hex[_file_hex(f)] = _dicom_calibration(f)
        if not by_hex:
            raise InputError("no DICOM file in the calibration folder", file=spec)
        return CalibrationInput(lambda v: by_hex.get(_hex(v)), {}, f"{len(by_hex)} DICOMs")
    if is_dicom_file(p):
        one = _dicom_calibration(p)
        return CalibrationInput(lambda _v: one, {}, "DICOM regions")
    try:
        mapping = read_physical_csv(p)
    except CacheError as exc:
        # Keep the CSV reader's reason (row, column, value): it says what to fix.
        raise InputError(
            f"{exc.message}; --calibration takes a calibration CSV (FileHash, "
            "PhysicalDeltaX, PhysicalDeltaY in cm/px), a DICOM file or a folder of DICOMs",
            file=spec,
        ) from None
    times = {}
    for i, r in enumerate(_table(spec, ("FileHash",), "a calibration CSV"), 2):
        if r.get("frametime"):
            times[r["filehash"]] = _ms(r["frametime"], spec, i) / 1000.0
    return CalibrationInput(mapping.get, times, "calibration CSV")


def _file_hex(path: Path) -> str:
    from echomark.dicom.codes import file_code

    return file_code(path)


def _dicom_calibration(path: Path) -> Calibration:
    try:
        ds = read_header(path)
    except SkipFile as exc:
        raise InputError(f"not a usable ultrasound DICOM ({exc})", file=str(path)) from None
    try:
        return calibration_from_dataset(ds, source=str(path.name))
    except CalibrationError as exc:
        raise CalibrationError(exc.message, file=str(path)) from None


def study_of_dicom(path: Path) -> str | None:
    """A study key from a DICOM's StudyInstanceUID: a hash, so the UID is never written."""
    try:
        uid = str(read_header(path).get("StudyInstanceUID", "") or "")
    except SkipFile:
        return None
    return "study-" + hashlib.sha256(uid.encode()).hexdigest()[:16] if uid else None


# ------------------------------------------------------------------ the run
def _bar(total: int, unit: str, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, disable=None, leave=False)


def _cine_inputs(
    opts: MeasureOptions, cal: CalibrationInput | None
) -> tuple[LabelFile, dict[str, Calibration], dict[str, float], dict[str, str], list[CuratedCine]]:
    """Curate and predict every DICOM/video input in memory."""
    if not opts.checkpoint:
        raise InputError(
            "a DICOM or video input needs a model: --checkpoint or --model",
            file=str(opts.inputs[0]),
        )
    images: dict[str, ImageLabels] = {}
    cals: dict[str, Calibration] = {}
    times: dict[str, float] = {}
    studies: dict[str, str] = {}
    cines = []
    for path in opts.inputs:
        if is_video_file(path):
            cine = curate_video_in_memory(path, frames=opts.frames, ocr=opts.ocr)
        else:
            need = cal is None
            cine = curate_in_memory(
                path, frames=opts.frames, ocr=opts.ocr, need_calibration=need, force=opts.force
            )
            study = study_of_dicom(path)
            if study:
                studies[cine.video] = study
        given = cal.lookup(cine.video) if cal is not None else None
        chosen = given or cine.calibration
        if chosen is None:
            raise InputError(
                f"no spacing ({cine.calibration_note}): give --mm-per-px or --calibration",
                file=str(path),
            )
        bar = _bar(len(cine.frames), "frame", f"predict {path.name}")
        try:
            lf = predict_cine(
                cine, opts.checkpoint, device=opts.device, tta_shift_px=opts.tta_shift_px
            )
            bar.update(len(cine.frames))
        finally:
            bar.close()
        images.update(lf.images)
        cals[cine.video] = chosen
        if cine.frame_time_ms:
            times[cine.video] = cine.frame_time_ms / 1000.0
        cines.append(cine)
    label_file = LabelFile(images=images, format=LabelFormat.V2, source="measure")
    return label_file, cals, times, studies, cines


def run_measure(opts: MeasureOptions) -> MeasureRun:
    """Read the inputs, measure, and write every output (see the module docstring).

    Raises:
        InputError: Bad inputs or side tables (one line naming the file).
    """
    for p in opts.inputs:
        if not p.exists():
            raise InputError("no such file or folder", file=str(p))
    cines_in = [p for p in opts.inputs if p.is_file() and (is_dicom_file(p) or is_video_file(p))]
    if cines_in and len(cines_in) != len(opts.inputs):
        raise InputError("give either one label file or DICOM/video files, not both")
    if not cines_in and len(opts.inputs) != 1:
        raise InputError("give one label or prediction file (or DICOM/video files)")
    cal = load_calibration(opts.calibration, opts.mm_per_px)
    frame_times: dict[str, float] = dict(cal.frame_times_s) if cal is not None else {}
    studies: dict[str, str] = {}
    cines: list[CuratedCine] = []
    calibration: Mapping[str, Calibration] | CalibrationLookup
    if cines_in:
        label_file, cals, times, studies, cines = _cine_inputs(opts, cal)
        calibration = cals
        frame_times.update(times)
        opts.out.mkdir(parents=True, exist_ok=True)
        write_labels(label_file, opts.out / PREDICTIONS_JSON, format=LabelFormat.V2)
    else:
        label_file = read_split(opts.inputs[0], opts.split, strict=opts.strict_labels)
        if cal is None:
            raise InputError(
                "labels carry no spacing: give --calibration (CSV, DICOM file or folder) or "
                "--mm-per-px",
                file=str(opts.inputs[0]),
            )
        calibration = cal.lookup
    if opts.frame_times:
        frame_times.update(read_frame_times_csv(opts.frame_times))
    if opts.frame_time_ms:
        if not opts.frame_time_ms > 0:
            raise InputError(f"--frame-time-ms must be positive, got {opts.frame_time_ms}")
        videos = {k.rsplit("-", 1)[0] for k in label_file.images}
        frame_times = dict.fromkeys(videos, opts.frame_time_ms / 1000.0) | frame_times
    if opts.studies:
        studies.update(read_studies_csv(opts.studies))
    qc = find_qc_config(opts.qc, opts.checkpoint)
    # the image height in mm bounds the imaged depth (the PLAX wall-sum check)
    depth = {
        c.video: c.frames[min(c.frames)].shape[0] * calibration[c.video].dy_mm_per_px
        for c in cines
        if isinstance(calibration, Mapping)
    }
    videos = {k.rsplit("-", 1)[0] for k in label_file.images}
    store: Any = None
    if opts.images:
        from echomark.cache.store import open_store

        store = open_store(opts.images)
    elif cines:
        store = _FramesStore(cines)

    def pixels(key: str) -> Any:
        return store.read(key) if key in store else None

    bar = _bar(len(videos), "video", "measure")
    try:
        result = measure_labels(
            label_file,
            calibration,
            views=resolve_views(opts.views, videos) if opts.views else None,
            frame_time_s=frame_times,
            phases=read_phases_csv(opts.phases) if opts.phases else None,
            studies=studies or None,
            depth_mm=depth,
            image_hw={c.video: c.frames[min(c.frames)].shape[:2] for c in cines},
            min_conf=opts.min_conf,
            qc=qc,
            progress=lambda _v: bar.update(1),
            pixels=pixels if store is not None else None,
            phases_from=PhaseSource(opts.phases_from),
        )
    finally:
        bar.close()
    title = "echomark measurements: " + ", ".join(p.name for p in opts.inputs[:3])
    paths = write_outputs(result, opts.out, labels=label_file.images, images=store, title=title)
    run = MeasureRun(result, paths)
    if opts.cine_outputs:
        for cine in cines:
            if cine.video in result.series:
                run.cine_paths[cine.video] = _write_cine(
                    result, cine.video, cine.frames, label_file, opts.out
                )
        if opts.images and store is not None:
            for video in result.series:
                frames = _store_frames(store, label_file, video)
                if frames:
                    run.cine_paths[video] = _write_cine(result, video, frames, label_file, opts.out)
    return run


def _write_cine(
    result: MeasureResult, video: str, frames: Mapping[int, Any], lf: LabelFile, out: Path
) -> dict[str, Path]:
    bar = _bar(len(frames), "frame", f"overlay {video[:12]}")
    try:
        return write_cine_outputs(
            result, video, frames, lf.images, out, progress=lambda n, _t: bar.update(1)
        )
    finally:
        bar.close()


def _store_frames(store: Any, lf: LabelFile, video: str) -> dict[int, Any]:
    """The frames of a video held in a png-cache (those with labels)."""
    out = {}
    for key in lf.images:
        if key.startswith(video + "-") and key in store:
            out[int(key.rsplit("-", 1)[1].split(".")[0])] = store.read(key)
    return out


class _FramesStore:
    """In-memory cines read like a png-cache (for the report's frame overlays)."""

    def __init__(self, cines: list[CuratedCine]) -> None:
        self.by_key = {f"{c.video}-{i:04d}.png": a for c in cines for i, a in c.frames.items()}

    def __contains__(self, key: object) -> bool:
        return key in self.by_key

    def read(self, key: str) -> Any:
        return self.by_key[key]


def find_qc_config(
    qc: str | os.PathLike[str] | None, checkpoint: str | os.PathLike[str] | None
) -> QcConfig:
    """The quality-gate thresholds to measure with.

    In order: the ``--qc`` file; ``qc.json`` beside the checkpoint (put there by the user,
    e.g. from ``--calibrate-qc``); the thresholds training saved with that checkpoint
    (``best.pt`` -> ``best.qc.json``); the documented defaults. For a model folder
    (``export --model-dir``, a named model): ``qc.json`` inside it, then the thresholds in
    its card (copied there from the exported checkpoint's).
    """
    if qc:
        return read_qc_config(qc)
    path = Path(checkpoint) if checkpoint else None
    if path is not None and (path.is_dir() or path.suffix.lower() in (".json", ".safetensors")):
        from echomark.models.modelfile import CARD_FILE, read_card

        folder = path if path.is_dir() else path.parent
        if (folder / QC_JSON).is_file():
            return read_qc_config(folder / QC_JSON)
        card = read_card(folder)
        if card.qc:
            return qc_config_from_dict(card.qc, f"{folder / CARD_FILE} (qc)")
        return QcConfig()
    if checkpoint:
        for path in (Path(checkpoint).parent / QC_JSON, qc_beside(checkpoint)):
            if path.is_file():
                return read_qc_config(path)
    return QcConfig()


def calibrate_qc_file(
    predictions: Path, truth: Path, split: str, out_dir: Path, *, tolerance_px: float = 5.0
) -> Path:
    """Calibrate the quality gate on tune-split predictions and write ``out_dir/qc.json``.

    Copy the file beside the checkpoint to have ``echomark measure`` use it with that model.

    Raises:
        InputError: No predicted image has an expert label.
    """
    from echomark.fileio import atomic_write_text
    from echomark.measure.qc import calibrate_from_labels

    pred = read_split(predictions, None)
    gold = read_split(truth, split)
    if not set(pred.images) & set(gold.images):
        raise InputError(
            f"no predicted image is in the {split} split of the truth", file=str(truth)
        )
    cfg = calibrate_from_labels(
        pred.images, gold.images, tolerance_px=tolerance_px, source=f"{split} split of {truth.name}"
    )
    path = out_dir / QC_JSON
    atomic_write_text(path, cfg.to_json() + "\n")
    return path


def describe_outcome(run: MeasureRun) -> tuple[int, str]:
    """Exit status and the last line to print.

    0 when every video was measured and something passed the quality gate; 1 when some
    videos were skipped; :data:`EXIT_NOTHING_PASSED` when no value passed the gate.
    """
    r = run.result
    if r.rows and not r.any_ok:
        reasons = sorted({x for row in r.rows for x in row.reasons}, key=len)[:2]
        return EXIT_NOTHING_PASSED, (
            f"no measurement passed the quality gate ({len(r.rows)} values flagged or "
            f"rejected, e.g. {'; '.join(reasons)}); see {run.paths['html']}"
        )
    if not r.series:
        why = r.notes[0] if r.notes else (r.problems[0] if r.problems else "nothing to measure")
        return 1, f"nothing measured: {why}"
    return (1 if r.problems else 0), (
        f"measured {len(r.series)} videos ({len(r.rows)} values, {r.flagged} flagged or "
        f"rejected); {len(r.problems)} skipped, {len(r.notes)} not measured; wrote "
        f"{run.paths['csv'].parent}"
    )
