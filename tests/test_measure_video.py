"""Video in, overlay video + per-frame CSV + series plot out; --calibration forms."""

import csv
import hashlib
from pathlib import Path

import pytest

from echomark.cli.main import main

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")
synth = pytest.importorskip("echomark.synth.cine")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from predict_helpers import tiny_checkpoint

    return tiny_checkpoint(tmp_path_factory.mktemp("m") / "tiny.pt", head_bias=0.0, head_std=0.3)


@pytest.fixture(scope="module")
def avi(tmp_path_factory) -> Path:
    """A small AVI of a synthetic A4C cine, written by the test."""
    cine = synth.make_cine("A4C", 2, n_frames=10, size=(96, 128))
    path = tmp_path_factory.mktemp("v") / "a4c.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (128, 96))
    assert writer.isOpened()
    for f in cine.frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def _video(path: Path) -> str:
    return "00-" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_avi_in_overlay_mp4_csv_and_plot_out(tmp_path, avi, model, capsys):
    video = _video(avi)
    views = tmp_path / "views.csv"
    views.write_text(f"FileHash,view\n{video},A4C\n")
    out = tmp_path / "out"
    rc = main(["measure", str(avi), "--checkpoint", str(model), "--mm-per-px", "1.2",
               "--views", str(views), "--no-ocr", "--out", str(out)])  # fmt: skip
    assert rc in (0, 3), capsys.readouterr()
    folder = out / video
    cap = cv2.VideoCapture(str(folder / "overlay.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 10  # every frame predicted and drawn
    assert cap is not None and (folder / "overlay.mp4").stat().st_size > 1000
    rows = list(csv.DictReader((folder / "frames.csv").open()))
    assert [int(r["frame"]) for r in rows] == list(range(10))
    assert {"time_s", "phase", "LV_length_A4C", "status", "reasons"} <= set(rows[0])
    assert float(rows[1]["time_s"]) == pytest.approx(0.04, abs=1e-3)  # 25 frames/s
    assert (folder / "series.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "predictions.json").is_file() and (out / "measurements.csv").is_file()


def test_calibration_forms(tmp_path, avi, model, capsys):
    from pydicom.data import get_testdata_file

    views = tmp_path / "views.csv"
    views.write_text(f"FileHash,view\n{_video(avi)},A4C\n")
    base = ["measure", str(avi), "--checkpoint", str(model), "--no-ocr", "--no-cine-outputs",
            "--views", str(views)]  # fmt: skip
    # a DICOM file's ultrasound regions give the spacing (the UTF-8 decode error is gone)
    dcm = get_testdata_file("color3d_jpeg_baseline.dcm")
    rc = main([*base, "--calibration", dcm, "--out", str(tmp_path / "a"), "--json"])
    assert rc in (0, 1, 3)
    capsys.readouterr()
    import json

    data = json.loads((tmp_path / "a" / "measurements.json").read_text())
    (entry,) = data["videos"].values()
    assert entry["calibration"]["source"] == "dicom-region"
    # anything else: exit 2, one line naming the file
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    assert main([*base, "--calibration", str(junk), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(junk) in err[0] and "not a calibration CSV" in err[0]
    # a video without any spacing: a clear error
    assert main([*base, "--out", str(tmp_path / "c")]) == 2
    assert "--mm-per-px" in capsys.readouterr().err


def test_labels_with_frame_time_column_and_known_phases(tmp_path):
    from echomark.calibration import Calibration
    from echomark.labels.io import write_labels
    from echomark.labels.schema import LabelFile
    from echomark.workflows.measure import load_calibration

    cine = synth.make_cine("PLAX", 1, n_frames=60, render=False)
    video = "01-" + "c" * 64
    lf = LabelFile(images={f"{video}-{f:04d}.png": lab for f, lab in cine.labels.items()})
    write_labels(lf, tmp_path / "labels.json")
    cal = Calibration.from_cm_per_px(*cine.spacing_cm_per_px)
    csv_path = tmp_path / "01_database_physical.csv"
    csv_path.write_text(
        "FileHash,PhysicalDeltaX,PhysicalDeltaY,FrameTime\n"
        f"{video},{cal.dx_cm_per_px!r},{cal.dy_cm_per_px!r},{cine.frame_time_ms}\n"
    )
    loaded = load_calibration(str(csv_path), None)
    got = loaded.lookup(video) if loaded is not None else None
    assert got is not None and got.dx_mm_per_px == pytest.approx(cal.dx_mm_per_px)
    assert loaded.frame_times_s[video] == pytest.approx(cine.frame_time_ms / 1000)
    out = tmp_path / "out"
    assert main(["measure", str(tmp_path / "labels.json"), "--calibration", str(csv_path),
                 "--out", str(out)]) == 0  # fmt: skip
    rows = list(csv.DictReader((out / "measurements.csv").open()))
    hr = [float(r["value"]) for r in rows if r["measurement"] == "heart_rate"]
    assert hr == pytest.approx([cine.spec.heart_rate_bpm], rel=0.05)
    # known phases override the search
    phases = tmp_path / "phases.csv"
    phases.write_text(
        f"video,frame,phase\n{video},{cine.ed_frame},ED\n{video},{cine.es_frame},ES\n"
    )
    assert main(["measure", str(tmp_path / "labels.json"), "--calibration", str(csv_path),
                 "--phases", str(phases), "--out", str(tmp_path / "p")]) in (0, 3)  # fmt: skip
    rows = list(csv.DictReader((tmp_path / "p" / "measurements.csv").open()))
    beat_frames = {int(r["frame"]) for r in rows if r["kind"] == "beat" and r["frame"]}
    assert beat_frames <= {cine.ed_frame, cine.es_frame}
    bad = tmp_path / "bad_phases.csv"
    bad.write_text(f"video,frame,phase\n{video},3,XX\n")
    assert main(["measure", str(tmp_path / "labels.json"), "--calibration", str(csv_path),
                 "--phases", str(bad), "--out", str(tmp_path / "q")]) == 2  # fmt: skip


def test_side_tables(tmp_path):
    from echomark.errors import InputError
    from echomark.workflows.measure import read_frame_times_csv, read_studies_csv

    a, b = "01-" + "1" * 64, "01-" + "2" * 64
    synth_form = tmp_path / "studies.csv"
    synth_form.write_text(f"study,A4C,A2C\nstudy-01-0001,{a},{b}\n")
    assert read_studies_csv(str(synth_form)) == {a: "study-01-0001", b: "study-01-0001"}
    plain = tmp_path / "s2.csv"
    plain.write_text(f"FileHash,study\n{a},s1\n")
    assert read_studies_csv(str(plain)) == {a: "s1"}
    times = tmp_path / "t.csv"
    times.write_text(f"FileHash,FrameTime\n{a},33.3\n")
    assert read_frame_times_csv(str(times)) == {a: pytest.approx(0.0333)}
    times.write_text(f"FileHash,FrameTime\n{a},-1\n")
    with pytest.raises(InputError, match="row 2"):
        read_frame_times_csv(str(times))


def test_gif_when_opencv_cannot_write_mp4(tmp_path, monkeypatch):
    import numpy as np

    from echomark.measure.cine_outputs import write_video

    class Closed:
        def __init__(self, *a, **k) -> None:
            pass

        def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
            return False

        def release(self) -> None:
            pass

    monkeypatch.setattr(cv2, "VideoWriter", Closed)
    frames = [np.full((8, 10, 3), i * 20, np.uint8) for i in range(4)]
    out = write_video(frames, tmp_path / "overlay.mp4", 25.0)
    assert out.name == "overlay.gif" and out.read_bytes()[:6] == b"GIF89a"
    assert not list(tmp_path.glob(".overlay*"))  # no temporary file left behind
