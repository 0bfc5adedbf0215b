"""Outputs are whole or absent, and carry what a reader needs (CSV forms, legends)."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from echomark.cli.main import main
from echomark.evaluate.draw import LEGEND_WIDTH_PX
from predict_helpers import CHANNELS, tiny_checkpoint


@pytest.fixture(scope="module")
def ck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("ck") / "c.pt", head_bias=0.5, head_std=0.05)


def _pngs(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"f{i}.png"
        cv2.imwrite(str(p), rng.integers(0, 255, (48, 64), np.uint8))
        paths.append(p)
    return paths


def test_predict_writes_csv_and_legend_overlays_and_replaces_stale_output(
    ck, tmp_path, capsys
) -> None:
    a, b = _pngs(tmp_path / "in", 2)
    out = tmp_path / "o"
    assert (
        main(["predict", "--checkpoint", str(ck), str(a), str(b), "--out", str(out), "--overlays"])
        == 0
    )
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert rows and {r["label"] for r in rows} <= set(CHANNELS)
    assert set(rows[0]) == {"key", "label", "state", "instance", "node", "x", "y", "conf"}
    pred = json.loads((out / "predictions.json").read_text())
    assert {r["key"] for r in rows} == set(pred)
    overlay = next((out / "overlays").glob("*.png"))
    h, w = cv2.imread(str(overlay)).shape[:2]
    assert (h, w) == (48, 64 + LEGEND_WIDTH_PX)  # the frame plus its legend panel
    # A second run into the same folder: refused, then replaced whole with --overwrite.
    assert main(["predict", "--checkpoint", str(ck), str(a), "--out", str(out)]) == 2
    assert main(["predict", "--checkpoint", str(ck), str(a), "--out", str(out), "--overwrite"]) == 0
    assert not (out / "overlays").exists()  # nothing stale from the earlier run
    assert len(json.loads((out / "predictions.json").read_text())) == 1
    assert not list(tmp_path.glob(".o*"))  # no temp folder or lock left beside it


def test_batch_predict_skips_a_bad_file_and_goes_on(ck, tmp_path, capsys) -> None:
    good = _pngs(tmp_path / "in", 1)[0]
    bad = tmp_path / "in" / "bad.png"
    bad.write_text("not an image")
    out = tmp_path / "o"
    rc = main(["predict", "--checkpoint", str(ck), str(good), str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "skipped" in err and "bad.png" in err and "bad signature" in err
    assert len(json.loads((out / "predictions.json").read_text())) == 1


def test_evaluate_writes_errors_csv_and_nothing_when_an_image_is_corrupt(tmp_path, capsys) -> None:
    from echomark.synth.config import DatasetConfig
    from echomark.synth.dataset import write_dataset

    ds = tmp_path / "ds"
    write_dataset(
        ds,
        DatasetConfig(
            n_videos=1, n_external=0, frames_per_video=2, labelled_per_video=1, size=(64, 80)
        ),
    )
    with zipfile.ZipFile(ds / "labels.zip") as zf:
        (tmp_path / "truth.json").write_bytes(zf.read("labels-all.json"))
    argv = [
        "evaluate",
        "--labels",
        str(tmp_path / "truth.json"),
        "--predictions",
        str(tmp_path / "truth.json"),
    ]
    assert main([*argv, "--out", str(tmp_path / "e")]) == 0
    rows = list(csv.DictReader((tmp_path / "e" / "errors.csv").open()))
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert len(rows) == sum(len(v["labels"]) for v in truth.values())
    assert all(r["error_px"] in ("", "0.0") for r in rows)
    # A corrupt frame in --images: the report cannot be drawn, and no half output remains.
    with zipfile.ZipFile(ds / "png-cache.zip") as zf:
        zf.extractall(tmp_path / "cache")
    for png in (tmp_path / "cache").rglob("*.png"):
        png.write_bytes(png.read_bytes()[:60])
    rc = main([*argv, "--out", str(tmp_path / "e2"), "--images", str(tmp_path / "cache")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "PNG" in err[0]
    assert not (tmp_path / "e2").exists() and not list(tmp_path.glob(".e2*"))


def test_export_model_card_names_training_data_without_folders(ck, tmp_path) -> None:
    assert main(["export", "--checkpoint", str(ck), "--model-dir", str(tmp_path / "m")]) == 0
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    assert set(card["training"]) >= {"images", "labels", "epochs", "steps"}
    assert "/" not in card["training"]["images"] + card["training"]["labels"]
