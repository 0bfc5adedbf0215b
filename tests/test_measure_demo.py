import csv
import math

import numpy as np
import pytest

from echomark.cache.physical import write_physical_csv
from echomark.calibration import Calibration
from echomark.labels.schema import Label, LabelFile
from echomark.measure import demo_agreement
from echomark.measure.demo import convert_unit, read_truth_csv

HEX = "d" * 64
MM_PER_PX = 0.3


def _write_truth(path, rows):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "video", "view", "frame", "measurement", "value", "unit"])
        w.writerows(rows)


def test_demo_agreement_hand_checked(tmp_path):
    rng = np.random.default_rng(3)
    images, truth = {}, []
    errors = rng.normal(0.5, 1.0, 12)  # model overestimates LVID by ~0.5 mm
    for f in range(12):
        key = f"01-{HEX}-{f:04d}.png"
        lvid_true = 45.0 + f
        y = np.cumsum([10.0, 9.0, lvid_true + errors[f], 8.0]) / MM_PER_PX
        names = ["lv-ivs-top", "lv-ivs-bottom", "lv-pw-top", "lv-pw-bottom"]
        images[key] = {n: Label.point(50.0, yy, conf=0.9) for n, yy in zip(names, y, strict=True)}
        truth += [
            [key, f"01-{HEX}", "PLAX", f, "IVS", 9.0, "mm"],
            [key, f"01-{HEX}", "PLAX", f, "LVID", lvid_true / 10.0, "cm"],  # units converted
            [key, f"01-{HEX}", "PLAX", f, "LVPW", 8.0, "mm"],
        ]
    truth.append(["", f"01-{HEX}", "PLAX", "", "EF_A4C_disks", 60.0, "%"])  # not in PLAX
    truth_csv = tmp_path / "truth.csv"
    _write_truth(truth_csv, truth)
    calib = tmp_path / "phys.csv"
    write_physical_csv(calib, {f"01-{HEX}": Calibration.isotropic(MM_PER_PX)})
    out = demo_agreement(truth_csv, LabelFile(images=images), calib, tmp_path / "out")
    lvid = out["measurements"]["LVID"]
    assert lvid["n"] == 12
    assert lvid["bias"] == pytest.approx(errors.mean(), abs=1e-6)
    assert lvid["sd_diff"] == pytest.approx(errors.std(ddof=1), abs=1e-6)
    assert lvid["mae"] == pytest.approx(np.abs(errors).mean(), abs=1e-6)
    assert out["measurements"]["IVS"]["mae"] == pytest.approx(0.0, abs=1e-6)
    assert out["unmatched"] == ["EF_A4C_disks: 1 truth rows without a measured value"]
    png = (tmp_path / "out" / "measurement_agreement.png").read_bytes()
    assert png[:4] == b"\x89PNG"
    assert (tmp_path / "out" / "measurement_agreement.json").exists()


def test_truth_reader_and_units(tmp_path):
    p = tmp_path / "t.csv"
    _write_truth(p, [["01-" + HEX + "-0001.png", "", "A4C", "1", "LV_area_A4C", "3500", "mm2"]])
    (row,) = read_truth_csv(p)
    assert row.frame == 1 and row.value == 3500.0
    assert convert_unit(3500.0, "mm2", "cm2") == pytest.approx(35.0)
    assert convert_unit(35.0, "cm2", "mm2") == pytest.approx(3500.0)
    assert math.isclose(convert_unit(2.0, "mL", "ml"), 2.0)
    from echomark.errors import InputError

    with pytest.raises(InputError):
        convert_unit(1.0, "s", "mm")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputError):
        read_truth_csv(bad)


def test_demo_agreement_from_a_data_dir(tmp_path):
    data = tmp_path / "synth"
    data.mkdir()
    key = f"02-{HEX}-0000.png"
    y = np.cumsum([10.0, 9.0, 45.0, 8.0]) / MM_PER_PX
    names = ["lv-ivs-top", "lv-ivs-bottom", "lv-pw-top", "lv-pw-bottom"]
    preds = {key: {n: Label.point(20.0, yy, conf=0.8) for n, yy in zip(names, y, strict=True)}}
    _write_truth(data / "truth.csv", [[key, f"02-{HEX}", "PLAX", 0, "LVID", 46.0, "mm"],
                                      [key, f"02-{HEX}", "PLAX", 0, "IVS", 8.0, "mm"]])  # fmt: skip
    write_physical_csv(
        data / "02_database_physical.csv", {f"02-{HEX}": Calibration.from_cm_per_px(0.03, 0.03)}
    )
    from echomark.labels.io import write_labels

    write_labels(LabelFile(images=preds), tmp_path / "predictions.json")
    res = demo_agreement(
        predictions=tmp_path / "predictions.json", data_dir=data, out_dir=tmp_path / "agr"
    )
    assert [r["measurement"] for r in res.rows] == ["IVS", "LVID"]
    assert res.rows[1]["bias"] == pytest.approx(-1.0, abs=0.02)  # v1 labels: 0.1 px rounding
    assert res.plots and res.plots[0].endswith("measurement_agreement.png")
    assert res["measurements"]["IVS"]["n"] == 1
    from echomark.errors import InputError

    with pytest.raises(InputError):
        demo_agreement(predictions=tmp_path / "predictions.json", out_dir=tmp_path / "x")


def test_truth_names_are_the_vocabulary_without_aliases(tmp_path):
    from echomark.errors import InputError

    key = f"01-{HEX}-0000.png"
    truth = tmp_path / "truth.csv"
    _write_truth(truth, [[key, f"01-{HEX}", "PLAX", 0, "LVIDd", 4.6, "cm"],
                         ["", f"01-{HEX}", "PLAX", "", "EF", 60.0, "%"]])  # fmt: skip
    calib = tmp_path / "phys.csv"
    write_physical_csv(calib, {f"01-{HEX}": Calibration.isotropic(0.3)})
    with pytest.raises(InputError, match="unknown measurement 'EF'"):
        demo_agreement(truth, LabelFile(images={}), calib, tmp_path / "out")
