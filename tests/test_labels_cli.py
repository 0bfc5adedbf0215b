"""``echomark labels validate|stats|convert`` end to end through ``main``."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from echomark.cache.keys import ImageKey
from echomark.cache.writer import CacheWriter
from echomark.cli.main import main


def key(video: int, frame: int = 0) -> str:
    return f"01-{video:064x}-{frame:04d}.png"


GOOD = {
    key(1): {
        "labels": {
            "lv-ivs-top": {"type": "point", "x": "10.0", "y": "20.0"},
            "curve-lv-post-endo": {"type": "curve", "x": "1.0 2.0 3.0", "y": "4.0 5.0 6.0"},
            "lv-pw-top": {"type": "off", "x": "", "y": ""},
        }
    },
    key(1, 7): {
        "labels": {
            "lv-ivs-top": {"type": "blurred", "x": "", "y": ""},
            "curve-lv-endo": {"type": "curve", "x": "1.0 2.0", "y": "4.0 5.0"},
        }
    },
    key(2): {"labels": {"lv-ivs-top": {"type": "point", "x": "11.0", "y": "21.0"}}},
}


def write(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj, sort_keys=True) + "\n")
    return path


def test_validate_clean_file_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["labels", "validate", str(write(tmp_path / "l.json", GOOD))]) == 0
    cap = capsys.readouterr()
    assert cap.out == ""
    assert "3 image entries: 0 error(s), 0 warning(s), 0 info" in cap.err


def test_validate_json_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad[key(2)]["labels"]["lv-ivs-top"]["y"] = "21.0 22.0"
    path = write(tmp_path / "l.json", bad)
    assert main(["labels", "validate", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["counts"] == {"error": 1, "warning": 0, "info": 0}
    assert out["problems"] == [
        {
            "file": str(path),
            "key": key(2),
            "label": "lv-ivs-top",
            "severity": "error",
            "message": "x has 1 values but y has 2",
        }
    ]
    assert out["files"] == [{"source": str(path), "images": 3, "format": "v1", "wrapped": True}]


def test_validate_images_against_png_cache(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    writer = CacheWriter(tmp_path / "data")
    for k in (key(1), key(1, 7)):
        writer.write(ImageKey.parse(k), np.zeros((24, 16), np.uint8))
    path = write(tmp_path / "l.json", GOOD)
    assert main(["labels", "validate", str(path), "--images", str(tmp_path / "data")]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: {key(2)}: image not found in the png-cache"
    ]
    # With the image known, a point beyond its edge is an error (x=10 fits 16 columns,
    # y=20 fits 24 rows; a 12-row image does not hold it).
    writer.write(ImageKey.parse(key(1)), np.zeros((12, 16), np.uint8))
    assert main(["labels", "validate", str(path), "--images", str(tmp_path / "data")]) == 1
    out = capsys.readouterr().out
    assert f"{key(1)}: lv-ivs-top: point (10, 20) is outside the 16x12 image" in out
    assert main(["labels", "validate", str(path), "--images", str(tmp_path / "data"),
                 "--strict"]) == 2  # fmt: skip
    assert "image not found in the png-cache" in capsys.readouterr().err


def test_validate_zip_checks_lists_and_leaks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    z = tmp_path / "labels.zip"
    train = {key(1): GOOD[key(1)]}
    tune = {key(1, 7): GOOD[key(1, 7)], key(2): GOOD[key(2)]}
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("labels-train.json", json.dumps(train))
        zf.writestr("labels-tune.json", json.dumps(tune))
        zf.writestr("labels-tune.txt", key(2) + "\n")
    assert main(["labels", "validate", str(z)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"[warning] {z}::labels-tune.json: {key(1, 7)}: in the JSON but not in labels-tune.txt",
        f"[warning] {z}::labels-tune.json: {key(1, 7)}: video also in train (video-level leak)",
    ]
    assert main(["labels", "validate", str(z), "--split", "train"]) == 0


def test_stats_counts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write(tmp_path / "l.json", GOOD)
    assert main(["labels", "stats", str(path), "--json"]) == 0
    (s,) = json.loads(capsys.readouterr().out)["files"]
    assert (s["images"], s["videos"]) == (3, 2)
    assert s["states"]["lv-ivs-top"] == {
        "point": 2, "curve": 0, "off": 0, "blurred": 1, "missing": 0
    }  # fmt: skip
    assert s["states"]["curve-lv-endo"]["missing"] == 2
    assert s["views"]["PLAX"] == {"images": 2, "drawn": 3}
    assert s["views"]["A4C"] == {"images": 1, "drawn": 1}
    assert list(s["states"])[:2] == ["curve-lv-endo", "lv-ivs-top"]  # registry order
    assert main(["labels", "stats", str(path)]) == 0
    text = capsys.readouterr().out
    assert "3 images, 2 videos" in text and "lv-ivs-top" in text


def test_convert_v1_v2_v1_bytes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "in.json"
    src.write_text(json.dumps(GOOD, sort_keys=True) + "\n")
    v2, v1 = tmp_path / "v2.json", tmp_path / "v1.json"
    assert main(["labels", "convert", str(src), str(v2), "--to", "v2"]) == 0
    assert json.loads(v2.read_text())[key(2)]["lv-ivs-top"][0]["x"] == [11.0]
    assert main(["labels", "convert", str(v2), str(v1), "--to", "v1"]) == 0
    assert v1.read_bytes() == src.read_bytes()
    assert "wrote" in capsys.readouterr().out


def test_convert_bad_input_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad[key(1)]["labels"]["lv-ivs-top"]["x"] = "ten"
    src = write(tmp_path / "in.json", bad)
    out = tmp_path / "out.json"
    assert main(["labels", "convert", str(src), str(out), "--to", "v2"]) == 2
    assert not out.exists()
    out.write_text("previous")
    assert main(["labels", "convert", str(src), str(out), "--to", "v1"]) == 2
    assert out.read_text() == "previous"
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": ')
    assert main(["labels", "convert", str(broken), str(out), "--to", "v1"]) == 2
    assert out.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.json", "in.json", "out.json"]
    err = capsys.readouterr().err
    assert f"{src}: {key(1)}: lv-ivs-top: x has a non-numeric value 'ten'" in err
    # --lenient writes the bad label as blurred and exits 1
    assert main(["labels", "convert", str(src), str(out), "--to", "v1", "--lenient"]) == 1
    written = json.loads(out.read_text())
    assert written[key(1)]["labels"]["lv-ivs-top"] == {"type": "blurred", "x": "", "y": ""}


def test_convert_multi_instance_to_v1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    two = [{"type": "point", "x": [1.0], "y": [2.0]}, {"type": "point", "x": [3.0], "y": [4.0]}]
    src = write(tmp_path / "in.json", {key(3): {"e-peak": two}})
    out = tmp_path / "out.json"
    assert main(["labels", "convert", str(src), str(out), "--to", "v1"]) == 2
    assert not out.exists()
    assert "v1 holds one per label" in capsys.readouterr().err
    assert main(["labels", "convert", str(src), str(out), "--to", "v1", "--first-instance"]) == 0
    assert "1 extra instance(s) dropped" in capsys.readouterr().err
    assert json.loads(out.read_text()) == {
        key(3): {"labels": {"e-peak": {"type": "point", "x": "1.0", "y": "2.0"}}}
    }


def test_help_lists_actions(capsys: pytest.CaptureFixture) -> None:
    assert main(["labels", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(a in out for a in ("validate", "stats", "convert"))
