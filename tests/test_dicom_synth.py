import numpy as np
import pydicom
import pytest

from echomark.dicom.read import iter_frames, make_recipe, read_header
from echomark.synth.dicom import FakePHI, Regions, synth_us_dataset, write_us_dicom


def test_header_holds_fake_phi_and_fitting_regions(tmp_path):
    phi = FakePHI()
    p = write_us_dicom(tmp_path / "s.dcm", seed=1, phi=phi, frames=4)
    ds = pydicom.dcmread(p)
    assert str(ds.PatientName) == phi.patient_name and ds.PatientID == phi.patient_id
    assert ds.PatientBirthDate == phi.birth_date and ds.InstitutionName == phi.institution
    assert ds.Modality == "US" and int(ds.NumberOfFrames) == 4
    reg = ds.SequenceOfUltrasoundRegions[0]
    assert 0 <= reg.RegionLocationMinX0 < reg.RegionLocationMaxX1 < ds.Columns
    assert 0 <= reg.RegionLocationMinY0 < reg.RegionLocationMaxY1 < ds.Rows
    assert ds.pixel_array.shape == (4, 240, 320)


def test_seeded_bytes_and_fresh_uids(tmp_path):
    a = write_us_dicom(tmp_path / "a.dcm", seed=5, frames=2).read_bytes()
    b = write_us_dicom(tmp_path / "b.dcm", seed=5, frames=2).read_bytes()
    c = write_us_dicom(tmp_path / "c.dcm", seed=6, frames=2)
    assert a == b
    rle = [write_us_dicom(tmp_path / f"r{i}.dcm", seed=5, frames=2, rle=True) for i in (0, 1)]
    assert rle[0].read_bytes() == rle[1].read_bytes()  # compression keeps the seeded UID
    assert (
        pydicom.dcmread(rle[0]).SOPInstanceUID == pydicom.dcmread(tmp_path / "a.dcm").SOPInstanceUID
    )
    assert pydicom.dcmread(c).SOPInstanceUID != pydicom.dcmread(tmp_path / "a.dcm").SOPInstanceUID


def test_variants_rle_colour_misfit_none(tmp_path):
    ds = synth_us_dataset(seed=2, frames=3, rle=True, colour_box=True, regions=Regions.MISFIT)
    p = tmp_path / "v.dcm"
    ds.save_as(p, enforce_file_format=True)
    hdr = read_header(p)
    assert hdr.file_meta.TransferSyntaxUID.name == "RLE Lossless"
    frames = list(iter_frames(p, hdr, make_recipe(hdr, str(p)), [0, 2]))
    assert frames[0].shape == (240, 320, 3)
    assert hdr.SequenceOfUltrasoundRegions[0].RegionLocationMaxX1 >= 320  # does not fit
    assert "SequenceOfUltrasoundRegions" not in synth_us_dataset(seed=2, frames=1, regions="none")


def test_burnt_in_phi_is_readable_by_ocr_in_the_input():
    pytest.importorskip("rapidocr")
    from echomark.dicom.ocr import read_text

    phi = FakePHI()
    ds = synth_us_dataset(seed=3, frames=1, phi=phi)
    text = " ".join(read_text(ds.pixel_array)).upper()
    # Both copies (header bar and inside the sector) are there: the check in the curation
    # tests that OCR finds none of it in the outputs is meaningful.
    assert text.count(phi.family) == 2 and text.count(phi.patient_id) == 2
    assert np.asarray(ds.pixel_array).dtype == np.uint8
