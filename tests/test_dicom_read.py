import importlib.util
import warnings

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from echomark.dicom import read as r
from echomark.errors import DicomError

# (file, frames, rows, cols, colour) for every ultrasound file in pydicom + pydicom-data.
US_FILES = [
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", 1, 768, 1024, False),  # JPEG Lossless SV1 via gdcm
    ("OBXXXX1A.dcm", 1, 600, 800, True),  # PALETTE COLOR, explicit LE
    ("OBXXXX1A_expb_2frame.dcm", 2, 600, 800, True),  # big endian
    ("OBXXXX1A_rle_2frame.dcm", 2, 600, 800, True),  # RLE
    ("US1_J2KI.dcm", 1, 480, 640, True),  # JPEG 2000 lossy, YBR_ICT
    ("US1_J2KR.dcm", 1, 480, 640, True),  # JPEG 2000 lossless, YBR_RCT
    ("US1_UNCR.dcm", 1, 480, 640, True),  # RGB native
    ("color-px.dcm", 1, 120, 256, True),
    ("gdcm-US-ALOKA-16_big.dcm", 1, 480, 640, True),  # 16-bit palette LUT, big endian
    ("ExplVR_BigEnd.dcm", 1, 60, 80, True),
    ("examples_ybr_color.dcm", 30, 240, 320, True),  # JPEG Baseline YBR_FULL_422 cine
]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize(("name", "frames", "rows", "cols", "colour"), US_FILES)
def test_every_ultrasound_file_decodes_to_uint8(name, frames, rows, cols, colour):
    path = get_testdata_file(name)
    ds = r.read_header(path)
    assert r.frame_count(ds) == frames
    recipe = r.make_recipe(ds, path)
    last = frames - 1
    imgs = list(r.iter_frames(path, ds, recipe, [0, last] if last else [0]))
    shape = (rows, cols, 3) if colour else (rows, cols)
    assert all(i.dtype == np.uint8 and i.shape == shape for i in imgs)
    assert imgs[0].max() > 100  # real content, not a blank decode
    grey = next(r.iter_frames(path, ds, recipe, [0], grey=True))
    assert grey.shape == (rows, cols)


def test_ybr_luma_matches_rgb_grey():
    path = get_testdata_file("examples_ybr_color.dcm")
    ds = r.read_header(path)
    recipe = r.make_recipe(ds, path)
    rgb = next(r.iter_frames(path, ds, recipe, [3]))
    luma = next(r.iter_frames(path, ds, recipe, [3], grey=True))
    diff = np.abs(r.rgb_to_grey(rgb).astype(int) - luma)
    # Equal up to rounding, except where YBR -> RGB clips saturated chroma.
    assert diff.mean() < 0.5 and diff.max() <= 8


def test_pinned_decoders_and_palette_shift():
    assert r.decoder_for("1.2.840.10008.1.2.4.50") == "pillow"
    assert r.decoder_for("1.2.840.10008.1.2.4.70") == "gdcm"
    ds = r.read_header(get_testdata_file("gdcm-US-ALOKA-16.dcm"))
    assert r.make_recipe(ds, "x").palette_shift == 8  # 16-bit LUT values
    ds = r.read_header(get_testdata_file("OBXXXX1A.dcm"))
    assert r.make_recipe(ds, "x").palette_shift == 8


def test_missing_decoder_is_a_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "gdcm" else real(n, *a)
    )
    path = get_testdata_file("JPGLosslessP14SV1_1s_1f_8b.dcm")
    with pytest.raises(DicomError, match=r"no decoder for JPEG Lossless.*gdcm"):
        r.make_recipe(r.read_header(path), path)


def test_skips_non_ultrasound_non_image_and_non_dicom(tmp_path):
    with pytest.raises(r.SkipFile) as e:
        r.read_header(get_testdata_file("CT_small.dcm"))
    assert e.value.reason is r.SkipReason.NOT_ULTRASOUND and "CT" in str(e.value)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(r.SkipFile) as e:
        r.read_header(txt)
    assert e.value.reason is r.SkipReason.NOT_DICOM
    with pytest.raises(r.SkipFile) as e:
        r.read_header(get_testdata_file("DICOMDIR"))
    assert e.value.reason is r.SkipReason.DICOMDIR


def test_find_inputs_folders_and_dicomdir(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.dcm").write_bytes(b"x")
    (tmp_path / "a" / "y.dcm").write_bytes(b"y")
    (tmp_path / "a" / ".hidden").write_bytes(b"h")
    got = r.find_inputs([tmp_path / "a", tmp_path / "a" / "y.dcm"])
    assert [p.name for p in got] == ["x.dcm", "y.dcm"]  # sorted, hidden and repeats dropped
    refs = r.find_inputs([get_testdata_file("DICOMDIR")])
    assert len(refs) > 10 and all(p.is_file() for p in refs)
    with pytest.raises(DicomError, match="no such file"):
        r.find_inputs([tmp_path / "missing"])


def test_frame_time():
    ds = r.read_header(get_testdata_file("examples_ybr_color.dcm"))
    assert r.frame_time_ms(ds) == pytest.approx(33.333)


def test_video_transfer_syntax_is_a_clear_error(tmp_path):
    from echomark.synth.dicom import synth_us_dataset

    ds = synth_us_dataset(seed=1, frames=1)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.102"  # MPEG-4 AVC/H.264
    with pytest.raises(DicomError, match="video codec"):
        r.make_recipe(ds, "clip.dcm")


@pytest.mark.parametrize("deep", [False, True])
def test_sampled_recipe_matches_file_recipe_and_iter_frames(tmp_path, deep):
    from echomark.synth.dicom import synth_us_dataset

    ds = synth_us_dataset(seed=3, frames=20, rows=60, cols=80)
    if deep:  # 12-bit grey: the grey range comes from the sample frames
        ds.PixelData = (ds.pixel_array.astype(np.uint16) * 16 + 5).tobytes()
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    path = tmp_path / "x.dcm"
    ds.save_as(path, enforce_file_format=True)
    hdr = r.read_header(path)
    recipe, frames = r.sampled_recipe(path, hdr)
    assert recipe == r.file_recipe(path, hdr)
    assert (recipe.grey_lo >= 5.0 and recipe.grey_hi > 255.0) if deep else recipe.grey_hi == 255.0
    idx = r.sample_indices(20)
    expected = list(r.iter_frames(path, hdr, recipe, idx))
    assert len(frames) == len(idx) == 16
    assert all(
        np.array_equal(a, b) and a.dtype == np.uint8 for a, b in zip(frames, expected, strict=True)
    )


def test_is_dicom_file_by_name_or_magic(tmp_path):
    from echomark.dicom.read import is_dicom_file
    from echomark.synth.dicom import write_us_dicom

    no_suffix = write_us_dicom(tmp_path / "scan", seed=1, frames=1)
    assert is_dicom_file(no_suffix)  # by the DICM magic at byte 128
    (tmp_path / "empty.DCM").write_bytes(b"")
    assert is_dicom_file(tmp_path / "empty.DCM")  # by name; read_header judges it later
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    assert not is_dicom_file(tmp_path / "a.png")
    assert not is_dicom_file(tmp_path / "missing")
