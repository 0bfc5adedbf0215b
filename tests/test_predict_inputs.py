import zipfile
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from echomark.cache.keys import ImageKey
from echomark.cache.png import encode_png
from echomark.cache.writer import CacheWriter
from echomark.data.config import DataConfig, ResizeMode
from echomark.dicom.memory import ADHOC_CLASS, curate_in_memory, parse_frames
from echomark.errors import InputError
from echomark.predict.inputs import collect_frames
from echomark.predict.predictor import prepare_input, to_channels

HEX = "c" * 64


def test_parse_frames_forms_and_errors() -> None:
    assert parse_frames("2:5", 10) == [2, 3, 4]
    assert parse_frames("-2:", 10) == [8, 9]
    with pytest.raises(InputError):
        parse_frames("3,12", 10)
    with pytest.raises(InputError):
        parse_frames("a:b", 10)


def test_dicom_ybr_jpeg_cine_decodes_masked_in_the_order_asked() -> None:
    path = Path(get_testdata_file("color3d_jpeg_baseline.dcm"))
    cine = curate_in_memory(path, frames="2,0,2", ocr=False)
    assert list(cine.frames) == [2, 0]
    frame = cine.frames[0]
    assert frame.shape[:2] == (480, 640) and frame.dtype == np.uint8
    # masked as curation masks: the header band above the sector is blanked
    assert frame[:5].max() == 0 and frame.max() > 100
    with pytest.raises(InputError, match="out of range"):
        curate_in_memory(path, frames=[120], ocr=False)


def test_collect_dicom_frames_keys_hide_the_file_name(tmp_path: Path) -> None:
    src = Path(get_testdata_file("color3d_jpeg_baseline.dcm"))
    named = tmp_path / "Doe^John.dcm"
    named.write_bytes(src.read_bytes())
    frames = collect_frames([named], frames="5:7")
    assert [f.index for f in frames] == [5, 6]
    key = ImageKey.parse(frames[0].key)
    assert key.dataset_class == ADHOC_CLASS and key.frame == 5
    assert "Doe" not in frames[0].key
    assert frames[0].neighbour is not None
    assert frames[0].neighbour(1) is not None and frames[0].neighbour(5) is None


def test_collect_store_zip_with_key_list(tmp_path: Path) -> None:
    w = CacheWriter(tmp_path / "c")
    for i in range(3):
        w.write(ImageKey("01", HEX, i), np.full((20, 30), i * 10, np.uint8))
    frames = collect_frames([tmp_path / "c"], keys=[ImageKey("01", HEX, 2).name])
    assert [f.index for f in frames] == [2]
    assert int(frames[0].load()[0, 0]) == 20
    assert frames[0].neighbour is not None
    assert int(frames[0].neighbour(-1)[0, 0]) == 10  # type: ignore[index]
    with pytest.raises(InputError, match="not in the png-cache"):
        collect_frames([tmp_path / "c"], keys=[ImageKey("01", HEX, 9).name])


def test_collect_png_files_and_folder(tmp_path: Path) -> None:
    (tmp_path / "pngs").mkdir()
    (tmp_path / "pngs" / "scan.png").write_bytes(encode_png(np.zeros((8, 8), np.uint8)))
    (tmp_path / "pngs" / ImageKey("02", HEX, 1).name).write_bytes(
        encode_png(np.zeros((8, 8, 3), np.uint8))
    )
    frames = collect_frames([tmp_path / "pngs"])
    keys = sorted(f.key for f in frames)
    assert keys[0].startswith("00-") and keys[1] == ImageKey("02", HEX, 1).name
    with pytest.raises(InputError):
        collect_frames([tmp_path / "missing.png"])
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InputError):
        collect_frames([tmp_path / "x.txt"])
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("readme.txt", "nothing")
    assert collect_frames([bad]) == []


def test_to_channels_and_prepare_input_letterbox() -> None:
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 255
    assert int(to_channels(rgb, 1)[0, 0, 0]) == 76  # BT.601 luma of pure red
    from echomark.predict.inputs import InputFrame

    img = np.full((100, 200), 255, np.uint8)
    f = InputFrame("k", "v", 0, lambda: img)
    x, m, src_hw = prepare_input(f, DataConfig(input_hw=(64, 64), resize=ResizeMode.LETTERBOX))
    assert x.shape == (1, 64, 64) and x.dtype == np.float32 and src_hw == (100, 200)
    assert x.max() == pytest.approx(0.5) and x.min() == pytest.approx(-0.5)
    assert m[0, 0] == pytest.approx(64 / 200)
    x3, _, _ = prepare_input(f, DataConfig(input_hw=(64, 64), in_channels=3, frame_offsets=(-1, 0)))
    assert x3.shape == (6, 64, 64)
    assert np.all(x3[:3] == -0.5)  # no neighbour: zeros, as in training


def test_prepare_input_rejects_a_wrong_size_neighbour() -> None:
    from echomark.predict.inputs import InputFrame

    img = np.zeros((10, 12), np.uint8)
    f = InputFrame("k", "v", 0, lambda: img, lambda off: np.zeros((10, 13), np.uint8))
    cfg = DataConfig(input_hw=(8, 8), frame_offsets=(-1, 0))
    with pytest.raises(InputError, match="neighbour frame -1"):
        prepare_input(f, cfg)


def test_dicom_frames_are_the_pixels_curation_writes(tmp_path: Path) -> None:
    from echomark.cache.store import open_store
    from echomark.dicom.curate import CurateOptions, curate

    path = get_testdata_file("gdcm-US-ALOKA-16.dcm")  # 16-bit palette colour
    assert path is not None
    curate([path], CurateOptions("01", tmp_path / "cur"))  # curation's defaults (OCR on)
    store = open_store(tmp_path / "cur")
    (key,) = store.keys()
    (frame,) = collect_frames([path])  # predict's default (OCR on)
    assert frame.key == f"{ADHOC_CLASS}-{key.hex}-0000.png"
    np.testing.assert_array_equal(frame.load(), store.read(key))


def test_prepare_input_gives_the_training_input_bits() -> None:
    from echomark.predict.inputs import InputFrame

    img = np.arange(256, dtype=np.uint8).reshape(16, 16)
    x, m, _ = prepare_input(InputFrame("k", "v", 0, lambda: img), DataConfig(input_hw=(16, 16)))
    assert np.array_equal(m, np.eye(3))
    # EchoDataset's formula, bit for bit (x / 255 in float32 differs in 111 of 256 values).
    want = img.astype(np.float32) * np.float32(1 / 255) - np.float32(0.5)
    assert x.dtype == np.float32 and np.array_equal(x[0], want)
