import json
from pathlib import Path

import numpy as np
import pytest

from echomark.cache.keys import ImageKey
from echomark.cache.writer import CacheWriter
from echomark.cli.main import main
from echomark.labels.io import write_labels
from echomark.labels.schema import Label, LabelFile, LabelFormat

HEX_A = "a" * 64
HEX_B = "b" * 64
KEY_A = ImageKey("01", HEX_A, 0)
KEY_B = ImageKey("01", HEX_B, 2)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    truth = LabelFile(
        images={
            KEY_A.name: {
                "lv-apex-endo": Label.point(20.0, 10.0),
                "mv-ant-hinge": Label.off(),
                "curve-lv-endo": Label.curve([[5, 40], [20, 40], [35, 40]]),
            },
            KEY_B.name: {
                "lv-apex-endo": Label.point(30.0, 30.0),
                "mv-ant-hinge": Label.point(10.0, 50.0),
                "curve-lv-endo": Label.blurred(),
            },
        }
    )
    pred = LabelFile(
        images={
            KEY_A.name: {
                "lv-apex-endo": Label.point(23.0, 14.0, conf=0.9),  # 5 px
                "mv-ant-hinge": Label.off(),
                "curve-lv-endo": Label.curve([[5, 41], [20, 41], [35, 41]], conf=0.8),
            },
            KEY_B.name: {
                "lv-apex-endo": Label.point(30.0, 31.0, conf=0.7),  # 1 px
                "mv-ant-hinge": Label.off(),  # missed
                "curve-lv-endo": Label.off(),
            },
        },
        format=LabelFormat.V2,
    )
    write_labels(truth, tmp_path / "truth.json", LabelFormat.V1)
    write_labels(pred, tmp_path / "pred.json", LabelFormat.V2)
    csv = tmp_path / "physical.csv"
    csv.write_text(f"FileHash,PhysicalDeltaX,PhysicalDeltaY\n01-{HEX_A},0.02,0.02\n")
    w = CacheWriter(tmp_path / "cache")
    for k in (KEY_A, KEY_B):
        w.write(k, np.full((64, 48), 60, np.uint8))
    return {"truth": tmp_path / "truth.json", "pred": tmp_path / "pred.json", "csv": csv,
            "cache": tmp_path / "cache"}  # fmt: skip


def test_evaluate_cli_writes_metrics_and_report(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    rc = main(["evaluate", "--labels", str(files["truth"]), "--predictions", str(files["pred"]),
               "--calibration", str(files["csv"]), "--images", str(files["cache"]),
               "--out", str(out)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert text.strip().splitlines()[-1] == f"report: {out / 'report.html'}"
    m = json.loads((out / "metrics.json").read_text())
    s = m["summary"]
    assert s["median_point_error_px"] == pytest.approx(3.0)  # errors 5 and 1
    assert s["median_point_error_mm"] == pytest.approx(1.0)  # only KEY_A calibrated: 5 px * 0.2
    assert s["median_curve_distance_px"] == pytest.approx(1.0, abs=0.05)
    # presence: apex x2 TP, hinge A TN, hinge B FN, curve A TP; curve B blurred excluded
    assert s["presence_accuracy"] == pytest.approx(4 / 5)
    assert m["per_label"]["mv-ant-hinge"]["presence"]["sensitivity"] == 0.0
    assert "A4C" in m["per_view"]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3  # plots + worst cases
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")


def test_evaluate_cli_json_and_bad_input(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["evaluate", "--labels", str(files["truth"]), "--predictions", str(files["pred"]),
               "--out", str(tmp_path / "e2"), "--json"])  # fmt: skip
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    assert s["median_point_error_mm"] is None
    rc = main(["evaluate", "--labels", str(tmp_path / "nope.json"), "--predictions",
               str(files["pred"]), "--out", str(tmp_path / "e3")])  # fmt: skip
    assert rc == 2
    assert "nope.json" in capsys.readouterr().err
