"""DICOM SR out: reports read back equal measurements.csv, reference their sources, pass dciodvfy."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from echomark.cache.physical import write_physical_csv
from echomark.calibration import Calibration
from echomark.cli.main import main
from echomark.labels.io import write_labels
from echomark.labels.schema import LabelFile
from echomark.measure.pipeline import measure_labels
from echomark.measure.sr import (
    FROM_DICOM,
    FROM_LABELS,
    SR_CONCEPTS,
    SourceInstance,
    build_report,
    read_report,
    reported,
)
from echomark.synth.dicom import synth_us_dataset
from test_measure_pipeline import A4C_HEX, FPS, PLAX_HEX, _a4c_video, _plax_video

pytest.importorskip("highdicom")
INSTALL = Path(__file__).resolve().parents[1] / "scripts" / "install-orthanc.sh"


def measure_inputs(tmp: Path) -> list[str]:
    """Labels, calibration and views of one PLAX and one A4C synthetic video (measure args)."""
    labels = tmp / "labels.json"
    write_labels(LabelFile(images={**_plax_video(64), **_a4c_video(64)}), labels)
    calib = tmp / "phys.csv"
    write_physical_csv(
        calib, {f"01-{h}": Calibration.from_cm_per_px(0.025, 0.03) for h in (PLAX_HEX, A4C_HEX)}
    )
    views = tmp / "views.csv"
    views.write_text(f"FileHash,view\n01-{A4C_HEX},A4C\n")
    return [str(labels), "--calibration", str(calib), "--frame-time-ms", str(1000 / FPS),
            "--views", str(views), "--no-cine-outputs"]  # fmt: skip


def csv_rows(path: Path) -> set[tuple[str, float, str]]:
    """(tracking text, value, status) of the CSV rows an SR holds."""
    names = {m.value for m in SR_CONCEPTS}
    out = set()
    for r in csv.DictReader(path.open()):
        if r["kind"] in ("beat", "mean", "study") and r["measurement"] in names and r["value"]:
            beat = r["beat"] or "-"
            text = f"{r['measurement']} {r['kind']} {r['video']} {beat}"
            out.add((text, float(r["value"]), r["status"]))
    return out


def sr_rows(folder: Path) -> set[tuple[str, float, str]]:
    return {
        (v.tracking, v.value, v.status)
        for p in sorted(folder.glob("*.dcm"))
        for v in read_report(pydicom.dcmread(p))
    }


def test_sr_reads_back_as_the_csv_and_passes_dciodvfy(tmp_path, capsys):
    out, sr = tmp_path / "out", tmp_path / "sr"
    assert main(["measure", *measure_inputs(tmp_path), "--out", str(out), "--sr", str(sr)]) == 0
    reports = sorted(sr.glob("*.dcm"))
    assert len(reports) == 2  # one per study (here: per video, no study table given)
    want = csv_rows(out / "measurements.csv")
    assert len(want) == 28
    assert sr_rows(sr) == want
    ds = pydicom.dcmread(reports[0])
    assert ds.Modality == "SR" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert (
        ds.SeriesDescription == FROM_LABELS
        and "CurrentRequestedProcedureEvidenceSequence" not in ds
    )
    if shutil.which("dciodvfy") is None:
        subprocess.run(["bash", str(INSTALL)], check=True, capture_output=True)
    for p in reports:
        done = subprocess.run(["dciodvfy", str(p)], capture_output=True, text=True, check=False)
        errors = [
            line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")
        ]
        assert errors == [], errors


def test_sr_from_dicom_references_instance_and_frame_and_codes(tmp_path):
    src = synth_us_dataset(seed=5, frames=4)
    video = f"01-{A4C_HEX}"
    cal = {f"01-{h}": Calibration.from_cm_per_px(0.025, 0.03) for h in (PLAX_HEX, A4C_HEX)}
    result = measure_labels(
        LabelFile(images=_a4c_video(64)), cal, frame_time_s={video: 1 / FPS}, views={video: "A4C"}
    )
    rows = reported(result.rows)
    ds = build_report(rows, "study-x", {video: SourceInstance(src)})
    assert ds.SeriesDescription == FROM_DICOM
    assert ds.StudyInstanceUID == src.StudyInstanceUID and ds.PatientID == src.PatientID
    back = read_report(ds)
    beats = [(r, b) for r, b in zip(rows, back, strict=True) if r.frame is not None]
    assert beats and all(b.frames == (r.frame + 1,) for r, b in beats)
    codes = {b.code: b.unit for b in back}
    assert codes["79993-2"] == "%" and codes["79999-9"] == "ml" and codes["130670"] == "%"
    ev = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert ev.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    # same rows, same report UIDs (a re-run replaces, never duplicates, on the PACS)
    assert (
        build_report(rows, "study-x", {video: SourceInstance(src)}).SOPInstanceUID
        == ds.SOPInstanceUID
    )


def test_stow_without_sr_is_a_usage_error(tmp_path, capsys):
    args = ["measure", *measure_inputs(tmp_path), "--out", str(tmp_path / "o"),
            "--stow", "dicomweb+http://127.0.0.1:1/dw"]  # fmt: skip
    assert main(args) == 2
    assert "--stow stores the --sr reports" in capsys.readouterr().err
