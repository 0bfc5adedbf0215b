import json
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from echomark.cli.main import main
from echomark.dicom.memory import curate_in_memory


def test_curate_in_memory_keeps_calibration_and_frames():
    cine = curate_in_memory(get_testdata_file("OBXXXX1A.dcm"), ocr=False)
    assert cine.video.startswith("00-") and len(cine.video) == 67
    assert list(cine.frames) == [0]
    assert cine.frames[0].shape[:2] == (600, 800)
    assert cine.calibration is not None
    assert cine.calibration.dx_mm_per_px == pytest.approx(0.262288, abs=1e-6)
    assert cine.calibration.origin == f"{cine.video} region 0"  # never the file name


def test_measure_dicom_refuses_misfit_regions(tmp_path, capsys):
    rc = main(["measure", get_testdata_file("examples_ybr_color.dcm"), "--checkpoint",
               str(tmp_path / "none.pt"), "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2
    assert "does not fit" in capsys.readouterr().err


def test_measure_dicom_end_to_end_with_tiny_model(tmp_path, capsys):
    pytest.importorskip("torch")
    import hashlib

    from predict_helpers import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    dcm = get_testdata_file("OBXXXX1A.dcm")
    video = "00-" + hashlib.sha256(Path(dcm).read_bytes()).hexdigest()
    views = tmp_path / "views.csv"
    views.write_text(f"FileHash,view\n{video},A4C\n")
    out = tmp_path / "out"
    rc = main(["measure", dcm, "--checkpoint", str(ckpt), "--views", str(views),
               "--out", str(out), "--json"])  # fmt: skip
    # random weights on an obstetric still: nothing can pass the quality gate -> exit 3
    assert rc == 3
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos"] == 1 and summary["means"] == []
    assert summary["message"].startswith("no measurement passed the quality gate")
    data = json.loads((out / "measurements.json").read_text())
    # values may be missing, but every apical measurement has a row, none of them ok
    names = {r["measurement"] for r in data["rows"]}
    assert names >= {"LV_length_A4C", "LV_area_A4C", "LV_volume_A4C_disks"}
    assert {r["status"] for r in data["rows"]} <= {"flagged", "rejected"}
    assert {r["view"] for r in data["rows"]} == {"A4C"}
    assert data["videos"][video]["calibration"]["dx_mm_per_px"] == pytest.approx(0.262288, 1e-5)
    assert (out / "report.html").read_text().startswith("<!doctype html>")
