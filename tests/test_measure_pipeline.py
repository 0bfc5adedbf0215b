import csv
import json
import math

import numpy as np
import pytest

from echomark.cache.physical import calibration_from_csv, write_physical_csv
from echomark.calibration import Calibration, CalibrationSource
from echomark.cli.main import main
from echomark.labels.schema import Label, LabelFile
from echomark.measure.pipeline import RowKind, measure_labels
from echomark.measure.plax import lv_mass_g

FPS = 30.0
PLAX_HEX = "a" * 64
A4C_HEX = "b" * 64
CAL = Calibration(0.25, 0.3)
#: The hand-made A4C video draws only LV labels, which A2C and A3C share: its view is given.
VIEWS = {f"01-{A4C_HEX}": "A4C"}


def _cycle(frame):
    """1 at end-diastole (frames 3, 27, 51, ...), 0 at end-systole (15, 39, ...)."""
    t = frame / FPS
    return 0.5 + 0.5 * math.cos(2 * math.pi * (t - 0.1) / 0.8)


def _plax_video(n=96):
    images = {}
    for f in range(n):
        c = _cycle(f)
        lvid = 37.0 + 16.0 * c  # 53 mm at ED, 37 at ES
        ivs, pw = 12.0 - 3.0 * c, 11.0 - 2.0 * c  # thinner in diastole
        along = np.cumsum([20.0, ivs, lvid, pw])  # mm along a slightly oblique line
        u = np.array([0.2, 1.0]) / math.hypot(0.2, 1.0)
        pts = (np.array([30.0, 0.0]) + along[:, None] * u) / [CAL.dx_mm_per_px, CAL.dy_mm_per_px]
        names = ["lv-ivs-top", "lv-ivs-bottom", "lv-pw-top", "lv-pw-bottom"]
        labels = {n_: Label.point(*p) for n_, p in zip(names, pts, strict=True)}
        if f == 40:
            labels["lv-pw-top"] = Label.blurred()  # a gap the series must bridge
        images[f"01-{PLAX_HEX}-{f:04d}.png"] = labels
    return images


def _a4c_video(n=96):
    t = np.linspace(0, np.pi, 15)
    base = np.array([60.0, 110.0])
    images = {}
    for f in range(n):
        s = 0.9 + 0.1 * _cycle(f)
        nodes = base + s * np.stack([22 * np.cos(t), -80 * np.sin(t)], axis=1)
        px = nodes / [CAL.dx_mm_per_px, CAL.dy_mm_per_px]
        images[f"01-{A4C_HEX}-{f:04d}.png"] = {
            "curve-lv-endo": Label.curve(px),
            "lv-apex-endo": Label.point(*px[7]),
            "mv-ant-wall-hinge": Label.point(*px[0]),
            "mv-inf-wall-hinge": Label.point(*px[-1]),
        }
    return images


def _means(result, video_hex):
    return {
        r.measurement: r.value
        for r in result.rows
        if r.kind is RowKind.MEAN and r.video.endswith(video_hex)
    }


def test_plax_and_a4c_cines_end_to_end():
    lf = LabelFile(images={**_plax_video(), **_a4c_video()})
    res = measure_labels(lf, CAL, views=VIEWS, frame_time_s=1 / FPS)
    assert res.problems == []
    plax = _means(res, PLAX_HEX)
    assert plax["LVIDd"] == pytest.approx(53.0, abs=1e-6)
    assert plax["LVIDs"] == pytest.approx(37.0, abs=1e-6)
    assert plax["IVSd"] == pytest.approx(9.0, abs=1e-6)
    assert plax["LVPWd"] == pytest.approx(9.0, abs=1e-6)
    assert plax["FS"] == pytest.approx(100 * 16 / 53, abs=1e-6)
    assert plax["RWT"] == pytest.approx(18 / 53, abs=1e-6)
    assert plax["LV_mass_linear"] == pytest.approx(lv_mass_g(9.0, 53.0, 9.0), abs=1e-6)
    assert plax["heart_rate"] == pytest.approx(75.0)
    beats = [r for r in res.rows if r.kind is RowKind.BEAT and r.measurement == "LVIDd"]
    assert [r.frame for r in beats] == [3, 27, 51, 75]
    # frame 40's LVID is blurred: the LVIDs nearest it is measured, never interpolated there
    assert all(r.status.value == "ok" for r in res.rows if r.kind is not RowKind.FRAME)
    apical = _means(res, A4C_HEX)
    assert apical["GLS_A4C_endocardial_contour"] == pytest.approx(-10.0, abs=1e-6)
    assert apical["EF_A4C_disks"] == pytest.approx(100 * (1 - 0.9**3), abs=1e-4)
    assert apical["LVEDV_A4C_disks"] == pytest.approx(2 / 3 * math.pi * 22**2 * 80 / 1000, rel=0.01)
    assert apical["LV_length_d_A4C"] == pytest.approx(80.0, abs=1e-6)
    assert "EF" not in apical and "LVEDV" not in apical  # no name that overclaims


def test_per_frame_values_without_frame_time_or_beats():
    # no frame time: ED/ES still found (time only adds heart rate and timing checks)
    res = measure_labels(LabelFile(images=_plax_video()), CAL)
    assert _means(res, PLAX_HEX)["LVIDd"] == pytest.approx(53.0, abs=1e-6)
    assert "heart_rate" not in _means(res, PLAX_HEX)
    # two frames: no beat, but every per-frame value is still reported
    two = dict(list(_plax_video(2).items()))
    res = measure_labels(LabelFile(images=two), CAL)
    assert len([r for r in res.rows if r.kind is RowKind.FRAME]) == 6
    assert not [r for r in res.rows if r.kind is not RowKind.FRAME]
    assert res.series[f"01-{PLAX_HEX}"].phases.refused == ["only 2 measured frames: no ED/ES"]


def test_same_cine_at_other_frame_rate_gives_same_beats():
    images = _plax_video()
    every_other = {k: v for k, v in images.items() if int(k[-8:-4]) % 2 == 1}
    res = measure_labels(LabelFile(images=every_other), CAL, frame_time_s=1 / FPS)
    ed = sorted({r.frame for r in res.rows if r.kind is RowKind.BEAT and r.measurement == "LVIDd"})
    assert ed == [3, 27, 51, 75]
    # ED/ES are labelled frames: nothing is interpolated
    assert not any(r.interpolated for r in res.rows)


def test_skips_are_reported():
    images = _plax_video(8)
    images["not-a-key.png"] = {}
    images[f"01-{'c' * 64}-0000.png"] = {"lv-ivs-top": Label.off()}
    res = measure_labels(LabelFile(images=images), {}, frame_time_s=None)
    assert len(res.problems) == 2  # bad key, no calibration
    assert res.notes == [f"01-{'c' * 64}: not measured: no LV landmarks"]
    assert res.rows == []


def test_calibration_csv_round_trip(tmp_path):
    path = tmp_path / "01_database_physical.csv"
    write_physical_csv(path, {f"01-{PLAX_HEX}": Calibration.from_cm_per_px(0.025, 0.03)})
    cal = calibration_from_csv(path, f"01-{PLAX_HEX}-0007.png")
    assert (cal.dx_mm_per_px, cal.dy_mm_per_px) == pytest.approx((0.25, 0.3))
    assert (cal.source, cal.origin) == (CalibrationSource.CSV, f"01-{PLAX_HEX}")


def test_cli_measure_writes_outputs(tmp_path, capsys):
    from echomark.labels.io import write_labels

    labels = tmp_path / "labels.json"
    write_labels(LabelFile(images={**_plax_video(64), **_a4c_video(64)}), labels)
    calib = tmp_path / "phys.csv"
    write_physical_csv(
        calib, {f"01-{h}": Calibration.from_cm_per_px(0.025, 0.03) for h in (PLAX_HEX, A4C_HEX)}
    )
    views = tmp_path / "view_index.csv"
    views.write_text(f"FileHash,view\n01-{A4C_HEX},A4C\n")
    out = tmp_path / "out"
    rc = main(["measure", str(labels), "--calibration", str(calib), "--out", str(out),
               "--frame-time-ms", str(1000 / FPS), "--views", str(views)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "LVIDd" in text and "GLS_A4C_endocardial_contour" in text
    rows = list(csv.DictReader((out / "measurements.csv").open()))
    lvidd = [float(r["value"]) for r in rows if r["measurement"] == "LVIDd" and r["kind"] == "mean"]
    assert lvidd == pytest.approx([53.0], abs=0.05)  # v1 labels are rounded to 0.1 px
    data = json.loads((out / "measurements.json").read_text())
    beats = data["videos"][f"01-{PLAX_HEX}"]["beats"]
    assert [(b["ed"], b["es"]) for b in beats] == [(3, 15), (27, 39), (51, 63)]
    assert {r["status"] for r in rows if r["value"]} == {"ok"}
    # the blurred landmark's values stay in the CSV, rejected with a reason
    assert {(r["status"], r["reasons"]) for r in rows if not r["value"]} == {
        ("rejected", "not measurable")
    }
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64") == 2  # one series plot per video
    # with a png-cache, the first beat's ED and ES frames are drawn too
    from echomark.cache.keys import ImageKey
    from echomark.cache.writer import CacheWriter

    writer = CacheWriter(tmp_path / "cache")
    for f in (3, 15):
        writer.write(ImageKey.parse(f"01-{PLAX_HEX}-{f:04d}.png"), np.zeros((64, 48), np.uint8))
    rc = main(["measure", str(labels), "--calibration", str(calib), "--out", str(out),
               "--frame-time-ms", str(1000 / FPS), "--images", str(tmp_path / "cache"),
               "--views", str(views)])  # fmt: skip
    assert rc == 0
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64") == 4
    assert 'alt="overlay 01-' in html
    # no calibration at all: a clear one-line error, exit 2
    assert main(["measure", str(labels), "--out", str(out)]) == 2
