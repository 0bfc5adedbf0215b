import hashlib
import hmac

import pytest

from echomark.dicom.codes import KEY_ENV, bytes_code, file_code, load_code_key
from echomark.errors import ConfigError, InputError


def test_sha256_of_file_bytes(tmp_path):
    p = tmp_path / "a.dcm"
    p.write_bytes(b"DICM" * 1000)
    assert file_code(p) == hashlib.sha256(b"DICM" * 1000).hexdigest()
    assert len(file_code(p)) == 64


def test_keyed_code_is_hmac_and_differs(tmp_path):
    p = tmp_path / "a.dcm"
    p.write_bytes(b"pixels")
    key = b"0123456789abcdef-secret"
    assert file_code(p, key) == hmac.new(key, b"pixels", hashlib.sha256).hexdigest()
    assert file_code(p, key) != file_code(p)
    assert file_code(p, key) != file_code(p, key + b"x")
    assert bytes_code(b"pixels", key) == file_code(p, key)


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        file_code(tmp_path / "nope.dcm")


def test_load_key_from_file_env_and_too_short(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert load_code_key() is None
    kf = tmp_path / "key"
    kf.write_bytes(b"a-long-enough-secret\n")
    assert load_code_key(kf) == b"a-long-enough-secret"
    monkeypatch.setenv(KEY_ENV, "another-long-secret")
    assert load_code_key() == b"another-long-secret"
    assert load_code_key(kf) == b"a-long-enough-secret"  # the file wins
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        load_code_key()


def test_content_code_ignores_encoding_but_not_content(tmp_path):
    import pydicom
    from pydicom.uid import ImplicitVRLittleEndian

    from echomark.dicom.codes import content_code, file_code
    from echomark.synth.dicom import write_us_dicom

    a = write_us_dicom(tmp_path / "a.dcm", seed=3, frames=3)
    ds = pydicom.dcmread(a)
    # Re-encoded as a DIMSE peer might send it: other transfer syntax, a private tag, other meta.
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.file_meta.ImplementationVersionName = "OTHER_1"
    ds.add_new(0x00291010, "LO", "vendor private")
    ds.save_as(tmp_path / "b.dcm", enforce_file_format=True)
    assert file_code(a) != file_code(tmp_path / "b.dcm")
    assert content_code(a) == content_code(tmp_path / "b.dcm") == content_code(a.read_bytes())
    assert content_code(a, b"k" * 16) not in (content_code(a), file_code(a, b"k" * 16))
    # a changed pixel or a changed calibration is another video
    px = pydicom.dcmread(a)
    arr = px.pixel_array.copy()
    arr[0, 0, 0] ^= 1
    px.PixelData = arr.tobytes()
    px.save_as(tmp_path / "c.dcm", enforce_file_format=True)
    cal = pydicom.dcmread(a)
    cal.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = 0.051
    cal.save_as(tmp_path / "d.dcm", enforce_file_format=True)
    codes = {content_code(p) for p in (a, tmp_path / "c.dcm", tmp_path / "d.dcm")}
    assert len(codes) == 3


def test_content_code_of_encapsulated_frames_ignores_the_offset_table(tmp_path):
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.encaps import encapsulate, generate_frames

    from echomark.dicom.codes import content_code

    src = get_testdata_file("examples_ybr_color.dcm")
    ds = pydicom.dcmread(src)
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    ds.PixelData = encapsulate(frames, has_bot=False)  # the original has a full table
    ds.save_as(tmp_path / "bot.dcm", enforce_file_format=True)
    assert pydicom.dcmread(tmp_path / "bot.dcm").PixelData != pydicom.dcmread(src).PixelData
    assert content_code(src) == content_code(tmp_path / "bot.dcm")


def test_one_folder_never_mixes_code_sources(tmp_path):
    import pytest

    from echomark.dicom.codes import CodeSource
    from echomark.dicom.curate import CurateOptions, curate
    from echomark.errors import ConfigError
    from echomark.synth.dicom import write_us_dicom

    src = str(write_us_dicom(tmp_path / "a.dcm", seed=4, frames=2))
    out = tmp_path / "out"
    curate([src], CurateOptions("01", out, ocr=False, code_source=CodeSource.CONTENT))
    with pytest.raises(ConfigError, match="has codes from the content; this run would take"):
        curate([src], CurateOptions("01", out, ocr=False))
