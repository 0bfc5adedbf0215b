import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from echomark.cache.keys import ImageKey
from echomark.cli.main import main
from echomark.data.config import DataConfig, ResizeMode
from echomark.data.spec import ModelSpec
from echomark.evaluate.draw import LEGEND_WIDTH_PX
from echomark.labels.io import read_labels
from echomark.labels.registry import LabelKind
from echomark.labels.schema import LabelState
from echomark.predict.inputs import InputFrame
from echomark.predict.predictor import predict_frames
from predict_helpers import CHANNELS, tiny_checkpoint

DICOM = get_testdata_file("color3d_jpeg_baseline.dcm")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # heads reset so that the random net reports points and curves, not only ``off``
    return tiny_checkpoint(
        tmp_path_factory.mktemp("ck") / "tiny.pt", input_hw=(96, 128), head_bias=0.0, head_std=0.5
    )


def test_predict_dicom_cine_writes_readable_v2_json_and_overlays(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pred"
    rc = main(["predict", DICOM, "--checkpoint", str(ckpt), "--out", str(out),
               "--frames", "0:4", "--batch-size", "3", "--overlays"])  # fmt: skip
    assert rc == 0
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1].endswith(str(out / "predictions.json"))
    assert "4/4 frames" in captured.err
    raw = json.loads((out / "predictions.json").read_text())
    lf = read_labels(out / "predictions.json", strict=True)
    assert len(lf.images) == 4 and not lf.problems
    for key, labels in lf.images.items():
        assert ImageKey.parse(key).dataset_class == "00"
        assert set(labels) == set(CHANNELS)
        for label in labels.values():
            assert label.state in (LabelState.POINT, LabelState.CURVE, LabelState.OFF)
            for inst in label.instances:
                assert inst.conf is not None and 0 <= inst.conf <= 1
    first = raw[next(iter(raw))]
    assert isinstance(first["lv-apex-endo"], list)  # v2 instance lists
    states = {lab.state for labels in lf.images.values() for lab in labels.values()}
    assert LabelState.POINT in states
    for labels in lf.images.values():  # source pixels of the 640 x 480 cine
        for lab in labels.values():
            if lab.instances:
                assert lab.xy[:, 0].min() > -1 and lab.xy[:, 0].max() < 640
                assert lab.xy[:, 1].min() > -1 and lab.xy[:, 1].max() < 480
    gifs = list((out / "overlays").glob("*.gif"))
    assert len(gifs) == 1
    with Image.open(gifs[0]) as im:
        # the frame plus the legend panel beside it
        assert im.n_frames == 4 and im.size == (640 + LEGEND_WIDTH_PX, 480)
    assert len(list((out / "overlays").glob("*.png"))) == 4
    assert "key,source" in (out / "inputs.csv").read_text()


class PeakEngine:
    """Fake engine: a Gaussian peak at known input pixels, to test the back-mapping."""

    name = "fake"

    def __init__(self, xy_input: tuple[float, float], k: int, strides: tuple[int, ...]) -> None:
        self.xy, self.k, self.strides = xy_input, k, strides

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        b, _, h, w = batch.shape
        outs = []
        for s in self.strides:
            hh, ww = -(-h // s), -(-w // s)
            yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
            g = np.exp(-((xx - self.xy[0] / s) ** 2 + (yy - self.xy[1] / s) ** 2) / (2 * 2.0**2))
            outs.append(np.broadcast_to(0.9 * g, (b, self.k, hh, ww)).astype(np.float32))
        return outs


@pytest.mark.parametrize("resize", [ResizeMode.LETTERBOX, ResizeMode.CROP_PAD])
def test_points_map_back_to_source_pixels(resize: ResizeMode) -> None:
    data = DataConfig(input_hw=(64, 64), resize=resize)
    spec = ModelSpec(("lv-apex-endo",), (LabelKind.POINT,), data)
    img = np.zeros((50, 100), np.uint8)
    frame = InputFrame(ImageKey("01", "d" * 64, 0).name, "v", 0, lambda: img)
    eng = PeakEngine((40.0, 30.0), 1, data.codec.strides)
    out = predict_frames([frame], eng, spec, batch_size=1)
    xy = out[frame.key]["lv-apex-endo"].xy[0]
    if resize is ResizeMode.LETTERBOX:
        # scale 0.64, pad_y = (64 - 32) / 2: x' = 0.64 (x + 0.5) - 0.5, y' = 0.64 (y + 0.5) + 15.5
        expect = ((40.0 + 0.5) / 0.64 - 0.5, (30.0 - 15.5) / 0.64 - 0.5)
    else:
        # crop 100 -> 64 columns from 18, pad 50 -> 64 rows by 7
        expect = (40.0 + 18, 30.0 - 7)
    np.testing.assert_allclose(xy, expect, atol=0.05)


def test_predict_png_cache_with_list_and_onnx_engine(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from echomark.cache.writer import CacheWriter, zip_folder
    from echomark.predict.export import export_onnx

    w = CacheWriter(tmp_path / "c")
    rng = np.random.default_rng(0)
    keys = [ImageKey("01", "e" * 64, i) for i in range(3)]
    for k in keys:
        w.write(k, rng.integers(0, 255, (90, 120), dtype=np.uint8))
    zip_path = tmp_path / "png-cache.zip"
    zip_folder(tmp_path / "c" / "png-cache", zip_path)
    lst = tmp_path / "lst.txt"
    lst.write_text(keys[0].name + "\n" + keys[2].name + "\n")
    onnx_path = export_onnx(ckpt, tmp_path / "m.onnx")
    rc = main(["predict", str(zip_path), "--checkpoint", str(ckpt), "--out", str(tmp_path / "t"),
               "--list", str(lst), "--quiet"])  # fmt: skip
    assert rc == 0
    rc = main(["predict", str(zip_path), "--checkpoint", str(onnx_path), "--out",
               str(tmp_path / "o"), "--list", str(lst), "--quiet"])  # fmt: skip
    assert rc == 0
    a = read_labels(tmp_path / "t" / "predictions.json")
    b = read_labels(tmp_path / "o" / "predictions.json")
    assert list(a.images) == [keys[0].name, keys[2].name] == list(b.images)
    for key in a.images:
        for name in CHANNELS:
            la, lb = a.images[key][name], b.images[key][name]
            assert la.state == lb.state
            if la.instances:
                np.testing.assert_allclose(la.xy, lb.xy, atol=1e-2)
    capsys.readouterr()
    assert main(["predict", str(zip_path), "--checkpoint", str(ckpt), "--out", str(tmp_path / "x"),
                 "--split", "ival"]) == 2  # fmt: skip
    assert "--labels" in capsys.readouterr().err


def test_presence_threshold_override_turns_weak_peaks_off() -> None:
    from echomark.errors import InputError
    from echomark.predict.api import with_presence_threshold

    spec = ModelSpec(("lv-apex-endo",), (LabelKind.POINT,), DataConfig(input_hw=(32, 32)))
    img = np.zeros((32, 32), np.uint8)
    frame = InputFrame(ImageKey("01", "d" * 64, 0).name, "v", 0, lambda: img)
    eng = PeakEngine((16.0, 16.0), 1, spec.codec.strides)  # peak height 0.9
    assert predict_frames([frame], eng, spec)[frame.key]["lv-apex-endo"].state is LabelState.POINT
    strict = with_presence_threshold(spec, 0.95)
    assert strict.codec.presence_threshold == 0.95 and spec.codec.presence_threshold != 0.95
    assert predict_frames([frame], eng, strict)[frame.key]["lv-apex-endo"].state is LabelState.OFF
    with pytest.raises(InputError):
        with_presence_threshold(spec, 1.5)


def test_tta_shift_override_runs_nine_passes_or_one(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from echomark.errors import InputError
    from echomark.predict.api import with_tta_shift

    spec = ModelSpec(("lv-apex-endo",), (LabelKind.POINT,), DataConfig(input_hw=(32, 32)))
    assert with_tta_shift(spec, None) is spec
    assert with_tta_shift(spec, 8).data.tta_shift_px == 8 and spec.data.tta_shift_px == 0
    with pytest.raises(InputError, match="--tta-shift"):
        with_tta_shift(spec, 6)  # not a multiple of stride 4
    args = ["predict", str(DICOM), "--checkpoint", str(ckpt), "--frames", "0", "--no-ocr"]
    one = tmp_path / "one"
    nine = tmp_path / "nine"
    assert main([*args, "--out", str(one), "-q"]) == 0
    assert main([*args, "--tta-shift", "16", "--out", str(nine), "-q"]) == 0
    a = read_labels(one / "predictions.json").images
    b = read_labels(nine / "predictions.json").images
    assert list(a) == list(b)
    # a random net is not shift-invariant: averaging nine passes changes its answer
    key = next(iter(a))
    assert any(
        a[key][n].state is not b[key][n].state
        or (
            a[key][n].instances
            and (
                a[key][n].xy.shape != b[key][n].xy.shape
                or not np.allclose(a[key][n].xy, b[key][n].xy)
            )
        )
        for n in CHANNELS
    )
    assert main([*args, "--tta-shift", "6", "--out", str(tmp_path / "bad")]) == 2
    assert "--tta-shift" in capsys.readouterr().err
