import csv
import json
import warnings
import zipfile

import pydicom
import pytest
from pydicom.data import get_testdata_file

from echomark.cache.physical import read_physical_csv
from echomark.cache.store import open_store
from echomark.cache.verify import verify_store
from echomark.cli.main import main
from echomark.dicom.curate import MANIFEST_COLUMNS, CurateOptions, Outcome, curate

#: Every ultrasound file of pydicom 3.0.2 + pydicom-data 1.0.0.
US_NAMES = [
    "JPGLosslessP14SV1_1s_1f_8b", "OBXXXX1A", "OBXXXX1A_2frame", "OBXXXX1A_expb",
    "OBXXXX1A_expb_2frame", "OBXXXX1A_rle", "OBXXXX1A_rle_2frame", "US1_J2KI", "US1_J2KR",
    "US1_UNCI", "US1_UNCR", "color-pl", "color-px", "color3d_jpeg_baseline",
    "gdcm-US-ALOKA-16", "gdcm-US-ALOKA-16_big", "ExplVR_BigEnd", "examples_jpeg2k",
    "examples_palette", "examples_rgb_color", "examples_ybr_color",
]  # fmt: skip
NOT_US = ["CT_small", "liver"]  # CT image, SEG (not an ultrasound image)


def _png_chunks(data):
    pos, types = 8, []
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 4], "big")
        types.append(data[pos + 4 : pos + 8])
        pos += 12 + n
    return types


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pdd")
    (tmp / "notes.txt").write_text("not a DICOM file")
    srcs = [get_testdata_file(n + ".dcm") for n in US_NAMES + NOT_US] + [str(tmp / "notes.txt")]
    out = tmp / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # OCR is exercised on synthetic PHI and one real file below; here it would add ~20 s.
        res = curate(srcs, CurateOptions("01", out, ocr=False, zip=True))
    by_name = {r.path.rsplit("/", 1)[-1][:-4]: r for r in res.files}
    return res, by_name, out


def test_every_ultrasound_file_is_curated_others_skipped_with_reason(run):
    res, by_name, _ = run
    for name in US_NAMES:
        assert by_name[name].outcome in (Outcome.CURATED, Outcome.DUPLICATE), by_name[name]
    assert by_name["examples_jpeg2k"].outcome is Outcome.DUPLICATE  # same bytes as US1_J2KR
    assert by_name["examples_jpeg2k"].code == by_name["US1_J2KR"].code
    assert "not an ultrasound image" in by_name["CT_small"].reason
    assert by_name["liver"].outcome is Outcome.SKIPPED
    assert by_name["notes"].reason == "not a DICOM file"
    assert not res.failed


def test_output_opens_and_verifies(run, capsys):
    res, by_name, out = run
    store = open_store(out / "png-cache.zip")
    videos = store.videos()
    assert len(videos) == len(US_NAMES) - 1
    assert len(store) == res.frames_written == sum(len(f) for f in videos.values())
    assert verify_store(store) == []
    assert main(["cache", "verify", str(out / "png-cache.zip")]) == 0
    assert main(["cache", "verify", str(out)]) == 0
    cine = by_name["color3d_jpeg_baseline"].code
    assert len(videos[store.keys()[0].video.parse(cine)]) == 120
    assert store.read(f"{cine}-0119.png").shape == (480, 640)  # grey echo stays grey
    assert store.read(by_name["US1_UNCR"].code + "-0000.png").shape == (480, 640, 3)  # Doppler
    with zipfile.ZipFile(out / "png-cache.zip") as zf:
        for info in zf.infolist():
            assert set(_png_chunks(zf.read(info))) == {b"IHDR", b"IDAT", b"IEND"}, info.filename


def test_manifest_calibration_and_masking(run):
    _, by_name, out = run
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert tuple(rows[0]) == MANIFEST_COLUMNS and len(rows) == len(US_NAMES) - 1
    row = {r["code"]: r for r in rows}
    lossless = row[by_name["JPGLosslessP14SV1_1s_1f_8b"].code]
    assert lossless["mask_method"] == "regions" and lossless["calibration_units"] == "cm"
    assert lossless["manufacturer"] == "Philips Medical Systems"
    cal = read_physical_csv(out / "01_database_physical.csv")
    assert cal[by_name["JPGLosslessP14SV1_1s_1f_8b"].code].dx_cm_per_px == 0.025476696592378157
    assert cal[by_name["color3d_jpeg_baseline"].code].dy_cm_per_px == pytest.approx(0.05104970559)
    assert cal[by_name["OBXXXX1A"].code].dx_cm_per_px == pytest.approx(0.0262287877)
    # the FrameTime column carries each cine's frame time for measure (ms)
    from echomark.workflows.measure import load_calibration

    loaded = load_calibration(str(out / "01_database_physical.csv"), None)
    assert loaded is not None
    assert loaded.frame_times_s[by_name["color3d_jpeg_baseline"].code] == pytest.approx(0.033333)
    # Regions that do not fit the pixel matrix: no spacing, masking falls back.
    for name, method in (("examples_ybr_color", "motion"), ("examples_palette", "fan")):
        code = by_name[name].code
        assert code not in cal
        assert row[code]["mask_method"] == method
        assert "does not fit" in row[code]["calibration_note"]
        rec = json.loads((out / "curate" / "records" / f"{code}.json").read_text())
        assert any("does not fit" in n for n in rec["mask"]["notes"])
    assert row[by_name["US1_UNCR"].code]["mask_method"] == "fan"  # no regions, a still


def test_no_header_identifiers_in_any_output(run):
    _, _, out = run
    secrets = set()
    for name in US_NAMES:
        ds = pydicom.dcmread(get_testdata_file(name + ".dcm"), stop_before_pixels=True)
        for kw in ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "InstitutionName",
                   "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "AccessionNumber"):  # fmt: skip
            value = str(ds.get(kw, "") or "")
            if len(value) >= 6:
                secrets.add(value)
    assert len(secrets) > 10
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json"):
            text = path.read_text()
            assert not [s for s in secrets if s in text], path


def test_ocr_masks_burnt_in_text_inside_the_scan_region(tmp_path):
    pytest.importorskip("rapidocr")
    from echomark.dicom.ocr import read_text

    src = get_testdata_file("JPGLosslessP14SV1_1s_1f_8b.dcm")
    res = curate([src], CurateOptions("01", tmp_path, ocr=True))
    code = res.files[0].code
    rec = json.loads((tmp_path / "curate" / "records" / f"{code}.json").read_text())
    assert rec["mask"]["method"] == "regions" and rec["mask"]["text_rects"]
    frame = open_store(tmp_path).read(code + "-0000.png")
    # The caliper label "Asc Ao Diam 3.3 cm" lies inside the 2-D region: OCR must blank it.
    assert not [t for t in read_text(frame) if "Diam" in t or "Asc" in t]


def test_dicomdir_expands_and_non_ultrasound_is_skipped(tmp_path, capsys):
    rc = main(["curate", get_testdata_file("DICOMDIR"), "--out", str(tmp_path), "--no-ocr",
               "--json"])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0 and summary["curated"] == 0 and summary["skipped"] > 10
    assert (tmp_path / "manifest.csv").read_text().count("\n") == 1  # header only
