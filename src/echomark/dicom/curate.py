"""Curation: DICOM files -> de-identified PNG frames in the release png-cache layout.

The job runs in three stages, parallel over files and frame ranges:

1. *probe* each input (header check, file code); identical files share one code and are
   curated once;
2. *plan* each new video (one task per file): sample up to 16 frames, find the scan area
   and the burnt-in text (OCR once per video on its static content), decide grey or colour
   output, read the region calibration; the plan is the per-file record
   ``DIR/curate/records/<code>.json``, which is also the per-file report;
3. *write* frames in ranges (several tasks per long cine), each frame decoded, masked,
   PNG-encoded and written atomically.

Resuming is free: records whose settings match are reused and frames whose PNG exists are
skipped, so a killed run, restarted, produces byte-identical files. ``manifest.csv`` and
``<class>_database_physical.csv`` are rebuilt at the end from all records of videos whose
frames are complete. Nothing from the DICOM header that could identify a patient (names,
IDs, dates, UIDs, institution) is written, and input paths never go into ``DIR``.

Inputs are files and folders, or :class:`Instance` objects (a name and the bytes of one
DICOM file) from any other source, e.g. a PACS (``echomark.sources``). Instances are spooled
to a private temporary folder outside ``DIR`` and then curated exactly like files, so the
same bytes give the same code and the same PNGs whichever way they arrived.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import io
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from echomark.cache.keys import VideoCode
from echomark.cache.physical import write_physical_csv
from echomark.cache.png import DEFAULT_COMPRESS_LEVEL
from echomark.cache.writer import CacheWriter, zip_folder
from echomark.calibration import Calibration
from echomark.dicom import mask as masklib
from echomark.dicom.codes import CodeMode, CodeSource, bytes_code, content_code, file_code
from echomark.dicom.ocr import detect_text, ocr_available, warm_up
from echomark.dicom.read import (
    SAMPLE_FRAMES,
    PixelRecipe,
    SkipFile,
    UInt8Array,
    find_inputs,
    frame_count,
    frame_time_ms,
    iter_frames,
    read_header,
    rgb_to_grey,
    sampled_recipe,
)
from echomark.dicom.regions import calibration_from_dataset, regions_from_dataset
from echomark.errors import (
    CacheError,
    CalibrationError,
    ConfigError,
    DicomError,
    EchomarkError,
    InputError,
)
from echomark.fileio import atomic_write_text, folder_lock, stale_temps
from echomark.pools import process_pool
from echomark.progress import ByteProgress

#: Bumped whenever a change alters the pixels written, so old records are re-planned.
PIPELINE_VERSION = 1
#: A video is written in colour when this fraction of kept pixels is really coloured.
COLOUR_MIN_FRACTION = 0.005
#: Test hook: abort the process (as if killed) after this many frames were written.
ABORT_ENV = "ECHOMARK_CURATE_ABORT_AFTER"
#: Sub-folder of the output holding per-file records and the run report.
WORK_DIR = "curate"

MANIFEST_COLUMNS = (
    "code",
    "class",
    "frames",
    "rows",
    "cols",
    "frame_time_ms",
    "photometric",
    "output",
    "transfer_syntax",
    "manufacturer",
    "model",
    "physical_delta_x_cm_per_px",
    "physical_delta_y_cm_per_px",
    "calibration_units",
    "calibration_note",
    "mask_method",
    "text_boxes",
    "kept_fraction",
)


class Outcome(str, Enum):
    """What happened to one input file."""

    CURATED = "curated"
    SKIPPED = "skipped"
    DUPLICATE = "duplicate"
    FAILED = "failed"


@dataclass(frozen=True)
class CurateOptions:
    """Settings of one curation run.

    Attributes:
        dataset_class: Two-digit class, ``01`` development or ``02`` external validation.
        out_dir: Output folder (``png-cache/``, ``manifest.csv``, ...).
        workers: Processes; 1 runs everything in this process.
        ocr: Detect and blank burnt-in text (needs rapidocr).
        compress_level: zlib level of the PNGs.
        key: Secret for keyed (HMAC) codes; None for SHA-256 of the file bytes.
        zip: Also write ``png-cache.zip`` (release layout, deterministic).
        chunk_frames: Frames per write task (None: balance over the workers).
        code_source: Codes from the file bytes (the release's scheme) or from the DICOM
            content (the same whichever transport delivered the file).
        spool_dir: Where in-memory instances are spooled (None: the system's temporary
            folder); on a multi-host cluster, a folder every worker sees.
    """

    dataset_class: str
    out_dir: Path
    workers: int = 1
    ocr: bool = True
    compress_level: int = DEFAULT_COMPRESS_LEVEL
    key: bytes | None = field(default=None, repr=False)
    zip: bool = False
    chunk_frames: int | None = None
    spool_dir: Path | None = None
    code_source: CodeSource = CodeSource.FILE

    def settings(self) -> dict[str, Any]:
        """Everything that changes the written pixels (recorded in each record)."""
        return {
            "pipeline": PIPELINE_VERSION,
            "ocr": self.ocr,
            "compress_level": self.compress_level,
            "sample_frames": SAMPLE_FRAMES,
            "code_mode": (CodeMode.HMAC_SHA256 if self.key else CodeMode.SHA256).value,
        }


@dataclass(frozen=True)
class Instance:
    """One DICOM file handed over in memory by a source other than the file system.

    Attributes:
        name: How the instance is shown in log lines (never written to ``DIR``).
        data: The file's bytes (Part 10 format, as stored).
        error: Non-empty when the source could not deliver it: the instance is then
            reported as failed with this reason (``data`` is ignored).
    """

    name: str
    data: bytes = field(default=b"", repr=False)
    error: str = ""


@dataclass
class FileResult:
    """The outcome for one input file (the path is only ever shown, never written)."""

    path: str
    outcome: Outcome
    code: str = ""
    reason: str = ""
    frames: int = 0


@dataclass
class CurateResult:
    """Summary of a run."""

    files: list[FileResult]
    frames_written: int
    frames_skipped: int
    seconds: float

    @property
    def failed(self) -> list[FileResult]:
        """Files that could not be curated."""
        return [f for f in self.files if f.outcome is Outcome.FAILED]

    def count(self, outcome: Outcome) -> int:
        """Number of files with ``outcome``."""
        return sum(f.outcome is outcome for f in self.files)


# ----------------------------------------------------------------------------- workers


#: onnxruntime threads for OCR, fixed whatever the worker count: float reductions split
#: over a different number of threads could move a text box by a pixel and so change the
#: PNG bytes between runs with different ``--workers``.
OCR_THREADS = 1


def _die_with_parent(parent_pid: int) -> None:
    """End this worker when the curating process dies, even by ``kill -9``.

    Linux delivers SIGKILL on the parent's death (``PR_SET_PDEATHSIG``); a watch thread
    covers other systems and the forkserver in between (whose death the kernel reports to
    the worker, not the curating process's). Either way no orphan keeps hundreds of MB.
    """
    import threading

    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # no libc prctl: the thread below still works
            pass

    def watch() -> None:
        while True:
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # pragma: no cover - pid reused by another user
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, name="echomark-parent-watch", daemon=True).start()


def init_worker(ocr: bool, parent_pid: int = 0) -> None:
    """Per-process set-up of a curation worker: one OpenCV thread, OCR model loaded.

    With ``parent_pid`` the worker also ends when that process dies.
    """
    import cv2

    if parent_pid:
        _die_with_parent(parent_pid)
    cv2.setNumThreads(1)
    if ocr:
        warm_up(threads=OCR_THREADS)


def _noop() -> None:
    """Sent to each new worker so that it starts (and warms up) right away."""


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    return str(message) if message else f"{type(exc).__name__}: {exc}"


def plan_video(
    path: str, video: str, settings: dict[str, Any], ocr: bool, *, ultrasound_only: bool = True
) -> dict[str, Any]:
    """Plan one video: everything the frame writers need, as a JSON-able record.

    Args:
        path: The DICOM file.
        video: Its video code ``<class>-<64hex>``.
        settings: :meth:`CurateOptions.settings`.
        ocr: Run text detection.
        ultrasound_only: Refuse a file that is not ultrasound (False: ``--force``; with no
            ultrasound regions it is masked like a region-less cine).

    Returns:
        The per-file record (see the module docstring).

    Raises:
        DicomError: The file cannot be decoded.
    """
    ds = read_header(path, ultrasound_only=ultrasound_only)
    rows, cols, n = int(ds.Rows), int(ds.Columns), frame_count(ds)
    recipe, samples = sampled_recipe(path, ds)
    greys = [rgb_to_grey(s) for s in samples]
    notes: list[str] = []

    try:
        regions = regions_from_dataset(ds)
    except CalibrationError as exc:
        regions, notes = [], [f"unusable regions: {exc.message}"]
    spec = scan_mask(greys, rows, cols, regions, ocr, notes)
    keep = masklib.render_keep(spec)

    output = "grey"
    if samples[0].ndim == 3 and masklib.colour_fraction(samples, keep) > COLOUR_MIN_FRACTION:
        output = "rgb"

    calibration: dict[str, Any] | None = None
    cal_note = ""
    try:
        region = calibration_from_dataset(ds, source="dicom").region
    except CalibrationError as exc:
        region, cal_note = None, exc.message
    if region is not None:
        # The CSV keeps DICOM's cm per pixel exactly as stored (no mm round trip).
        calibration = {
            "dx_cm_per_px": abs(region.delta_x),
            "dy_cm_per_px": abs(region.delta_y),
            "units": "cm",
            "region": region.index,
        }

    cls, hexcode = video.split("-", 1)
    return {
        "pipeline": PIPELINE_VERSION,
        "settings": settings,
        "code": video,
        "class": cls,
        "hex": hexcode,
        "frames": n,
        "rows": rows,
        "cols": cols,
        "frame_time_ms": frame_time_ms(ds),
        "photometric": recipe.photometric,
        "transfer_syntax": str(getattr(ds.file_meta.get("TransferSyntaxUID"), "name", "")),
        "bits_stored": recipe.bits_stored,
        # The header's own claim; informational only, the pixels are masked regardless.
        "burned_in_annotation": str(ds.get("BurnedInAnnotation", "") or ""),
        "manufacturer": str(ds.get("Manufacturer", "") or ""),
        "model": str(ds.get("ManufacturerModelName", "") or ""),
        "output": output,
        "recipe": recipe.to_json(),
        "calibration": calibration,
        "calibration_note": cal_note,
        "mask": spec.to_json(),
        "ocr": "rapidocr" if ocr else "off",
        "kept_fraction": round(float(keep.mean()), 4),
    }


def scan_mask(
    greys: Sequence[np.ndarray],
    rows: int,
    cols: int,
    regions: Sequence[Any],
    ocr: bool,
    notes: list[str] | None = None,
) -> masklib.MaskSpec:
    """What to keep of a cine's frames (the one masking recipe, DICOM or video).

    Its ultrasound regions, else the moving sector (or still fan, or all but the header
    band), less burnt-in text found by OCR. The one masking recipe for DICOMs (regions from the header) and for videos (none).

    Args:
        greys: A sample of grey frames.
        rows: Frame height.
        cols: Frame width.
        regions: Ultrasound regions (empty for a video).
        ocr: Blank text found by OCR.
        notes: Messages so far (appended to).
    """
    notes = [] if notes is None else notes
    rects, problems = masklib.region_rects(list(regions), rows, cols)
    if rects:
        spec = masklib.MaskSpec(masklib.MaskMethod.REGIONS, rows, cols, keep_rects=rects)
    else:
        notes += problems
        spec = _fallback_spec(greys, rows, cols, notes)
    if ocr:
        # Grey is enough to find text, and the median of grey frames costs a third.
        static = masklib.static_image(greys)
        found, dropped = masklib.plausible_text(detect_text(static, threads=OCR_THREADS), rows)
        if dropped:
            spec.notes.append(f"ignored {dropped} detection(s) too tall to be a text line")
        keep = masklib.render_keep(spec)
        spec.text_rects = [
            r
            for r in masklib.dilate_rects(found, rows, cols)
            if keep[r[1] : r[3] + 1, r[0] : r[2] + 1].any()
        ]
    return spec


def _fallback_spec(
    greys: Sequence[np.ndarray], rows: int, cols: int, notes: list[str]
) -> masklib.MaskSpec:
    """Scan area without usable regions: moving sector, else still fan, else header band."""
    if len({g.tobytes() for g in greys}) >= 2:
        poly = masklib.motion_polygon(greys)
        if poly:
            return masklib.MaskSpec(
                masklib.MaskMethod.MOTION, rows, cols, keep_polygon=poly, notes=notes
            )
        notes.append("too little motion for a moving sector")
    poly = masklib.fan_polygon(masklib.static_image(greys))
    if poly:
        return masklib.MaskSpec(masklib.MaskMethod.FAN, rows, cols, keep_polygon=poly, notes=notes)
    notes.append("no scan fan found: blanking the top band only")
    return masklib.MaskSpec(
        masklib.MaskMethod.BAND, rows, cols, band_rows=masklib.band_rows(rows), notes=notes
    )


_written_in_process = 0


def _abort_hook() -> None:
    """Simulate a kill after ``$ECHOMARK_CURATE_ABORT_AFTER`` frames (tests only)."""
    global _written_in_process
    limit = os.environ.get(ABORT_ENV)
    if not limit:
        return
    _written_in_process += 1
    if _written_in_process >= int(limit):
        os._exit(75)


def masked_frames(
    path: str, record: dict[str, Any], indices: Sequence[int], *, ultrasound_only: bool = True
) -> Iterator[tuple[int, UInt8Array]]:
    """Frames ``indices`` of a planned video exactly as curation writes them.

    Decoded with the record's recipe, grey or RGB as planned, everything outside the mask
    zeroed. Also used to curate in memory (:mod:`echomark.dicom.memory`).

    Args:
        path: The DICOM file.
        record: Its plan (:func:`plan_video`).
        indices: Frame numbers, ascending.
        ultrasound_only: As for :func:`plan_video`.

    Yields:
        ``(frame number, uint8 frame)``.

    Raises:
        DicomError: Decoding failed or a frame has the wrong size.
    """
    ds = read_header(path, ultrasound_only=ultrasound_only)
    recipe = PixelRecipe.from_json(record["recipe"])
    keep = masklib.render_keep(masklib.MaskSpec.from_json(record["mask"]))
    grey = record["output"] == "grey"
    frames = iter_frames(path, ds, recipe, list(indices), grey=grey)
    for i, img in zip(indices, frames, strict=True):
        if img.shape[:2] != keep.shape:
            raise DicomError(f"frame {i} is {img.shape[:2]}, header says {keep.shape}", file=path)
        yield i, masklib.apply_keep(img, keep)


def write_task(
    path: str, record: dict[str, Any], indices: list[int], out_dir: str, compress_level: int
) -> int:
    """Decode, mask, encode and write frames ``indices`` of one video; returns the count.

    Raises:
        DicomError: Decoding failed or a frame has the wrong size.
    """
    video = VideoCode(record["class"], record["hex"])
    writer = CacheWriter(out_dir, compress_level)
    done = 0
    for i, frame in masked_frames(path, record, indices):
        writer.write(video.frame(i), frame)
        done += 1
        _abort_hook()
    return done


# ----------------------------------------------------------------------------- driver


def _executor(workers: int, ocr: bool) -> cf.Executor:
    """Inline for one worker; else a forkserver pool with the decoders (and OCR) preloaded."""
    preload = ["echomark.dicom.curate", "pydicom.pixels"]
    if ocr:  # curate() has already checked that rapidocr is installed
        preload.append("rapidocr")
    return process_pool(
        workers, preload=preload, initializer=init_worker, initargs=(ocr, os.getpid())
    )


#: File under ``DIR/curate`` remembering the de-identification settings of the folder.
DEID_FILE = "deidentification.json"


def deid_settings(options: CurateOptions) -> dict[str, Any]:
    """The settings that decide what identifying content survives in the pixels."""
    return {"ocr": bool(options.ocr), "pipeline": PIPELINE_VERSION}


def _describe_deid(settings: dict[str, Any]) -> str:
    return "masking + OCR text removal" if settings.get("ocr") else "masking only (--no-ocr)"


def check_deid_settings(out_dir: Path, options: CurateOptions) -> None:
    """Refuse to resume a folder curated with other de-identification settings.

    Mixing would leave burnt-in text in some frames while ``manifest.csv`` describes the
    folder as a whole; the folder remembers its settings in ``curate/deidentification.json``
    (older folders: the settings of their records).

    Raises:
        ConfigError: The folder was curated with other settings.
    """
    want = deid_settings(options)
    path = out_dir / WORK_DIR / DEID_FILE
    have: dict[str, Any] | None = None
    if path.is_file():
        have = json.loads(path.read_text(encoding="utf-8"))
    else:
        for rec_path in sorted(records_dir(out_dir).glob("*.json"))[:1]:
            rec = _load_record(rec_path)
            if rec is not None and "settings" in rec:
                have = {
                    "ocr": bool(rec["settings"].get("ocr")),
                    "pipeline": rec["settings"].get("pipeline"),
                }
    if have is not None and have.get("ocr") != want["ocr"]:
        raise ConfigError(
            f"this folder was curated with {_describe_deid(have)}; this run would use "
            f"{_describe_deid(want)} and mix the two: use the same settings or a new --out",
            file=str(out_dir),
        )


def write_deid_settings(out_dir: Path, options: CurateOptions) -> None:
    """Record the folder's de-identification settings (first run only)."""
    path = out_dir / WORK_DIR / DEID_FILE
    if not path.is_file():
        atomic_write_text(path, json.dumps(deid_settings(options), sort_keys=True) + "\n")


def records_dir(out_dir: Path) -> Path:
    """Where per-file records live."""
    return out_dir / WORK_DIR / "records"


def input_code(data: str | bytes, options: CurateOptions) -> str:
    """The 64-hex code of one input (a path or the file's bytes) under ``options``."""
    if options.code_source is CodeSource.CONTENT:
        return content_code(data, options.key)
    if isinstance(data, bytes):
        return bytes_code(data, options.key)
    return file_code(data, options.key)


def check_code_scheme(
    out_dir: Path, key: bytes | None, source: CodeSource = CodeSource.FILE
) -> None:
    """Refuse to mix code schemes (plain SHA-256, or HMAC with different keys) in one DIR.

    Mixing would release the same video under a linkable and an unlinkable code. The DIR
    remembers its scheme in ``curate/codes.json`` (for HMAC a key check value, which reveals
    nothing about the key).

    Raises:
        ConfigError: DIR was curated with another scheme or key.
    """
    mode = CodeMode.HMAC_SHA256 if key else CodeMode.SHA256
    check = bytes_code(b"echomark key check", key)[:16] if key else ""
    want = {"mode": mode.value, "key_check": check}
    if source is not CodeSource.FILE:  # file-code folders keep the codes.json they always had
        want["source"] = source.value
    path = out_dir / WORK_DIR / "codes.json"
    if path.is_file():
        have = json.loads(path.read_text(encoding="utf-8"))
        if have != want:
            have_src = have.get("source", CodeSource.FILE.value)
            if have_src != source.value:
                raise ConfigError(
                    f"this folder has codes from the {have_src}; this run would take them "
                    f"from the {source.value}: use a new --out (or --code-from {have_src})",
                    file=str(out_dir),
                )
            raise ConfigError(
                f"this folder was curated with {have.get('mode')} codes"
                + (" and another key" if have.get("mode") == mode.value else "")
                + f"; this run would use {mode.value}: use a new --out (or the same key)",
                file=str(out_dir),
            )
        return
    atomic_write_text(path, json.dumps(want, sort_keys=True) + "\n")


def _probe(
    paths: Sequence[str],
    options: CurateOptions,
    results: Sequence[FileResult],
    say: Callable[[str], None],
) -> dict[str, int]:
    """Check each input and compute its code, setting its outcome in ``results``.

    Inputs are skipped (not an ultrasound image, ...), failed (unusable, or already curated
    in this folder under another class), duplicates of an earlier input, or to be curated.

    Returns:
        Video code -> index of the input to curate for it.
    """
    # Files curated here under another class (this run only adds its own class, so one
    # listing serves every input). One file in two classes would leak between development
    # and validation.
    other_class = {
        p.stem.rsplit("-", 1)[1]: p.stem
        for p in records_dir(Path(options.out_dir)).glob("*-*.json")
        if not p.name.startswith(options.dataset_class + "-")
    }
    by_video: dict[str, int] = {}
    for i, (path, res) in enumerate(zip(paths, results, strict=True)):
        if res.outcome is Outcome.FAILED:  # an instance its source could not deliver
            say(f"FAILED {res.path}: {res.reason}")
            continue
        try:
            read_header(path)
            hexcode = input_code(path, options)
        except SkipFile as exc:
            res.reason = str(exc)
            say(f"skipped {res.path}: {res.reason}")
            continue
        except EchomarkError as exc:
            res.outcome, res.reason = Outcome.FAILED, _reason(exc)
            say(f"FAILED {res.path}: {res.reason}")
            continue
        video = f"{options.dataset_class}-{hexcode}"
        if video in by_video:
            first = by_video[video]
            res.outcome, res.code = Outcome.DUPLICATE, video
            res.reason = f"identical to input #{first + 1}"
            say(f"duplicate {res.path}: same bytes as {results[first].path}")
        elif hexcode in other_class:
            res.outcome = Outcome.FAILED
            res.reason = (
                f"already curated in this folder as {other_class[hexcode][:2]}-... (other class)"
            )
            say(f"FAILED {res.path}: {res.reason}")
        else:
            res.outcome, res.code = Outcome.CURATED, video
            by_video[video] = i
    return by_video


def _load_record(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def _missing_frames(writer: CacheWriter, video: VideoCode, n: int) -> list[int]:
    return [i for i in range(n) if not writer.exists(video.frame(i))]


def _remove_stale_temp(writer: CacheWriter, video: VideoCode) -> None:
    """Delete temp files a killed run left beside this video's frames."""
    for tmp in stale_temps(writer.path(video.frame(0)).parent, f"{video}-"):
        tmp.unlink(missing_ok=True)


def _chunks(frames: list[int], size: int) -> list[list[int]]:
    return [frames[i : i + size] for i in range(0, len(frames), size)]


def _spool(instance: Instance, spool: Path, index: int) -> str:
    """Write an instance's bytes to a private file (mode 0600) and return its path."""
    path = spool / f"{index:07d}.dcm"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(instance.data)
    return str(path)


def curate(
    sources: Iterable[str | os.PathLike[str] | Instance],
    options: CurateOptions,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    executor: cf.Executor | None = None,
    fatal: tuple[type[BaseException], ...] = (),
    require_input: bool = True,
) -> CurateResult:
    """Curate DICOM files into ``options.out_dir`` (see the module docstring).

    Args:
        sources: Files, folders (recursive) and DICOMDIRs, and/or :class:`Instance`
            objects (consumed once, in order, after the files).
        options: Run settings.
        progress: Show progress on stderr (:class:`echomark.progress.ByteProgress`: a bar
            on a terminal, a plain line every so often otherwise).
        log: Called with one line per skipped, duplicate or failed input (may show paths).
        executor: Runs the plan and write tasks instead of this module's own process
            pool (e.g. a Dask cluster's); it must see ``out_dir``, the input files and
            ``options.spool_dir`` at the same paths. ``options.workers`` should be its
            number of worker slots. It is not shut down here.
        fatal: Exceptions of ``executor`` that mean lost workers rather than a bad file:
            the run stops (everything written is kept for a rerun) instead of failing it.
        require_input: Refuse sources holding no ultrasound DICOM (a user's files); False
            for a server pass, which may list nothing new.

    Returns:
        Per-file outcomes and frame counts.

    Raises:
        ConfigError: Bad options, or OCR requested but not installed.
        DicomError: A source does not exist.
    """
    t0 = time.perf_counter()
    say = log or (lambda line: None)
    if not (len(options.dataset_class) == 2 and options.dataset_class.isdigit()):
        raise ConfigError(f"class must be two digits, got {options.dataset_class!r}")
    if options.ocr and not ocr_available():
        raise ConfigError(
            "text detection needs rapidocr: pip install 'echomark[ocr]' (or pass --no-ocr)"
        )
    out_dir = Path(options.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError("--out names an existing file; give a folder", file=str(out_dir))
    with folder_lock(out_dir):
        check_deid_settings(out_dir, options)
        if options.spool_dir is not None:
            Path(options.spool_dir).mkdir(parents=True, exist_ok=True)
        spool = Path(tempfile.mkdtemp(prefix="echomark-spool-", dir=options.spool_dir))
        try:
            return _curate(
                sources, options, out_dir, spool, progress, say, t0, executor, fatal, require_input
            )
        finally:
            shutil.rmtree(spool, ignore_errors=True)


def _curate(
    sources: Iterable[str | os.PathLike[str] | Instance],
    options: CurateOptions,
    out_dir: Path,
    spool: Path,
    progress: bool,
    say: Callable[[str], None],
    t0: float,
    executor: cf.Executor | None,
    fatal: tuple[type[BaseException], ...],
    require_input: bool = True,
) -> CurateResult:
    """:func:`curate` once its arguments are checked and ``out_dir`` is locked.

    Instances are spooled to ``spool``.
    """
    settings = options.settings()
    writer = CacheWriter(out_dir, options.compress_level)
    rec_dir = records_dir(out_dir)
    out_abs = out_dir.resolve()
    # Instances go to the spool as they arrive (a source may stream thousands of them);
    # only their names and spool paths stay in memory.
    spooled: list[tuple[str, FileResult]] = []
    files: list[str | os.PathLike[str]] = []
    for src in sources:
        if not isinstance(src, Instance):
            files.append(src)
        elif src.error:
            spooled.append(("", FileResult(src.name, Outcome.FAILED, reason=src.error)))
        else:
            path = _spool(src, spool, len(spooled))
            spooled.append((path, FileResult(src.name, Outcome.SKIPPED)))
    # The output folder may sit inside a source folder: never read our own outputs back.
    paths = [str(p) for p in find_inputs(files) if not p.resolve().is_relative_to(out_abs)]
    if require_input and not paths and not spooled:
        raise InputError(
            "found no files to curate; give DICOM files or folders holding them",
            file=", ".join(str(f) for f in files),
        )
    results: list[FileResult] = [FileResult(p, Outcome.SKIPPED) for p in paths]
    paths += [path for path, _ in spooled]
    results += [res for _, res in spooled]
    written = 0
    skipped_frames = 0

    bar: Any = None
    try:
        pool = (
            contextlib.nullcontext(executor)
            if executor is not None
            else _executor(options.workers, options.ocr)
        )
        with pool as ex:
            # Start the workers now (they load the OCR model while starting) and probe the
            # inputs here meanwhile: probing is cheap (a header and a hash per file).
            for _ in range(options.workers if options.workers > 1 and executor is None else 0):
                ex.submit(_noop)
            # Per-file lines wait until something is to be curated: if nothing is, the one
            # error below says so instead of a screen of "skipped" lines.
            probe_lines: list[str] = []
            by_video = _probe(paths, options, results, probe_lines.append)
            nothing = not by_video and not any(r.outcome is not Outcome.SKIPPED for r in results)
            if require_input and nothing and results:
                first = results[0]
                raise InputError(
                    f"none of the {len(results)} input files is an ultrasound DICOM "
                    f"(first: {first.reason}); nothing was curated",
                    file=first.path,
                )
            for line in probe_lines:
                say(line)
            check_code_scheme(out_dir, options.key, options.code_source)
            write_deid_settings(out_dir, options)

            def submit_writes(i: int, record: dict[str, Any], rewrite: bool) -> None:
                """Queue the frames of a planned video not yet written (all with ``rewrite``)."""
                nonlocal skipped_frames
                video = VideoCode(record["class"], record["hex"])
                _remove_stale_temp(writer, video)
                n = int(record["frames"])
                results[i].frames = n
                todo = list(range(n)) if rewrite else _missing_frames(writer, video, n)
                skipped_frames += n - len(todo)
                if bar is not None:
                    bar.grow(n)
                    bar.update(n - len(todo))
                if options.chunk_frames:
                    size = options.chunk_frames
                elif options.workers <= 1:
                    size = max(1, len(todo))
                else:
                    size = max(4, math.ceil(len(todo) / (2 * options.workers)))
                for chunk in _chunks(todo, size):
                    f = ex.submit(
                        write_task, paths[i], record, chunk, str(out_dir), options.compress_level
                    )
                    tasks[f] = ("write", i, len(chunk))

            tasks: dict[cf.Future[Any], tuple[str, int, int]] = {}
            ready: list[tuple[int, dict[str, Any]]] = []  # planned by an earlier run
            for video, i in by_video.items():
                rec = _load_record(rec_dir / f"{video}.json")
                if rec is not None and rec.get("settings") == settings:
                    ready.append((i, rec))
                else:
                    f = ex.submit(plan_video, paths[i], video, settings, options.ocr)
                    tasks[f] = ("plan", i, 0 if rec is None else 1)

            if progress:
                bar = ByteProgress(0, "curating", unit="frame")
            for i, rec in ready:
                submit_writes(i, rec, rewrite=False)

            while tasks:
                done, _ = cf.wait(list(tasks), return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    kind, i, extra = tasks.pop(fut)
                    res = results[i]
                    exc = fut.exception()
                    if exc is not None and isinstance(exc, (BrokenProcessPool, *fatal)):
                        raise BrokenProcessPool(_reason(exc))
                    if exc is not None:
                        if res.outcome is not Outcome.FAILED:
                            res.outcome, res.reason = Outcome.FAILED, _reason(exc)
                            say(f"FAILED {res.path}: {res.reason}")
                        if isinstance(exc, ConfigError):
                            raise exc
                        continue
                    if kind == "plan":
                        plan: dict[str, Any] = fut.result()
                        atomic_write_text(
                            rec_dir / f"{plan['code']}.json",
                            json.dumps(plan, indent=1, sort_keys=True),
                        )
                        submit_writes(i, plan, rewrite=extra == 1)
                    else:
                        written += int(fut.result())
                        if bar is not None:
                            bar.update(extra)
    except BrokenProcessPool:
        # Not any file's fault (a worker was killed, e.g. out of memory): stop and keep
        # everything written so far for the next run to resume from. The pool can break
        # while a result is awaited or while the next task is submitted; both end here.
        raise CacheError(
            "a worker process died; nothing is lost, re-run the same command to "
            "resume (fewer --workers if memory is short)"
        ) from None
    if bar is not None:
        bar.close()

    for res in results:
        if res.outcome is Outcome.FAILED and res.code:
            _drop_video(out_dir, writer, res.code)
    finish_outputs(out_dir, options)
    return CurateResult(results, written, skipped_frames, time.perf_counter() - t0)


def _drop_video(out_dir: Path, writer: CacheWriter, code: str) -> None:
    """Remove a failed video's partial frames and record, so the cache holds whole videos."""
    video = VideoCode.parse(code)
    rec_path = records_dir(out_dir) / f"{code}.json"
    rec = _load_record(rec_path)
    n = int(rec["frames"]) if rec else 0
    for i in range(n):
        writer.path(video.frame(i)).unlink(missing_ok=True)
    rec_path.unlink(missing_ok=True)


def complete_records(out_dir: Path) -> list[dict[str, Any]]:
    """Records of videos whose frames are all present, sorted by code."""
    writer = CacheWriter(out_dir)
    out = []
    for path in sorted(records_dir(out_dir).glob("*.json")):
        rec = _load_record(path)
        if rec is None:
            continue
        video = VideoCode(rec["class"], rec["hex"])
        if not _missing_frames(writer, video, int(rec["frames"])):
            out.append(rec)
    return out


def manifest_row(rec: dict[str, Any]) -> dict[str, str]:
    """One ``manifest.csv`` row of a record (no patient identifiers, dates or UIDs)."""
    cal = rec.get("calibration") or {}
    spec = rec["mask"]
    ft = rec.get("frame_time_ms")
    return {
        "code": rec["code"],
        "class": rec["class"],
        "frames": str(rec["frames"]),
        "rows": str(rec["rows"]),
        "cols": str(rec["cols"]),
        "frame_time_ms": "" if ft is None else f"{float(ft):g}",
        "photometric": rec["photometric"],
        "output": rec["output"],
        "transfer_syntax": rec["transfer_syntax"],
        "manufacturer": rec["manufacturer"],
        "model": rec["model"],
        "physical_delta_x_cm_per_px": repr(cal["dx_cm_per_px"]) if cal else "",
        "physical_delta_y_cm_per_px": repr(cal["dy_cm_per_px"]) if cal else "",
        "calibration_units": cal.get("units", "") if cal else "",
        "calibration_note": rec.get("calibration_note", ""),
        "mask_method": spec["method"] + ("+ocr" if rec.get("ocr") == "rapidocr" else ""),
        "text_boxes": str(len(spec.get("text_rects", []))),
        "kept_fraction": f"{float(rec.get('kept_fraction', 0.0)):.4f}",
    }


def finish_outputs(out_dir: Path, options: CurateOptions) -> None:
    """Write ``manifest.csv``, the calibration CSV(s), the run report and the zip."""
    records = complete_records(out_dir)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    w.writeheader()
    for rec in records:
        w.writerow(manifest_row(rec))
    atomic_write_text(out_dir / "manifest.csv", buf.getvalue())

    classes = sorted({rec["class"] for rec in records} | {options.dataset_class})
    for cls in classes:
        mapping = {
            rec["code"]: Calibration.from_cm_per_px(
                rec["calibration"]["dx_cm_per_px"], rec["calibration"]["dy_cm_per_px"]
            )
            for rec in records
            if rec["class"] == cls and rec.get("calibration")
        }
        times = {rec["code"]: rec.get("frame_time_ms") for rec in records if rec["class"] == cls}
        write_physical_csv(out_dir / f"{cls}_database_physical.csv", mapping, times)
    if options.zip:
        (out_dir / "png-cache").mkdir(parents=True, exist_ok=True)
        zip_folder(out_dir, out_dir / "png-cache.zip")
