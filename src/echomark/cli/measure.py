"""``echomark measure``: LV measurements in mm from labels, predictions or a DICOM."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

COMMAND = "measure"


def add_parser(subparsers: Any) -> None:
    """Register ``echomark measure``."""
    p = subparsers.add_parser(
        COMMAND,
        help="PLAX/apical LV measurements (mm, mL, EF, GLS) from labels, predictions or a DICOM",
        description="Measure IVS/LVID/LVPW (PLAX) and LV length/area/volume/endocardial length "
        "(apical) on every frame, find end-diastole and end-systole from the frame time, and "
        "report per-beat values (LVIDd, LV mass, FS, EDV, ESV, EF, GLS) and their mean. Writes "
        "OUT/measurements.csv (long form), measurements.json and report.html. A DICOM is decoded "
        "and masked as 'echomark curate' writes it (burnt-in text blanked by OCR unless "
        "--no-ocr), predicted exactly as 'echomark predict' would, and its predictions are "
        "written to OUT/predictions.json.",
    )
    p.add_argument(
        "input",
        help="labels or predictions (.json, labels.zip or a folder), or a DICOM file "
        "(with --checkpoint)",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--calibration",
        help="*_database_physical.csv (FileHash, PhysicalDeltaX, PhysicalDeltaY in cm/px)",
    )
    p.add_argument(
        "--mm-per-px",
        type=float,
        help="one square-pixel spacing for every video (when no calibration CSV exists)",
    )
    p.add_argument("--split", default="all", help="split of a labels.zip or folder (default all)")
    p.add_argument("--views", help="view_index.csv (FileHash, view); default: from the labels")
    p.add_argument(
        "--frame-time-ms",
        type=float,
        help="milliseconds between frames, for ED/ES detection (a DICOM supplies its own)",
    )
    p.add_argument("--images", help="png-cache (zip or folder) for frame overlays in the report")
    p.add_argument("--checkpoint", help="model checkpoint, to measure a DICOM directly")
    p.add_argument(
        "--min-conf",
        type=float,
        default=0.1,
        help="predicted labels at or below this confidence are ignored (default 0.1)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (DICOM input)")
    p.add_argument(
        "--no-ocr", action="store_true", help="DICOM input: skip blanking burnt-in text by OCR"
    )
    p.add_argument("--frames", help="DICOM input: frames to measure, e.g. 0:40 (default all)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def read_views_csv(path: str | Path) -> dict[str, str]:
    """``view_index.csv`` (columns FileHash, view) as video code → view."""
    import csv

    from echomark.errors import InputError

    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
            if "filehash" not in fields or "view" not in fields:
                raise InputError("needs columns FileHash and view", file=str(path))
            return {
                row[fields["filehash"]].strip(): row[fields["view"]].strip()
                for row in reader
                if row.get(fields["filehash"])
            }
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None


def _read_label_input(args: argparse.Namespace) -> Any:
    from echomark.labels.splits import read_split

    return read_split(Path(args.input), args.split)


def _dicom_input(args: argparse.Namespace) -> tuple[Any, Any, dict[str, float], Any]:
    """Curate and predict a DICOM in memory: (label file, calibrations, frame times, cine).

    The predictions are also written to ``OUT/predictions.json``, as ``echomark predict``
    writes them.
    """
    from echomark.errors import InputError
    from echomark.labels.io import write_labels
    from echomark.labels.schema import LabelFormat
    from echomark.predict.api import PREDICTIONS_JSON
    from echomark.workflows.measure_dicom import predict_dicom

    if not args.checkpoint:
        raise InputError("a DICOM input needs --checkpoint", file=args.input)
    label_file, cine, calibration = predict_dicom(
        args.input, args.checkpoint, device=args.device, frames=args.frames, ocr=not args.no_ocr
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_labels(label_file, out / PREDICTIONS_JSON, format=LabelFormat.V2)
    ft_ms = args.frame_time_ms or cine.frame_time_ms
    times = {cine.video: ft_ms / 1000.0} if ft_ms else {}
    return label_file, {cine.video: calibration}, times, cine


class _FramesStore:
    """The in-memory frames of a curated DICOM, read like a png-cache for overlays."""

    def __init__(self, frames: dict[int, Any], video: str) -> None:
        self.by_key = {f"{video}-{i:04d}.png": a for i, a in frames.items()}

    def __contains__(self, key: object) -> bool:
        return key in self.by_key

    def read(self, key: str) -> Any:
        return self.by_key[key]


def run(args: argparse.Namespace) -> int:
    """Measure, write the outputs, print a summary; exit 1 if items were skipped."""
    import json

    from echomark.calibration import Calibration, CalibrationSource
    from echomark.dicom.read import is_dicom_file
    from echomark.errors import InputError
    from echomark.measure.pipeline import RowKind, measure_labels
    from echomark.measure.report import write_outputs

    path = Path(args.input)
    if not path.exists():
        raise InputError("no such file or folder", file=args.input)
    calibration: Any
    frame_time: Any = args.frame_time_ms / 1000.0 if args.frame_time_ms else None
    images: Any = None
    if path.is_file() and is_dicom_file(path):
        label_file, calibration, frame_time, cine = _dicom_input(args)
        images = _FramesStore(cine.frames, cine.video)
    else:
        label_file = _read_label_input(args)
        if args.calibration:
            from echomark.cache.physical import calibration_from_mapping, read_physical_csv

            mapping = read_physical_csv(args.calibration)

            def calibration(video: str) -> Calibration | None:
                return calibration_from_mapping(mapping, video) if video in mapping else None
        elif args.mm_per_px:
            calibration = Calibration.isotropic(
                args.mm_per_px, CalibrationSource.GIVEN, "--mm-per-px"
            )
        else:
            raise InputError(
                "PNG labels carry no spacing: give --calibration CSV or --mm-per-px",
                file=args.input,
            )
    if args.images and images is None:
        from echomark.cache.store import open_store

        images = open_store(args.images)
    views = read_views_csv(args.views) if args.views else None
    result = measure_labels(
        label_file,
        calibration,
        views=views,
        frame_time_s=frame_time,
        min_conf=args.min_conf,
    )
    paths = write_outputs(
        result,
        args.out,
        labels=label_file.images,
        images=images,
        title=f"echomark measurements: {path.name}",
    )
    means = [r for r in result.rows if r.kind is RowKind.MEAN]
    if args.json:
        print(
            json.dumps(
                {
                    "videos": len(result.series),
                    "rows": len(result.rows),
                    "problems": result.problems,
                    "notes": result.notes,
                    "outputs": {k: str(v) for k, v in paths.items()},
                    "means": [r.as_dict() for r in means],
                },
                indent=1,
            )
        )
    else:
        for r in means:
            print(f"{r.video[:19]}  {r.view:6s} {r.measurement:15s} {r.value:9.2f} {r.unit}")
        print(
            f"measured {len(result.series)} videos ({len(result.rows)} values); "
            f"{len(result.problems)} skipped, {len(result.notes)} without LV landmarks; "
            f"wrote {paths['csv'].parent}"
        )
    for prob in result.problems:
        print(f"skipped: {prob}", file=sys.stderr)
    return 1 if result.problems or not result.series else 0
