"""``echomark measure``: LV measurements in mm from labels, predictions or a DICOM."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from echomark.cli._model import add_model_args, model_path
from echomark.cli._types import bounded_float

COMMAND = "measure"


def add_parser(subparsers: Any) -> None:
    """Register ``echomark measure``."""
    p = subparsers.add_parser(
        COMMAND,
        help="LV measurements (mm, mL, EF, GLS) with a quality status, from labels, "
        "predictions, DICOMs or videos",
        description="Measure IVS/LVID/LVPW (PLAX) and LV length/area/volume/endocardial length "
        "(A4C, A2C) on every frame, find end-diastole and end-systole in the LV series itself, "
        "and report per-beat values (LVIDd, LV mass, FS, single-plane and, with --studies, "
        "biplane EDV/ESV/EF, contour GLS) and their mean over the beats that passed the "
        "quality gate. Names are the measurement vocabulary's (docs/measure.md). Every value "
        "has a status (ok, flagged, rejected) and reasons. Writes OUT/measurements.csv (long "
        "form), measurements.json and report.html; for a DICOM or video also "
        "OUT/predictions.json and, per cine, OUT/<video>/overlay.mp4, frames.csv and "
        "series.png. A DICOM or video is decoded and masked as 'echomark curate' writes it "
        "(burnt-in text blanked by OCR unless --no-ocr; a DICOM that is not ultrasound is "
        "refused unless --force) and every frame is predicted. Exit 0: "
        "measured; 1: some videos skipped; 2: bad input; 3: no value passed the quality gate.",
    )
    p.add_argument(
        "input",
        nargs="+",
        help="labels or predictions (.json, labels.zip or a folder), or DICOM/video "
        "(.avi, .mp4) files (with --checkpoint or --model)",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--calibration",
        help="spacing: a *_database_physical.csv (FileHash, PhysicalDeltaX, PhysicalDeltaY in "
        "cm/px; an optional FrameTime column in ms), a DICOM file (its ultrasound regions, for "
        "every video) or a folder of DICOMs (matched by content hash)",
    )
    p.add_argument(
        "--mm-per-px",
        type=bounded_float(0, 100, low_open=True, unit="mm/px"),
        help="one square-pixel spacing for every video (when no calibration exists)",
    )
    p.add_argument("--split", default="all", help="split of a labels.zip or folder (default all)")
    p.add_argument(
        "--views",
        help="one view for every video (PLAX, A4C, A2C, A3C, ...) or a view_index.csv "
        "(FileHash, view); default: decided from every label's confidence",
    )
    p.add_argument(
        "--frame-time-ms",
        type=bounded_float(0, 10000, low_open=True, unit="ms"),
        help="milliseconds between frames for every video without its own (heart rate and "
        "timing checks; ED/ES are found without it)",
    )
    p.add_argument(
        "--frame-times", help="per-video frame times: CSV with columns FileHash, FrameTime (ms)"
    )
    p.add_argument(
        "--phases", help="known ED/ES frames: CSV with columns video, frame, phase (ED or ES)"
    )
    p.add_argument(
        "--phases-from",
        choices=("auto", "size", "cavity"),
        default="auto",
        help="what apical ED/ES are searched on: size = the LV volume (area) series; cavity = "
        "the LV cavity's brightness (mean grey inside the region at least half the frames' "
        "outlines share: darkest = ED), which needs the frames (DICOM input or --images); "
        "auto (default) = cavity when fewer than half of the volume series' frames pass the "
        "quality gate, else size. PLAX always uses LVID",
    )
    p.add_argument(
        "--studies",
        help="CSV FileHash, study (or the synthetic study, A4C, A2C) pairing A4C and A2C videos "
        "for biplane volumes; DICOM inputs are paired by StudyInstanceUID",
    )
    p.add_argument(
        "--qc",
        help="quality-gate thresholds JSON (per-label confidence, input peak floor); default: "
        "qc.json beside the checkpoint, else the thresholds training saved with it "
        "(best.pt -> best.qc.json), else the documented defaults",
    )
    p.add_argument(
        "--calibrate-qc",
        metavar="TRUTH",
        help="instead of measuring: calibrate the quality gate from INPUT (predictions of the "
        "tune split) against TRUTH (labels, --split tune) and write OUT/qc.json (per label "
        "the lowest confidence with 90%% of predictions at or above it within 5 px, judged "
        "once 10 or more are; 1.0 when none is)",
    )
    p.add_argument("--images", help="png-cache (zip or folder) for frame overlays and videos")
    add_model_args(
        p,
        required=False,
        checkpoint_help="model checkpoint or model folder: predicts DICOM or video files; with "
        "any input, the quality-gate thresholds saved with it are used (see --qc)",
    )
    p.add_argument(
        "--min-conf",
        type=bounded_float(0, 1),
        default=0.1,
        help="predicted labels at or below this confidence count as absent (default 0.1)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (DICOM/video input)")
    p.add_argument(
        "--tta-shift",
        type=int,
        metavar="PX",
        help="DICOM/video input: average the heatmaps over the input moved on a 3x3 grid of "
        "PX network-input pixels (9 passes); 0 turns it off (default: the model's "
        "dataset.tta_shift_px; synthetic-v1 uses 16)",
    )
    p.add_argument(
        "--no-ocr", action="store_true", help="DICOM/video: skip blanking burnt-in text by OCR"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="DICOM: accept a non-ultrasound image (CT, MR...) with a warning (masked the "
        "same way; needs --mm-per-px, having no ultrasound regions)",
    )
    p.add_argument("--frames", help="DICOM/video: frames to measure, e.g. 0:40 (default all)")
    p.add_argument(
        "--no-cine-outputs",
        action="store_true",
        help="skip the per-cine overlay video, frames.csv and series.png",
    )
    p.add_argument("--sr", metavar="DIR",
                   help="also write one DICOM SR (TID 1500 Measurement Report) per study to DIR")  # fmt: skip
    p.add_argument("--stow", metavar="URL",
                   help="store the --sr reports to dicomweb+http(s)://HOST/PATH (STOW-RS)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty --out folder whole"
    )
    p.add_argument(
        "--lenient",
        action="store_true",
        help="measure around unusable label entries (reported) instead of refusing the file",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure, write the outputs, print a summary; exit as documented in ``--help``."""
    import json

    from echomark.errors import ConfigError
    from echomark.fileio import check_out_folder, staged_folder
    from echomark.measure.pipeline import RowKind
    from echomark.measure.qc import Status
    from echomark.workflows.measure import (
        calibrate_qc_file,
        describe_outcome,
        run_measure,
    )

    if args.calibrate_qc:
        path = calibrate_qc_file(
            Path(args.input[0]), Path(args.calibrate_qc), args.split, Path(args.out)
        )
        print(f"wrote {path}")
        return 0

    if args.stow and not args.sr:
        raise ConfigError("--stow stores the --sr reports: give --sr DIR too")
    check_out_folder(args.out, overwrite=args.overwrite)
    with staged_folder(args.out, overwrite=args.overwrite) as tmp:
        measured = run_measure(_options(args, tmp))
    # The outputs were written in a temporary folder that is now --out.
    final = Path(args.out)
    measured.paths = {k: final / Path(v).relative_to(tmp) for k, v in measured.paths.items()}
    measured.cine_paths = {
        video: {k: final / Path(v).relative_to(tmp) for k, v in d.items()}
        for video, d in measured.cine_paths.items()
    }
    result = measured.result
    code, line = describe_outcome(measured)
    if args.sr:
        from echomark.workflows.measure_sr import stow, write_reports

        reports = write_reports(result, [Path(p) for p in args.input], Path(args.sr))
        measured.paths["sr"] = Path(args.sr)
        if args.stow:
            stored = stow(reports, args.stow)
            print(f"stored {stored} SR report(s) to {args.stow}", file=sys.stderr)
    summary = [
        r for r in result.rows if r.kind in (RowKind.MEAN, RowKind.STUDY) and r.status is Status.OK
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "videos": len(result.series),
                    "rows": len(result.rows),
                    "flagged": result.flagged,
                    "problems": result.problems,
                    "notes": result.notes,
                    "outputs": {k: str(v) for k, v in measured.paths.items()},
                    "cines": {
                        v: {k: str(p) for k, p in d.items()} for v, d in measured.cine_paths.items()
                    },
                    "means": [r.as_dict() for r in summary],
                    "exit": code,
                    "message": line,
                },
                indent=1,
                allow_nan=False,
            )
        )
    else:
        for r in summary:
            print(f"{r.video[:19]}  {r.view:7s} {r.measurement.value:28s} {r.value:9.2f} {r.unit}")
        print(line)
    for prob in result.problems:
        print(f"skipped: {prob}", file=sys.stderr)
    if code == 3 and args.json:
        print(line, file=sys.stderr)
    return code


def _options(args: argparse.Namespace, out: Path) -> Any:
    """The :class:`~echomark.workflows.measure.MeasureOptions` of the command line."""
    from echomark.workflows.measure import MeasureOptions

    return MeasureOptions(
        inputs=[Path(p) for p in args.input],
        out=out,
        calibration=args.calibration,
        mm_per_px=args.mm_per_px,
        split=args.split,
        views=args.views,
        frame_time_ms=args.frame_time_ms,
        frame_times=args.frame_times,
        phases=args.phases,
        phases_from=args.phases_from,
        studies=args.studies,
        qc=args.qc,
        images=args.images,
        checkpoint=model_path(args),
        min_conf=args.min_conf,
        device=args.device,
        tta_shift_px=args.tta_shift,
        ocr=not args.no_ocr,
        force=args.force,
        frames=args.frames,
        cine_outputs=not args.no_cine_outputs,
        strict_labels=not args.lenient,
    )
