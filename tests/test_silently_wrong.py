"""Things that used to go silently wrong now say so."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from echomark.cache.keys import ImageKey
from echomark.cache.writer import CacheWriter
from echomark.cli.main import build_parser, main
from echomark.errors import InputError
from echomark.labels.io import read_labels

KEY = "01-" + "ab" * 32 + "-0003.png"


def test_negative_and_huge_coordinates_are_flagged() -> None:
    text = json.dumps({KEY: {"labels": {
        "lv-ivs-top": {"type": "point", "x": "-40.0", "y": "10.0"},
        "mv-ant-hinge": {"type": "point", "x": "1e308", "y": "10.0"},
    }}})  # fmt: skip
    lf = read_labels(text.encode())
    by_label = {p.label: p for p in lf.problems}
    assert (
        by_label["lv-ivs-top"].severity.value == "warning"
        and "negative" in by_label["lv-ivs-top"].message
    )
    assert (
        by_label["mv-ant-hinge"].severity.value == "error"
        and "beyond" in by_label["mv-ant-hinge"].message
    )
    assert lf.images[KEY]["mv-ant-hinge"].state.value == "blurred"  # masked, never measured


def test_labels_convert_to_zip_writes_a_real_zip(tmp_path: Path, capsys) -> None:
    src = tmp_path / "l.json"
    src.write_text(
        json.dumps({KEY: {"labels": {"lv-ivs-top": {"type": "point", "x": "1.0", "y": "2.0"}}}})
    )
    assert main(["labels", "convert", str(src), str(tmp_path / "out.zip"), "--to", "v2"]) == 0
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        assert zf.namelist() == ["labels-all.json"]
        assert KEY in json.loads(zf.read("labels-all.json"))
    assert main(["labels", "stats", str(tmp_path / "out.zip")]) == 0


def test_cache_verify_reports_misplaced_upper_case_and_stray_files(tmp_path: Path, capsys) -> None:
    w = CacheWriter(tmp_path / "c")
    key = ImageKey.parse(KEY)
    w.write(key, np.zeros((8, 8), np.uint8))
    good = w.path(key)
    root = tmp_path / "c" / "png-cache"
    (good.parent / good.name.upper().replace(".PNG", ".PNG")).write_bytes(good.read_bytes())
    other = ImageKey.parse("01-" + "cd" * 32 + "-0000.png")
    (root / "01" / "ab" / "ab" / other.name).write_bytes(good.read_bytes())  # wrong shard
    (root / "notes.txt").write_text("x")
    rc = main(["cache", "verify", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert rc == 1 and "OK" not in out
    assert "upper-case file name" in out and "which also exists (a duplicate)" in out
    assert "misplaced frame" in out and other.relpath in out
    assert "stray file" in out and "notes.txt" in out


def test_every_verb_has_verbose_quiet_and_debug() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        flags = {o for a in parser._actions for o in a.option_strings}
        assert {"-v", "-q", "--debug"} <= flags, name


def test_a_nan_prediction_is_reported_not_dropped() -> None:
    from echomark.data.config import DataConfig
    from echomark.data.spec import ModelSpec
    from echomark.labels.registry import LabelKind
    from echomark.predict.inputs import InputFrame
    from echomark.predict.predictor import predict_frames

    spec = ModelSpec(("lv-ivs-top",), (LabelKind.POINT,), DataConfig(input_hw=(32, 32)), "tiny")
    frame = InputFrame("k.png", "v", 0, lambda: np.zeros((32, 32), np.uint8), None, "k.png")

    def nan_engine(x: np.ndarray) -> list[np.ndarray]:
        return [
            np.full((len(x), 1, 8, 8), np.nan, np.float32),
            np.full((len(x), 1, 16, 16), np.nan, np.float32),
        ]

    failed: list[tuple[str, str]] = []
    out = predict_frames(
        [frame], nan_engine, spec, on_error=lambda f, e: failed.append((f.key, str(e)))
    )  # type: ignore[arg-type]
    assert out == {} and "not finite" in failed[0][1]
    with pytest.raises(InputError, match="not finite"):
        predict_frames([frame], nan_engine, spec)  # type: ignore[arg-type]
