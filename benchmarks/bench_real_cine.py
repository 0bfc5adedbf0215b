"""Does a model find the heart on a real echo? Scores it on the SonoSite A4C cine in pydicom-data.

Runs ``echomark measure color3d_jpeg_baseline.dcm --checkpoint CKPT --views A4C`` through
the library workflow (the cine curated in memory with OCR, as ``echomark predict`` and
``echomark measure`` do by default, then every one of its 120 frames predicted once), and
scores each frame's ``lv-apex-endo``, ``mv-post-hinge``, ``mv-ant-hinge`` and
``curve-lv-endo`` against the approximate reader marks in
``benchmarks/data/sonosite-a4c-reader-marks.json`` (rules in
:mod:`echomark.evaluate.reader_marks`). It reports per label the % of frames found and
found on the heart and the median distance in mm, the % of frames with all four on the
heart, and the A4C single-plane EDV, ESV and EF with their ED/ES frames and quality status,
read from the run's ``measurements.csv``. The reader marks are two engineers' consensus, not an
expert's: a score here says whether the model finds the heart, not how accurately. Beside
them, one engineer's traced LV outlines at the readers' ED and ES frames
(``benchmarks/data/sonosite-a4c-reader-outlines.json``) give reference volumes: each beat's
traced EDV, ESV and EF is printed beside the model's own at the same frames.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/bench_real_cine.py --checkpoint best.pt|--model NAME \
    [--json out.json] [--sheet sheet.png] [--out measure-folder] [--no-ocr] [--device cpu] \
    [--tta-shift PX] [--phases-from auto|size|cavity] [--marks JSON] [--outlines JSON] \
    [--reference-sheet outlines.png]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from echomark.cache.keys import ImageKey
from echomark.calibration import Calibration
from echomark.dicom.memory import curate_in_memory
from echomark.evaluate.draw import draw_labels, to_rgb
from echomark.evaluate.reader_marks import (
    LV_CURVE,
    SCORED_LABELS,
    FrameScore,
    ReaderOutlines,
    marks_at,
    outline_labels,
    read_reader_marks,
    read_reader_outlines,
    score_frame,
    summarise,
)
from echomark.evaluate.runner import load_registry_info
from echomark.labels.io import read_labels
from echomark.labels.schema import ImageLabels, Label
from echomark.labels.vocabulary import spec
from echomark.measure.a4c import ejection_fraction_pct, lv_apical_frame
from echomark.predict.api import PREDICTIONS_JSON
from echomark.workflows.measure import MeasureOptions, run_measure

CINE = "color3d_jpeg_baseline.dcm"
MARKS = Path(__file__).parent / "data" / "sonosite-a4c-reader-marks.json"
OUTLINES = Path(__file__).parent / "data" / "sonosite-a4c-reader-outlines.json"
#: A4C single-plane method-of-disks rows reported from measurements.csv.
VOLUME_ROWS = ("LVEDV_A4C_disks", "LVESV_A4C_disks", "EF_A4C_disks")
#: Heart region shown on the contact sheet (full-frame pixels x0, y0, x1, y1).
SHEET_BOX = (220, 80, 460, 340)
SHEET_FRAMES = 8
#: A measured ED/ES frame this many frames from the reader's counts as found (100 ms).
PHASE_TOL_FRAMES = 3


def measurement_rows(csv_path: Path) -> list[dict[str, str]]:
    """The A4C volume and EF rows of a measure run (beat rows carry the ED/ES frame)."""
    with csv_path.open(newline="", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["measurement"] in VOLUME_ROWS]


def volumes_summary(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Mean values with status, and every beat's value, frame, status and reasons."""
    out: dict[str, Any] = {}
    for name in VOLUME_ROWS:
        mine = [r for r in rows if r["measurement"] == name]
        mean = next((r for r in mine if r["kind"] == "mean"), None)
        out[name] = {
            "mean": float(mean["value"]) if mean and mean["value"] else None,
            "mean_status": mean["status"] if mean else None,
            "mean_reasons": mean["reasons"] if mean else None,
            "beats": [
                {
                    "beat": r["beat"],
                    "frame": r["frame"],
                    "value": float(r["value"]) if r["value"] else None,
                    "status": r["status"],
                    "reasons": r["reasons"],
                }
                for r in mine
                if r["kind"] == "beat"
            ],
        }
    return out


def contact_sheet(
    frames: dict[int, np.ndarray],
    labels: dict[int, ImageLabels],
    marks: dict[int, dict[str, tuple[float, float]]],
    path: Path,
) -> None:
    """8 frames spread over the cine: predictions in registry colours, reader marks as crosses."""
    _, _, colours = load_registry_info()
    x0, y0, x1, y1 = SHEET_BOX
    order = sorted(frames)
    picks = [order[round(i * (len(order) - 1) / (SHEET_FRAMES - 1))] for i in range(SHEET_FRAMES)]
    tiles = []
    for i in picks:
        canvas = to_rgb(frames[i])
        shown = {n: lab for n, lab in labels.get(i, {}).items() if n in SCORED_LABELS}
        draw_labels(canvas, shown, colours=colours)
        reader = {n: Label.point(*xy) for n, xy in marks[i].items()}
        draw_labels(canvas, reader, colour="#ffffff", marker="cross", radius=3, width=1)
        tile = canvas.crop((x0, y0, x1, y1)).resize(((x1 - x0) * 2, (y1 - y0) * 2))
        ImageDraw.Draw(tile).text((4, 4), f"frame {i}", fill="#ffff00")
        tiles.append(tile)
    w, h = tiles[0].size
    sheet = Image.new("RGB", (4 * w, 2 * h + 16))
    for k, t in enumerate(tiles):
        sheet.paste(t, ((k % 4) * w, (k // 4) * h))
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 2 * h + 2), "predicted:", fill="#ffffff")
    for k, name in enumerate(SCORED_LABELS):
        draw.text((90 + 140 * k, 2 * h + 2), name, fill=colours.get(name, "#ffd400"))
    draw.text((90 + 140 * len(SCORED_LABELS), 2 * h + 2), "white x: reader", fill="#ffffff")
    sheet.save(path)


def reference_sheet(
    frames: dict[int, np.ndarray],
    labels: dict[int, ImageLabels],
    outlines: ReaderOutlines,
    reference: dict[str, Any],
    path: Path,
) -> None:
    """Each beat's ED (top row) and ES (bottom row) frame: the model's LV outline in red, the
    reader's traced outline in green, with both volumes."""
    x0, y0, x1, y1 = SHEET_BOX
    beats = reference["beats"]
    w, h = (x1 - x0) * 2, (y1 - y0) * 2
    sheet = Image.new("RGB", (len(beats) * w, 2 * h + 16))
    for k, b in enumerate(beats):
        for row, (phase, key) in enumerate((("ED", "EDV"), ("ES", "ESV"))):
            frame = b[f"{phase.lower()}_frame"]
            canvas = to_rgb(frames[frame])
            model = {LV_CURVE: lab} if (lab := labels.get(frame, {}).get(LV_CURVE)) else {}
            draw_labels(canvas, model, colour="#ff4040")
            traced = {LV_CURVE: Label.curve(outlines.frames[frame])}
            draw_labels(canvas, traced, colour="#40ff40", dashed=True)
            tile = canvas.crop((x0, y0, x1, y1)).resize((w, h))
            text = (
                f"{phase} frame {frame}: traced {fmt(b['reader'][key])} mL, "
                f"model {fmt(b['model'][key])} mL"
            )
            ImageDraw.Draw(tile).text((4, 4), text, fill="#ffff00")
            sheet.paste(tile, (k * w, row * h))
    ImageDraw.Draw(sheet).text(
        (4, 2 * h + 2), "red: model's curve-lv-endo; green dashed: reader's tracing", fill="#ffffff"
    )
    sheet.save(path)


def reference_volumes(
    outlines: ReaderOutlines, labels: dict[int, ImageLabels], cal: Calibration
) -> dict[str, Any]:
    """Per beat: the reader's traced EDV, ESV and EF beside the model's at the same frames.

    Both sides go through :func:`~echomark.measure.a4c.lv_apical_frame` (single-plane
    method of disks), so only the outlines differ. The model's values are its raw
    per-frame ones, whatever their quality status (``measure`` flags them). ``repeat``
    holds the reader's second tracing of some frames beside the first.
    """

    def vol(lab: ImageLabels) -> float | None:
        v = lv_apical_frame(lab, cal).volume_ml
        return None if math.isnan(v) else v

    def ef(ed: float | None, es: float | None) -> float | None:
        return None if ed is None or es is None or ed <= 0 else ejection_fraction_pct(ed, es)

    beats = []
    for ed, es in outlines.beats:
        ref_ed, ref_es = (
            vol(outline_labels(outlines.frames[ed])),
            vol(outline_labels(outlines.frames[es])),
        )
        mod_ed, mod_es = vol(labels.get(ed, {})), vol(labels.get(es, {}))
        beats.append(
            {
                "ed_frame": ed,
                "es_frame": es,
                "reader": {"EDV": ref_ed, "ESV": ref_es, "EF": ef(ref_ed, ref_es)},
                "model": {"EDV": mod_ed, "ESV": mod_es, "EF": ef(mod_ed, mod_es)},
            }
        )
    repeat = {
        f: {"first": vol(outline_labels(outlines.frames[f])), "repeat": vol(outline_labels(xy))}
        for f, xy in outlines.repeat.items()
        if f in outlines.frames
    }
    return {"reader": outlines.reader, "beats": beats, "repeat": repeat}


def fmt(v: float | None, unit: str = "") -> str:
    """A value for the terminal ('-' for none)."""
    return "-" if v is None else f"{v:.1f}{unit}"


def nearest_offset(frame: str, reader_frames: tuple[int, ...]) -> int | None:
    """Frames from a measured ED/ES frame to the nearest reader ED/ES frame (None: no frame)."""
    if not frame or not reader_frames:
        return None
    return min((int(frame) - f for f in reader_frames), key=abs)


def done_when(summary: dict[str, Any], volumes: dict[str, Any]) -> dict[str, Any]:
    """The issue's bar: each label on the heart in >= 90 % of frames; every measured ED/ES
    frame within 3 frames of the reader's; EDV and EF normal, status ok.

    Single-plane volumes have no guideline normal range; the biplane ASE/EACVI 2015 ranges
    from the vocabulary stand in (a rough check, not a clinical judgement).
    """
    edv_range = spec("LVEDV_biplane_disks").normal
    ef_range = spec("EF_biplane").normal
    edv, ef = volumes["LVEDV_A4C_disks"], volumes["EF_A4C_disks"]

    def inside(v: float | None, rng: tuple[float, float] | None) -> bool:
        return v is not None and rng is not None and rng[0] <= v <= rng[1]

    out: dict[str, Any] = {
        f"{n}_on_heart_90pct": summary["labels"][n]["on_heart_pct"] >= 90.0 for n in SCORED_LABELS
    }
    offsets = [
        b.get("frames_from_reader")
        for name in ("LVEDV_A4C_disks", "LVESV_A4C_disks")
        for b in volumes[name]["beats"]
    ]
    out["ed_es_within_3_frames"] = bool(offsets) and all(
        o is not None and abs(o) <= PHASE_TOL_FRAMES for o in offsets
    )
    out["edv_normal"] = inside(edv["mean"], edv_range)
    out["ef_normal"] = inside(ef["mean"], ef_range)
    out["volumes_ok"] = edv["mean_status"] == "ok" and ef["mean_status"] == "ok"
    out["normal_ranges"] = {"LVEDV_mL": edv_range, "EF_pct": ef_range}
    out["met"] = all(v for k, v in out.items() if k != "normal_ranges")
    return out


def short(text: str | None, limit: int = 150) -> str:
    """A reasons list cut for the terminal (the JSON keeps it whole)."""
    if not text:
        return "-"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", help="checkpoint .pt, model folder or .onnx")
    which.add_argument("--model", help="a named model, e.g. synthetic-v1 (echomark models)")
    ap.add_argument("--marks", default=str(MARKS), help="reader marks JSON")
    ap.add_argument("--outlines", default=str(OUTLINES), help="reader outlines JSON (volumes)")
    ap.add_argument("--json", help="write every figure here")
    ap.add_argument("--sheet", help="write a contact sheet PNG here")
    ap.add_argument(
        "--reference-sheet", help="write the model's and the reader's ED/ES outlines (PNG) here"
    )
    ap.add_argument("--out", help="keep the measure outputs in this folder (default: temporary)")
    ap.add_argument("--no-ocr", action="store_true", help="skip OCR text blanking (not default)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument(
        "--tta-shift", type=int, metavar="PX", help="override the model's test-time shift (0: off)"
    )
    ap.add_argument(
        "--phases-from",
        choices=("auto", "size", "cavity"),
        default="auto",
        help="what ED/ES are found on (measure --phases-from; default auto)",
    )
    args = ap.parse_args()
    if args.model:
        from echomark.models.zoo import resolve_model

        args.checkpoint = str(resolve_model(args.model))

    from pydicom.data import get_testdata_file

    dcm = Path(str(get_testdata_file(CINE)))
    reader = read_reader_marks(args.marks)
    outlines = read_reader_outlines(args.outlines)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "measure"
        t0 = time.perf_counter()
        run = run_measure(
            MeasureOptions(
                inputs=[dcm],
                out=out,
                checkpoint=args.checkpoint,
                views="A4C",
                device=args.device,
                tta_shift_px=args.tta_shift,
                ocr=not args.no_ocr,
                cine_outputs=False,
                phases_from=args.phases_from,
            )
        )
        phase_source = ", ".join(vs.phase_source for vs in run.result.series.values())
        seconds = time.perf_counter() - t0
        predicted = read_labels(out / PREDICTIONS_JSON).images
        rows = measurement_rows(run.paths["csv"])
    labels = {ImageKey.parse(k).frame: v for k, v in predicted.items()}
    cine = curate_in_memory(dcm, ocr=not args.no_ocr)
    if cine.calibration is None:
        raise SystemExit(f"{CINE}: no calibration ({cine.calibration_note})")
    dx, dy = cine.calibration.dx_mm_per_px, cine.calibration.dy_mm_per_px
    per_frame_marks = {i: marks_at(reader.frames, i) for i in sorted(cine.frames)}
    scores: list[FrameScore] = [
        score_frame(i, labels.get(i, {}), per_frame_marks[i], dx, dy) for i in sorted(cine.frames)
    ]
    summary = summarise(scores)
    volumes = volumes_summary(rows)
    phase_frames = {"LVEDV_A4C_disks": reader.ed_frames, "LVESV_A4C_disks": reader.es_frames}
    for name, reader_frames in phase_frames.items():
        for b in volumes[name]["beats"]:
            b["frames_from_reader"] = nearest_offset(b["frame"], reader_frames)
    check = done_when(summary, volumes)
    reference = reference_volumes(outlines, labels, cine.calibration)

    print(f"{CINE}: {len(cine.frames)} frames, {dx:.4f} mm/px, measure+predict {seconds:.0f} s")
    print(f"{'label':<16}{'found %':>9}{'on heart %':>12}{'median mm':>11}")
    for name in SCORED_LABELS:
        s = summary["labels"][name]
        med = "-" if s["median_mm"] is None else f"{s['median_mm']:.1f}"
        print(f"{name:<16}{s['found_pct']:>9.1f}{s['on_heart_pct']:>12.1f}{med:>11}")
    print(f"all four on the heart: {summary['all_four_on_heart_pct']:.1f} % of frames")
    print(f"reader ED frames {list(reader.ed_frames)}, ES frames {list(reader.es_frames)}")
    print(f"ED/ES found on: {phase_source or '-'}")
    for name in VOLUME_ROWS:
        v = volumes[name]
        mean = "-" if v["mean"] is None else f"{v['mean']:.1f}"
        print(f"{name}: mean {mean} ({v['mean_status']}; {short(v['mean_reasons'])})")
        for b in v["beats"]:
            val = "-" if b["value"] is None else f"{b['value']:.1f}"
            off = b.get("frames_from_reader")
            near = "" if off is None else f" ({off:+d} from the reader's)"
            print(
                f"  beat {b['beat']} frame {b['frame'] or '-'}{near}: {val} "
                f"({b['status']}; {short(b['reasons'])})"
            )
    print(
        "reader's traced outlines against the model's, same frames (raw per-frame values, flagged or not):"
    )
    for b in reference["beats"]:
        r, m = b["reader"], b["model"]
        print(
            f"  ED {b['ed_frame']} / ES {b['es_frame']}: reader EDV {fmt(r['EDV'])} ESV "
            f"{fmt(r['ESV'])} mL EF {fmt(r['EF'], ' %')}; model EDV {fmt(m['EDV'])} ESV "
            f"{fmt(m['ESV'])} mL EF {fmt(m['EF'], ' %')}"
        )
    unmet = [k for k, v in check.items() if k not in ("met", "normal_ranges") and not v]
    print(
        f"issue 'done when' met: {check['met']}" + (f" (not: {', '.join(unmet)})" if unmet else "")
    )
    if args.json:
        doc = {
            "file": CINE,
            "checkpoint": str(args.checkpoint),
            "ocr": not args.no_ocr,
            "mm_per_px": [dx, dy],
            "seconds": seconds,
            "summary": summary,
            "reader_ed_frames": list(reader.ed_frames),
            "reader_es_frames": list(reader.es_frames),
            "phase_source": phase_source,
            "volumes": volumes,
            "done_when": check,
            "reference_volumes": reference,
            "frames": [
                {
                    "frame": s.frame,
                    "all_on_heart": s.all_on_heart,
                    "reader_marks": per_frame_marks[s.frame],
                    **{
                        n: {"found": sc.found, "on_heart": sc.on_heart, "dist_mm": sc.dist_mm}
                        for n, sc in s.labels.items()
                    },
                }
                for s in scores
            ],
        }
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    if args.sheet:
        contact_sheet(cine.frames, labels, per_frame_marks, Path(args.sheet))
    if args.reference_sheet:
        reference_sheet(cine.frames, labels, outlines, reference, Path(args.reference_sheet))
    value = round(summary["all_four_on_heart_pct"], 1)
    bench = {"name": "real_cine_all_four_on_heart", "value": value, "unit": "% frames"}
    print("BENCH " + json.dumps(bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())
