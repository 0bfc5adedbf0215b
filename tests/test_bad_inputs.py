"""The bad-input corpus: every verb, every kind of bad input a user can give.

Each case runs ``echomark`` in-process on a copy-free world of good inputs (plus whatever the
case writes into its own folder) and asserts the exit code, exactly one line on stderr, no
traceback, and that nothing was written anywhere.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from bad_world import World, build_world, snapshot
from echomark.cli.main import main

LABELS_BAD = Path(__file__).parent / "data" / "labels_bad"
BAD_LABEL_FILES = sorted(p.name for p in LABELS_BAD.glob("*.json") if p.name != "expected.json")
FILE_LEVEL_BAD = sorted(n for n in BAD_LABEL_FILES if n.startswith("file_"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world"))


# --------------------------------------------------------------------------- case setups

Setup = Callable[[Path, World], None]


def _png(path: Path, width: int, height: int, *, body: bytes | None = None) -> None:
    """A PNG whose IHDR declares ``width`` x ``height`` (the data need not match)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(body if body is not None else b"\0" * (width + 1) * 4)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def huge_png(t: Path, w: World) -> None:
    _png(t / "huge.png", 40000, 40000)


def wide_png(t: Path, w: World) -> None:
    _png(t / "wide.png", 20000, 10)


def fake_png(t: Path, w: World) -> None:
    (t / "fake.png").write_text("not an image")


def stub_png(t: Path, w: World) -> None:
    (t / "stub.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")


def text_file(t: Path, w: World) -> None:
    (t / "notes.txt").write_text("hello")


def empty_dir(t: Path, w: World) -> None:
    (t / "empty").mkdir()


def txt_dir(t: Path, w: World) -> None:
    (t / "docs").mkdir()
    (t / "docs" / "a.txt").write_text("x")


def out_file(t: Path, w: World) -> None:
    (t / "o").write_text("keep me")


def out_full(t: Path, w: World) -> None:
    (t / "o").mkdir()
    (t / "o" / "old.txt").write_text("an earlier run")


def evil_pt(t: Path, w: World) -> None:
    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {t}/PWNED",))

    payload = torch.load(w.ck, weights_only=True)
    payload["config"] = Payload()
    torch.save(payload, t / "evil.pt")


def raw_state_pt(t: Path, w: World) -> None:
    from echomark.models import build_model

    torch.save(build_model("tiny", 1, 3).state_dict(), t / "raw.pt")


def cut_pt(t: Path, w: World) -> None:
    (t / "cut.pt").write_bytes(w.ck.read_bytes()[:2000])


def pickle_pt(t: Path, w: World) -> None:
    (t / "list.pt").write_bytes(pickle.dumps([1, 2, 3]))


def _model_with(edit: Callable[[dict], None]) -> Setup:
    def setup(t: Path, w: World) -> None:
        shutil.copytree(w.model, t / "m")
        card = json.loads((t / "m" / "model.json").read_text())
        edit(card)
        (t / "m" / "model.json").write_text(json.dumps(card))

    return setup


def model_no_weights(t: Path, w: World) -> None:
    shutil.copytree(w.model, t / "m")
    (t / "m" / "model.safetensors").unlink()


def model_bad_weights(t: Path, w: World) -> None:
    shutil.copytree(w.model, t / "m")
    (t / "m" / "model.safetensors").write_bytes(b"\xff" * 100)


def model_card_not_json(t: Path, w: World) -> None:
    shutil.copytree(w.model, t / "m")
    (t / "m" / "model.json").write_text("{nope")


def _dicom_with(edit: Callable[[object], None]) -> Setup:
    def setup(t: Path, w: World) -> None:
        import pydicom

        ds = pydicom.dcmread(w.dcm)
        edit(ds)
        ds.save_as(t / "x.dcm")

    return setup


def _set(attr: str, value: object) -> Callable[[object], None]:
    return lambda ds: setattr(ds, attr, value)


def truncated_dcm(t: Path, w: World) -> None:
    data = w.dcm.read_bytes()
    (t / "x.dcm").write_bytes(data[: len(data) * 2 // 3])


def jpeg_cine_truncated(t: Path, w: World) -> None:
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file("color3d_jpeg_baseline.dcm")).read_bytes()
    (t / "x.dcm").write_bytes(data[: len(data) // 2])


def _write(name: str, text: str) -> Setup:
    def setup(t: Path, w: World) -> None:
        (t / name).write_text(text)

    return setup


def _calib(value: str) -> Setup:
    def setup(t: Path, w: World) -> None:
        codes = [line.split(",")[0] for line in w.calib.read_text().splitlines()[1:]]
        rows = "".join(f"{c},{value},{value}\n" for c in codes)
        (t / "c.csv").write_text("FileHash,PhysicalDeltaX,PhysicalDeltaY\n" + rows)

    return setup


def _labels_with(edit: Callable[[dict], None]) -> Setup:
    def setup(t: Path, w: World) -> None:
        data = json.loads(w.labels_json.read_text())
        edit(data)
        (t / "l.json").write_text(json.dumps(data))

    return setup


def _first_point(value: str) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        for entry in data.values():
            for label in entry["labels"].values():
                if label["type"] == "point":
                    label["x"] = value
                    return

    return edit


def copy_bad_labels(t: Path, w: World) -> None:
    for name in BAD_LABEL_FILES:
        shutil.copy(LABELS_BAD / name, t / name)


def hold_lock(t: Path, w: World) -> None:
    """Another process holds the output folder (a child that sleeps with the lock)."""
    import subprocess

    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(t / '.o.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"locked"
    _HOLDERS.append(proc)


_HOLDERS: list = []


def train_yaml(extra: dict) -> Setup:
    def setup(t: Path, w: World) -> None:
        cfg = json.loads(w.config.read_text())
        for dotted, value in extra.items():
            node = cfg
            *head, last = dotted.split(".")
            for part in head:
                node = node.setdefault(part, {})
            node[last] = value
        (t / "c.yaml").write_text(json.dumps(cfg))

    return setup


# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Case:
    """One bad input: the command (``{name}`` = world path, ``{t}`` = case folder)."""

    id: str
    argv: str
    code: int = 2
    match: str = ""
    setup: Setup | None = None


P = "predict --checkpoint {ck} --out {t}/o"
M = "measure {labels} --out {t}/o"
E = "evaluate --labels {labels} --predictions {pred} --out {t}/o"
T = "train -c {config} --out {t}/r"

CASES: list[Case] = [
    # ---- usage
    Case("usage-unknown-verb", "frobnicate", match="invalid choice"),
    Case("usage-no-verb", "", match="required"),
    Case("usage-predict-missing-out", "predict --checkpoint {ck} {png}", match="--out"),
    Case("usage-measure-unknown-option", M + " --mm-per-px 0.3 --bogus 1", match="--bogus"),
    Case("usage-labels-no-action", "labels", match="required"),
    Case("usage-cache-no-action", "cache", match="required"),
    Case("usage-convert-no-to", "labels convert {labels_json} {t}/x.json", match="--to"),
    Case("usage-batch-size-text", P + " --batch-size many {png}", match="--batch-size"),
    Case("usage-synth-size-text", "synth --out {t}/s --size big", match="HEIGHTxWIDTH"),
    Case("usage-model-info-size-text", "model-info --size x", match="--size"),
    # ---- predict: models
    Case(
        "predict-checkpoint-missing",
        "predict --checkpoint {t}/none.pt {png} --out {t}/o",
        match="not found",
    ),
    Case(
        "predict-checkpoint-is-png",
        "predict --checkpoint {png} {png} --out {t}/o",
        match="cannot read checkpoint",
    ),
    Case(
        "predict-checkpoint-pickled-payload",
        "predict --checkpoint {t}/evil.pt {png} --out {t}/o",
        match="never loads",
        setup=evil_pt,
    ),
    Case(
        "predict-checkpoint-raw-state-dict",
        "predict --checkpoint {t}/raw.pt {png} --out {t}/o",
        match="not an echomark checkpoint",
        setup=raw_state_pt,
    ),
    Case(
        "predict-checkpoint-truncated",
        "predict --checkpoint {t}/cut.pt {png} --out {t}/o",
        match="cannot read checkpoint",
        setup=cut_pt,
    ),
    Case(
        "predict-checkpoint-plain-pickle",
        "predict --checkpoint {t}/list.pt {png} --out {t}/o",
        match="checkpoint",
        setup=pickle_pt,
    ),
    Case(
        "predict-model-other-variant",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="not those of an HRNet w18",
        setup=_model_with(lambda c: c.update(variant="w18")),
    ),
    Case(
        "predict-model-unknown-variant",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="variant",
        setup=_model_with(lambda c: c.update(variant="w999")),
    ),
    Case(
        "predict-model-other-channels",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="label channels",
        setup=_model_with(lambda c: c.update(channels=c["channels"][:1], kinds=c["kinds"][:1])),
    ),
    Case(
        "predict-model-other-in-channels",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="input channels",
        setup=_model_with(lambda c: c.update(in_channels=3)),
    ),
    Case(
        "predict-model-kinds-mismatch",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="kinds",
        setup=_model_with(lambda c: c.update(kinds=["point"])),
    ),
    Case(
        "predict-model-bad-kind",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="kinds",
        setup=_model_with(lambda c: c.update(kinds=["blob"] * len(c["kinds"]))),
    ),
    Case(
        "predict-model-not-a-card",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="not an echomark model card",
        setup=_model_with(lambda c: c.update(format="x")),
    ),
    Case(
        "predict-model-newer-card",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="not supported",
        setup=_model_with(lambda c: c.update(version=2)),
    ),
    Case(
        "predict-model-card-missing-field",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="missing field",
        setup=_model_with(lambda c: c.pop("channels")),
    ),
    Case(
        "predict-model-card-bad-type",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="must be a int",
        setup=_model_with(lambda c: c.update(in_channels="one")),
    ),
    Case(
        "predict-model-card-not-json",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="not JSON",
        setup=model_card_not_json,
    ),
    Case(
        "predict-model-no-weights",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="no model.safetensors",
        setup=model_no_weights,
    ),
    Case(
        "predict-model-garbage-weights",
        "predict --checkpoint {t}/m {png} --out {t}/o",
        match="not a safetensors",
        setup=model_bad_weights,
    ),
    Case("predict-onnx-without-model", P + " --engine onnx {png}", match="--engine onnx needs"),
    # ---- named models (--model)
    Case(
        "predict-model-name-unknown",
        "predict --model no-such-model {png} --out {t}/o",
        match="no model named 'no-such-model' (known models:",
    ),
    Case(
        "predict-model-and-checkpoint",
        "predict --model {model} --checkpoint {ck} {png} --out {t}/o",
        match="not allowed with",
    ),
    Case(
        "predict-neither-model-nor-checkpoint",
        "predict {png} --out {t}/o",
        match="one of the arguments --checkpoint --model is required",
    ),
    Case(
        "predict-model-path-missing",
        "predict --model {t}/none/model {png} --out {t}/o",
        match="model not found",
    ),
    Case(
        "predict-model-folder-not-a-model",
        "predict --model {t}/empty {png} --out {t}/o",
        match="not a model folder",
        setup=empty_dir,
    ),
    Case(
        "measure-model-name-unknown",
        "measure {dcm} --model no-such-model --out {t}/o",
        match="no model named",
    ),
    Case("model-info-name-unknown", "model-info no-such-model", match="no model named"),
    Case("models-unknown-option", "models --all", match="unrecognized arguments: --all"),
    Case(
        "export-metric-not-key-value",
        "export --checkpoint {ck} --model-dir {t}/m --metric accuracy",
        match="KEY=VALUE",
    ),
    Case(
        "export-card-fields-without-model-dir",
        "export --checkpoint {ck} --onnx {t}/m.onnx --training-data synthetic",
        match="need --model-dir",
    ),
    Case(
        "export-card-json-unknown-field",
        "export --checkpoint {ck} --model-dir {t}/m --card-json {t}/c.json",
        match="unknown card field",
        setup=_write("c.json", '{"variant": "w48"}'),
    ),
    Case(
        "export-card-json-bad-metric",
        "export --checkpoint {ck} --model-dir {t}/m --card-json {t}/c.json",
        match="metric 'a' must be a number or a string",
        setup=_write("c.json", '{"metrics": {"a": [1]}}'),
    ),
    # ---- predict: outputs
    Case(
        "predict-out-is-a-file",
        "predict --checkpoint {ck} {png} --out {t}/o",
        match="existing file",
        setup=out_file,
    ),
    Case(
        "predict-out-not-empty",
        "predict --checkpoint {ck} {png} --out {t}/o",
        match="--overwrite",
        setup=out_full,
    ),
    Case(
        "predict-out-locked",
        "predict --checkpoint {ck} {png} --out {t}/o",
        code=75,
        match="another echomark process",
        setup=hold_lock,
    ),
    # ---- predict: inputs
    Case("predict-input-missing", P + " {t}/none.png", match="no such file"),
    Case(
        "predict-input-text-file", P + " {t}/notes.txt", match="not a PNG, folder", setup=text_file
    ),
    Case(
        "predict-input-huge-png",
        P + " {t}/huge.png",
        match="40000x40000 px, larger than",
        setup=huge_png,
    ),
    Case("predict-input-wide-png", P + " {t}/wide.png", match="20000x10 px", setup=wide_png),
    Case("predict-input-fake-png", P + " {t}/fake.png", match="bad signature", setup=fake_png),
    Case("predict-input-stub-png", P + " {t}/stub.png", match="truncated PNG", setup=stub_png),
    Case("predict-input-empty-folder", P + " {t}/empty", match="no PNG files", setup=empty_dir),
    Case("predict-input-folder-of-text", P + " {t}/docs", match="no PNG files", setup=txt_dir),
    Case(
        "predict-input-two-bad",
        P + " {t}/fake.png {t}/huge.png",
        match="none of the 2 inputs",
        setup=lambda t, w: (fake_png(t, w), huge_png(t, w)),
    ),
    Case("predict-dicom-ct", P + " {ct}", match="Modality CT): pass --force"),
    Case("predict-dicom-mr", P + " {mr}", match="Modality MR): pass --force"),
    Case(
        "predict-dicom-frames-zero",
        P + " {t}/x.dcm",
        match="NumberOfFrames is 0",
        setup=_dicom_with(_set("NumberOfFrames", 0)),
    ),
    Case(
        "predict-dicom-frames-too-many",
        P + " {t}/x.dcm",
        match="NumberOfFrames is 30 but the pixel data holds 3",
        setup=_dicom_with(_set("NumberOfFrames", 30)),
    ),
    Case(
        "predict-dicom-frames-negative",
        P + " {t}/x.dcm",
        match="NumberOfFrames is -2",
        setup=_dicom_with(_set("NumberOfFrames", -2)),
    ),
    Case(
        "predict-dicom-truncated", P + " {t}/x.dcm", match="pixel data holds", setup=truncated_dcm
    ),
    Case(
        "predict-dicom-jpeg-truncated",
        P + " {t}/x.dcm",
        match="truncated",
        setup=jpeg_cine_truncated,
    ),
    Case("predict-dicom-bad-frames", P + " --frames 7:9 {dcm}", match="frame"),
    Case("predict-dicom-frames-syntax", P + " --frames a-b {dcm}", match="frame"),
    Case("predict-batch-size-zero", P + " --batch-size 0 {png}", match="--batch-size"),
    Case("predict-min-conf-2", P + " --min-conf 2 {png}", match="--min-conf"),
    Case(
        "predict-presence-zero", P + " --presence-threshold 0 {png}", match="--presence-threshold"
    ),
    Case(
        "predict-presence-nan", P + " --presence-threshold nan {png}", match="--presence-threshold"
    ),
    Case(
        "predict-split-without-labels", P + " --split ival {cache}", match="--split needs --labels"
    ),
    Case("predict-split-unknown", P + " --split nope --labels {labels} {cache}", match="nope"),
    Case("predict-list-missing", P + " --list {t}/none.txt {cache}", match="none.txt"),
    Case("predict-device-bogus", P + " --device quantum {png}", match="quantum"),
    # ---- export
    Case(
        "export-opset-5",
        "export --checkpoint {ck} --onnx {t}/m.onnx --opset 5",
        match="--opset 5 is not supported",
    ),
    Case(
        "export-opset-99",
        "export --checkpoint {ck} --onnx {t}/m.onnx --opset 99",
        match="not supported",
    ),
    Case("export-nothing", "export --checkpoint {ck}", match="nothing to write"),
    Case(
        "export-checkpoint-missing",
        "export --checkpoint {t}/none.pt --model-dir {t}/m",
        match="not found",
    ),
    Case(
        "export-pickled-payload",
        "export --checkpoint {t}/evil.pt --model-dir {t}/m",
        match="never loads",
        setup=evil_pt,
    ),
    Case(
        "export-onnx-is-folder",
        "export --checkpoint {ck} --onnx {t}/o",
        match="folder",
        setup=out_full,
    ),
    Case(
        "export-model-dir-is-file",
        "export --checkpoint {ck} --model-dir {t}/o",
        match="not a folder",
        setup=out_file,
    ),
    Case(
        "export-model-dir-not-empty",
        "export --checkpoint {ck} --model-dir {t}/o",
        match="--overwrite",
        setup=out_full,
    ),
    # ---- model-info
    Case("model-info-unknown-variant", "model-info --variant nope", match="unknown model variant"),
    Case("model-info-negative-size", "model-info --size -5", match="--size"),
    Case("model-info-zero-channels", "model-info --channels 0", match="channels"),
    Case("model-info-zero-outputs", "model-info --outputs 0", match="outputs"),
    # ---- evaluate
    Case(
        "evaluate-labels-missing",
        "evaluate --labels {t}/none.json --predictions {pred} --out {t}/o",
        match="none.json",
    ),
    Case(
        "evaluate-predictions-missing",
        "evaluate --labels {labels} --predictions {t}/none.json --out {t}/o",
        match="none.json",
    ),
    Case(
        "evaluate-predictions-not-json",
        "evaluate --labels {labels} --predictions {png} --out {t}/o",
        match="grey.png",
    ),
    Case("evaluate-out-is-file", E, match="existing file", setup=out_file),
    Case("evaluate-out-not-empty", E, match="--overwrite", setup=out_full),
    Case("evaluate-out-locked", E, code=75, match="another echomark process", setup=hold_lock),
    Case("evaluate-split-unknown", E + " --split nope", match="nope"),
    Case("evaluate-calibration-missing", E + " --calibration {t}/none.csv", match="none.csv"),
    Case(
        "evaluate-calibration-columns",
        E + " --calibration {t}/c.csv",
        match="missing column",
        setup=_write("c.csv", "a,b\n1,2\n"),
    ),
    Case(
        "evaluate-calibration-1e300",
        E + " --calibration {t}/c.csv",
        match="1e+300",
        setup=_calib("1e300"),
    ),
    Case(
        "evaluate-calibration-negative",
        E + " --calibration {t}/c.csv",
        match="-0.01",
        setup=_calib("-0.01"),
    ),
    Case(
        "evaluate-calibration-nan", E + " --calibration {t}/c.csv", match="nan", setup=_calib("nan")
    ),
    Case(
        "evaluate-calibration-text",
        E + " --calibration {t}/c.csv",
        match="not a number",
        setup=_calib("wide"),
    ),
    Case("evaluate-images-missing", E + " --images {t}/none.zip", match="none.zip"),
    # ---- measure
    Case(
        "measure-input-missing",
        "measure {t}/none.json --out {t}/o --mm-per-px 0.3",
        match="no such file",
    ),
    Case("measure-no-spacing", M, match="or --mm-per-px"),
    Case("measure-mm-per-px-zero", M + " --mm-per-px 0", match="--mm-per-px"),
    Case("measure-mm-per-px-negative", M + " --mm-per-px -1", match="--mm-per-px"),
    Case("measure-mm-per-px-1e300", M + " --mm-per-px 1e300", match="--mm-per-px"),
    Case("measure-mm-per-px-nan", M + " --mm-per-px nan", match="--mm-per-px"),
    Case("measure-mm-per-px-inf", M + " --mm-per-px inf", match="--mm-per-px"),
    Case("measure-mm-per-px-text", M + " --mm-per-px wide", match="--mm-per-px"),
    Case(
        "measure-frame-time-negative",
        M + " --mm-per-px 0.3 --frame-time-ms -33",
        match="--frame-time-ms",
    ),
    Case(
        "measure-frame-time-zero", M + " --mm-per-px 0.3 --frame-time-ms 0", match="--frame-time-ms"
    ),
    Case(
        "measure-frame-time-inf",
        M + " --mm-per-px 0.3 --frame-time-ms inf",
        match="--frame-time-ms",
    ),
    Case(
        "measure-frame-time-nan",
        M + " --mm-per-px 0.3 --frame-time-ms nan",
        match="--frame-time-ms",
    ),
    Case(
        "measure-frame-time-huge",
        M + " --mm-per-px 0.3 --frame-time-ms 1e9",
        match="--frame-time-ms",
    ),
    Case("measure-min-conf-negative", M + " --mm-per-px 0.3 --min-conf -0.1", match="--min-conf"),
    Case("measure-min-conf-above-1", M + " --mm-per-px 0.3 --min-conf 1.5", match="--min-conf"),
    Case(
        "measure-calibration-1e300",
        M + " --calibration {t}/c.csv",
        match="1e+300",
        setup=_calib("1e300"),
    ),
    Case(
        "measure-calibration-zero",
        M + " --calibration {t}/c.csv",
        match="must be",
        setup=_calib("0"),
    ),
    Case(
        "measure-calibration-empty",
        M + " --calibration {t}/c.csv",
        match="c.csv",
        setup=_write("c.csv", ""),
    ),
    Case("measure-out-is-file", M + " --mm-per-px 0.3", match="existing file", setup=out_file),
    Case("measure-out-not-empty", M + " --mm-per-px 0.3", match="--overwrite", setup=out_full),
    Case("measure-dicom-no-checkpoint", "measure {dcm} --out {t}/o", match="needs a model"),
    Case(
        "measure-dicom-ct", "measure {ct} --out {t}/o --checkpoint {ck}", match="CT): pass --force"
    ),
    Case(
        "measure-views-bad",
        M + " --mm-per-px 0.3 --views {t}/v.csv",
        match="FileHash, view",
        setup=_write("v.csv", "a,b\n"),
    ),
    Case("measure-split-unknown", M + " --mm-per-px 0.3 --split nope", match="nope"),
    Case(
        "measure-coordinate-1e308",
        "measure {t}/l.json --out {t}/o --mm-per-px 0.3",
        code=2,
        match="beyond",
        setup=_labels_with(_first_point("1e308")),
    ),
    # ---- synth
    Case(
        "synth-labelled-more-than-frames",
        "synth --out {t}/s --frames 30 --labelled 50 --videos 1 --external 0",
        match="1..30",
    ),
    Case("synth-zero-frames", "synth --out {t}/s --frames 0", match="1..9999"),
    Case("synth-too-many-frames", "synth --out {t}/s --frames 10000", match="1..9999"),
    Case("synth-negative-videos", "synth --out {t}/s --videos -1", match="at least one video"),
    Case(
        "synth-no-videos", "synth --out {t}/s --videos 0 --external 0", match="at least one video"
    ),
    Case("synth-tiny-size", "synth --out {t}/s --size 10x10", match="outside 64..4096"),
    Case("synth-blur-fraction", "synth --out {t}/s --blur-fraction 2", match="blur fraction"),
    Case(
        "synth-out-is-file",
        "synth --out {t}/o --videos 1 --external 0 --frames 2 --labelled 1 --size 64x64",
        match="o",
        setup=out_file,
    ),
    Case(
        "synth-out-locked",
        "synth --out {t}/o --videos 1 --external 0 --frames 2 --labelled 1 --size 64x64",
        code=75,
        match="another echomark process",
        setup=hold_lock,
    ),
    # ---- curate
    Case(
        "curate-empty-folder",
        "curate {t}/empty --out {t}/o --no-ocr",
        match="found no files",
        setup=empty_dir,
    ),
    Case("curate-source-missing", "curate {t}/none --out {t}/o --no-ocr", match="no such file"),
    Case(
        "curate-only-text",
        "curate {t}/docs --out {t}/o --no-ocr",
        match="is an ultrasound DICOM",
        setup=txt_dir,
    ),
    Case("curate-only-ct", "curate {ct} --out {t}/o --no-ocr", match="Modality CT"),
    Case(
        "curate-class-one-digit", "curate {dcm} --out {t}/o --no-ocr --class 7", match="two digits"
    ),
    Case(
        "curate-class-letters", "curate {dcm} --out {t}/o --no-ocr --class ab", match="two digits"
    ),
    Case("curate-workers-zero", "curate {dcm} --out {t}/o --no-ocr --workers 0", match="--workers"),
    Case(
        "curate-compress-level",
        "curate {dcm} --out {t}/o --no-ocr --compress-level 12",
        match="--compress-level",
    ),
    Case(
        "curate-out-is-file",
        "curate {dcm} --out {t}/o --no-ocr",
        match="existing file",
        setup=out_file,
    ),
    Case(
        "curate-out-locked",
        "curate {dcm} --out {t}/o --no-ocr",
        code=75,
        match="another echomark process",
        setup=hold_lock,
    ),
    Case(
        "curate-key-file-missing",
        "curate {dcm} --out {t}/o --no-ocr --key-file {t}/none.key",
        match="none.key",
    ),
    Case(
        "curate-pull-batch-zero",
        "curate {dcm} --out {t}/o --no-ocr --pull-batch 0",
        match="pull batch",
    ),
    Case(
        "curate-timeout-negative",
        "curate {dcm} --out {t}/o --no-ocr --timeout -1",
        match="--timeout",
    ),
    Case(
        "curate-retries-negative",
        "curate {dcm} --out {t}/o --no-ocr --retries -1",
        match="--retries",
    ),
    Case(
        "curate-dask-address",
        "curate {dcm} --out {t}/o --no-ocr --dask bogus",
        match="--dask wants",
    ),
    Case(
        "predict-dask-overlays", P + " --dask local:1 --overlays {cache}", match="--dask predicts"
    ),
    Case("measure-stow-without-sr", M + " --mm-per-px 0.3 --stow http://x", match="--sr"),
    # ---- labels
    Case("labels-validate-missing", "labels validate {t}/none.json", match="no such file"),
    Case("labels-stats-missing", "labels stats {t}/none.json", match="no such file"),
    Case(
        "labels-convert-missing",
        "labels convert {t}/none.json {t}/x.json --to v2",
        match="no such file",
    ),
    Case(
        "labels-convert-bad-suffix",
        "labels convert {labels_json} {t}/x.txt --to v2",
        match="must end in .json",
    ),
    Case(
        "labels-convert-to-folder",
        "labels convert {labels_json} {t}/empty.json --to v2",
        match="is a folder",
        setup=lambda t, w: (t / "empty.json").mkdir(),
    ),
    Case("labels-validate-split-unknown", "labels validate {labels} --split nope", match="nope"),
    Case(
        "labels-validate-images-missing",
        "labels validate {labels} --images {t}/none.zip",
        match="none.zip",
    ),
    Case(
        "labels-validate-coordinate-1e308",
        "labels validate {t}/l.json --strict",
        match="beyond",
        setup=_labels_with(_first_point("1e308")),
    ),
    Case(
        "labels-validate-coordinate-nan",
        "labels validate {t}/l.json --strict",
        match="non-finite",
        setup=_labels_with(_first_point("nan")),
    ),
    # ---- cache
    Case("cache-verify-missing", "cache verify {t}/none.zip", match="none.zip"),
    Case("cache-ls-missing", "cache ls {t}/none", match="none"),
    Case(
        "cache-verify-text-file", "cache verify {t}/notes.txt", match="notes.txt", setup=text_file
    ),
    Case(
        "cache-verify-not-a-zip",
        "cache verify {t}/x.zip",
        match="x.zip",
        setup=_write("x.zip", "not a zip"),
    ),
    Case(
        "cache-verify-labels-missing",
        "cache verify {cache} --labels {t}/none.json",
        match="none.json",
    ),
    Case("cache-ls-empty-folder", "cache ls {t}/empty", match="empty", setup=empty_dir),
    # ---- train
    Case("train-config-missing", "train -c {t}/none.yaml --out {t}/r", match="no such config file"),
    Case(
        "train-config-invalid-yaml",
        "train -c {t}/c.yaml --out {t}/r",
        match="invalid YAML",
        setup=_write("c.yaml", "a: [1,\n"),
    ),
    Case(
        "train-config-top-level-list",
        "train -c {t}/c.yaml --out {t}/r",
        match="mapping",
        setup=_write("c.yaml", "- 1\n"),
    ),
    Case(
        "train-config-unknown-key",
        "train -c {t}/c.yaml --out {t}/r",
        match="unknown key",
        setup=_write("c.yaml", "epoch: 3\n"),
    ),
    Case("train-set-unknown-key", T + " --set optim.lrr=1", match="--list-keys"),
    Case("train-set-bad-type", T + " --set epochs=ten", match="--set epochs=ten"),
    Case("train-set-no-equals", T + " --set epochs", match="key=value"),
    Case("train-set-zero-epochs", T + " --set epochs=0", match="epochs"),
    Case("train-set-bad-input-hw", T + " --set dataset.input_hw=0,0", match="input_hw"),
    Case("train-set-unknown-variant", T + " --set model.variant=w999", match="w999"),
    Case("train-set-in-channels", T + " --set dataset.in_channels=2", match="in_channels"),
    Case("train-set-frame-offsets", T + " --set dataset.frame_offsets=1,2", match="frame_offsets"),
    Case("train-images-missing", T + " --set data.images={t}/none.zip", match="none.zip"),
    Case("train-labels-missing", T + " --set data.labels={t}/none.zip", match="none.zip"),
    Case("train-no-data", "train --out {t}/r", match="data"),
    Case("train-split-unknown", T + " --set data.train_split=nope", match="nope"),
    Case("train-channel-unknown", T + " --set data.channels=not-a-label", match="not-a-label"),
    Case("train-resume-png", T + " --resume {png}", match="cannot read checkpoint"),
    Case("train-resume-missing", T + " --resume {t}/none.pt", match="not found"),
    Case(
        "train-resume-pickled-payload",
        T + " --resume {t}/evil.pt",
        match="never loads",
        setup=evil_pt,
    ),
    Case(
        "train-resume-other-channels",
        T + " --resume {ck}",
        match="checkpoint differs from the config",
    ),
    Case("train-device-bogus", T + " --set device=quantum", match="quantum"),
    Case("train-init-name-unknown", T + " --init no-such-model", match="no model named"),
    Case(
        "train-init-other-variant",
        T + " --init {model} --set model.variant=small",
        match="the init model is an HRNet tiny, this run trains an HRNet small",
    ),
    Case(
        "train-init-other-input-channels",
        T + " --init {model} --set dataset.frame_offsets=-1,0,1",
        match="takes 1 input channel(s), this run 3",
    ),
    Case("train-init-and-resume", T + " --init {model} --resume {ck}", match="give one of them"),
    Case("train-init-png", T + " --init {png}", match="cannot read checkpoint"),
    Case("train-init-in-config", T + " --set init={t}/none.pt", match="model not found"),
    # ---- serve (each fails before a server starts)
    Case(
        "serve-images-missing", "serve --images {t}/none.zip --labels {t}/l.json", match="none.zip"
    ),
    Case(
        "serve-open-host-without-token",
        "serve --images {cache} --labels {t}/l.json --host 0.0.0.0",
        match="--token",
    ),
    Case(
        "serve-layer-syntax",
        "serve --images {cache} --labels {t}/l.json --layer nolayer",
        match="NAME=PATH",
    ),
    Case("serve-labels-not-json", "serve --images {cache} --labels {calib}", match="invalid JSON"),
    Case(
        "serve-predictions-missing",
        "serve --images {cache} --labels {t}/l.json --predictions {t}/none.json",
        match="none.json",
    ),
    Case(
        "serve-port-too-big",
        "serve --images {cache} --labels {t}/l.json --port 99999",
        match="--port",
    ),
    Case(
        "train-out-locked",
        "train -c {config} --out {t}/o",
        code=75,
        match="another echomark process",
        setup=hold_lock,
    ),
    # ---- demo
    Case("demo-out-is-file", "demo --out {t}/o --quick", match="o", setup=out_file),
]

# Every malformed label file of the labels corpus, through the verbs that read labels.
CASES += [
    Case(
        f"labels-validate-strict-{n[:-5]}",
        f"labels validate {{t}}/{n} --strict",
        setup=copy_bad_labels,
    )
    for n in BAD_LABEL_FILES
]
CASES += [
    Case(f"labels-stats-{n[:-5]}", f"labels stats {{t}}/{n}", setup=copy_bad_labels)
    for n in FILE_LEVEL_BAD
]
CASES += [
    Case(
        f"labels-convert-{n[:-5]}",
        f"labels convert {{t}}/{n} {{t}}/x.json --to v2",
        setup=copy_bad_labels,
    )
    for n in FILE_LEVEL_BAD
]
CASES += [
    Case(
        f"evaluate-predictions-{n[:-5]}",
        f"evaluate --labels {{labels}} --predictions {{t}}/{n} --out {{t}}/o",
        setup=copy_bad_labels,
    )
    for n in FILE_LEVEL_BAD
]
CASES += [
    Case(
        f"measure-labels-{n[:-5]}",
        f"measure {{t}}/{n} --out {{t}}/o --mm-per-px 0.3",
        setup=copy_bad_labels,
    )
    for n in FILE_LEVEL_BAD
]


def test_the_corpus_is_big_and_covers_every_verb() -> None:
    from echomark.cli.main import build_parser

    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
    verbs = {c.argv.split()[0] for c in CASES if c.argv}
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) <= verbs | {"view"}, set(sub.choices) - verbs


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    yield tmp_path
    while _HOLDERS:
        proc = _HOLDERS.pop()
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(
    case: Case, world: World, case_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pydicom.data import get_testdata_file

    t = case_dir
    if case.setup is not None:
        case.setup(t, world)
    before = snapshot(t)
    extra = {"ct": get_testdata_file("CT_small.dcm"), "mr": get_testdata_file("MR_small.dcm")}
    argv = world.fill(case.argv, t, **extra).split()
    capsys.readouterr()
    rc = main(argv)
    out, err = capsys.readouterr()
    assert out == "", "a failed command printed results"
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == case.code, (rc, lines)
    assert len(lines) == 1, lines
    assert "Traceback" not in err
    assert case.match in lines[0], lines[0]
    assert lines[0].startswith("echomark"), lines[0]
    assert snapshot(t) == before, "the failed command wrote files"
    assert not (t / "PWNED").exists()


def test_the_world_is_untouched(world: World) -> None:
    # Runs after the corpus (same module, later in file order): no case wrote into the world.
    again = snapshot(world.root)
    assert again == _WORLD_AT_START.setdefault("snap", again)


_WORLD_AT_START: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _record_world(world: World) -> None:
    _WORLD_AT_START["snap"] = snapshot(world.root)


def test_broken_pipe_ends_quietly(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    # As `echomark labels stats ... | head -0`: the reader is gone before the first line.
    for argv in (
        ["labels", "stats", str(world.labels)],
        ["labels", "validate", str(world.labels), "--json"],
        ["cache", "ls", str(world.cache), "--frames"],
    ):
        r, w = os.pipe()
        os.close(r)
        writer = io.TextIOWrapper(os.fdopen(w, "wb", buffering=0), write_through=True)
        monkeypatch.setattr(sys, "stdout", writer)
        assert main(argv) == 141, argv
        monkeypatch.undo()
        writer.close()
    assert capsys.readouterr().err.strip() == ""


def test_an_error_from_a_dataloader_worker_is_its_last_line() -> None:
    from echomark.cli._boundary import describe
    from echomark.errors import CacheError

    inner = CacheError("corrupt PNG", file="c.zip", key="01-x-0001.png")
    wrapped = CacheError(
        "Caught CacheError in DataLoader worker process 0.\nOriginal Traceback (most recent "
        f'call last):\n  File "x.py", line 1, in f\necho.errors.CacheError: nope\n'
        f"echomark.errors.CacheError: {inner}"
    )
    code, message = describe(wrapped)
    assert code == 2 and message == str(inner)


def test_debug_shows_the_traceback(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--debug", "labels", "stats", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("echomark labels: error:")
    assert main(["labels", "stats", str(tmp_path / "none.json"), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_a_read_only_output_is_one_line_exit_74(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() == 0:
        # root ignores permissions; a file standing where a folder must be created is the
        # same OSError path (ENOTDIR) and still checks the boundary.
        (tmp_path / "ro").write_text("")
        out = tmp_path / "ro" / "o"
        expect = 2
    else:  # pragma: no cover - CI runs as a user
        (tmp_path / "ro").mkdir(mode=0o555)
        out = tmp_path / "ro" / "o"
        expect = 74
    rc = main(["labels", "convert", str(world.labels_json), str(out / "x.json"), "--to", "v2"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == expect and len(lines) == 1 and "Traceback" not in lines[0]


def test_disk_full_is_one_line_exit_74(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    import errno

    import echomark.fileio as fileio

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.json"))

    monkeypatch.setattr(fileio.os, "replace", full)
    argv = ["evaluate", "--labels", str(world.labels), "--predictions", str(world.pred)]
    rc = main([*argv, "--out", str(tmp_path / "o")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 74 and len(lines) == 1 and "no space left" in lines[0]
    assert not list(tmp_path.iterdir())


def test_library_warnings_become_one_line_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import warnings

    from echomark.cli._boundary import logging_for

    with logging_for("echomark x", 0):
        warnings.warn("overflow encountered in multiply", RuntimeWarning, stacklevel=1)
        np.float32(3e38) * np.float32(10)  # numpy's own overflow warning
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("echomark x: warning: RuntimeWarning") for line in err)
