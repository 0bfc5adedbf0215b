import math

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from echomark.cache.physical import calibration_from_mapping
from echomark.calibration import Calibration, CalibrationSource, UltrasoundRegion, distance_mm
from echomark.dicom.regions import calibration_from_dataset, region_fits, regions_from_dataset
from echomark.errors import CalibrationError


def _header(name: str) -> Dataset:
    return dcmread(get_testdata_file(name), stop_before_pixels=True)


def test_philips_adult_echo_caliper_reproduced():
    ds = _header("JPGLosslessP14SV1_1s_1f_8b.dcm")
    cal = calibration_from_dataset(ds)
    d_cm = distance_mm((629, 319), (689, 435), cal) / 10.0
    assert d_cm == pytest.approx(3.33, abs=0.01)
    assert cal.region is not None and cal.region.is_2d_cm


def test_philips_ob_caliper_reproduced():
    ds = _header("OBXXXX1A.dcm")
    regions = regions_from_dataset(ds)
    assert len(regions) == 2
    cal = calibration_from_dataset(ds)
    assert cal.region is not None and cal.region.index == 0  # the spectral strip is never used
    d_cm = distance_mm((459.5, 290.5), (498.5, 301.5), cal) / 10.0
    assert d_cm == pytest.approx(1.06, abs=0.01)


@pytest.mark.parametrize("name", ["examples_ybr_color.dcm", "examples_palette.dcm"])
def test_regions_that_do_not_fit_are_refused(name):
    ds = _header(name)
    with pytest.raises(CalibrationError, match="does not fit"):
        calibration_from_dataset(ds)


def test_largest_of_several_fitting_regions():
    ds = _header("gdcm-US-ALOKA-16.dcm")
    cal = calibration_from_dataset(ds)
    assert cal.dx_mm_per_px == pytest.approx(0.3826530650258064)
    assert all(region_fits(r, int(ds.Rows), int(ds.Columns)) for r in regions_from_dataset(ds))


def _region_item(**kw):
    item = Dataset()
    defaults = dict(
        RegionLocationMinX0=0, RegionLocationMinY0=0, RegionLocationMaxX1=99,
        RegionLocationMaxY1=49, RegionSpatialFormat=1, RegionDataType=1,
        PhysicalUnitsXDirection=3, PhysicalUnitsYDirection=3,
        PhysicalDeltaX=0.02, PhysicalDeltaY=0.03,
    )  # fmt: skip
    defaults.update(kw)
    for k, v in defaults.items():
        setattr(item, k, v)
    return item


def _ds(*items, rows=50, cols=100):
    ds = Dataset()
    ds.Rows, ds.Columns = rows, cols
    if items:
        ds.SequenceOfUltrasoundRegions = list(items)
    return ds


def test_anisotropic_and_largest_choice():
    small = _region_item(RegionLocationMaxX1=9, RegionLocationMaxY1=9, PhysicalDeltaX=0.5)
    big = _region_item(PhysicalDeltaY=-0.03)  # negative delta: direction only
    cal = calibration_from_dataset(_ds(small, big))
    assert (cal.dx_mm_per_px, cal.dy_mm_per_px) == pytest.approx((0.2, 0.3))
    assert not cal.is_isotropic
    assert cal.source is CalibrationSource.DICOM_REGION and cal.origin == "dicom region 1"


def test_no_usable_region_raises():
    with pytest.raises(CalibrationError, match="no SequenceOfUltrasoundRegions"):
        calibration_from_dataset(_ds())
    spectral = _region_item(RegionSpatialFormat=3, PhysicalUnitsXDirection=4,
                            PhysicalUnitsYDirection=7)  # fmt: skip
    with pytest.raises(CalibrationError, match="2-D with cm"):
        calibration_from_dataset(_ds(spectral))
    with pytest.raises(CalibrationError, match="zero"):
        calibration_from_dataset(_ds(_region_item(PhysicalDeltaX=0.0)))


def test_region_fits_bounds():
    r = UltrasoundRegion(0, 0, 100, 50, 1, 1, 3, 3, 0.1, 0.1)
    assert region_fits(r, 50, 100)  # one past the last index is accepted
    assert not region_fits(r, 49, 100)
    assert not region_fits(UltrasoundRegion(-1, 0, 10, 10, 1, 1, 3, 3, 0.1, 0.1), 50, 100)
    assert not region_fits(UltrasoundRegion(20, 0, 10, 10, 1, 1, 3, 3, 0.1, 0.1), 50, 100)


@pytest.mark.parametrize("angle", np.linspace(0, math.pi, 7))
def test_distance_anisotropic_any_direction(angle):
    cal = Calibration(0.2, 0.5)
    # a 10 mm segment in physical space, mapped to pixels
    dx_mm, dy_mm = 10 * math.cos(angle), 10 * math.sin(angle)
    p = np.array([5.0, 7.0])
    q = p + np.array([dx_mm / 0.2, dy_mm / 0.5])
    assert distance_mm(p, q, cal) == pytest.approx(10.0)
    assert distance_mm(q, p, cal) == pytest.approx(10.0)


def test_calibration_validation_and_mapping():
    with pytest.raises(CalibrationError):
        Calibration(0.0, 0.1)

    key = "01-" + "a" * 64
    cal = calibration_from_mapping({key: Calibration(0.25, 0.5)}, key + "-0003.png")
    assert (cal.dx_mm_per_px, cal.dy_mm_per_px) == pytest.approx((0.25, 0.5))
    with pytest.raises(CalibrationError):
        calibration_from_mapping({}, key)


def test_synthetic_us_dicom_regions():
    synth_dicom = pytest.importorskip("echomark.synth.dicom")
    ok = synth_dicom.synth_us_dataset(frames=1, regions="fit", cm_per_px=0.04)
    cal = calibration_from_dataset(ok)
    assert (cal.dx_mm_per_px, cal.dy_mm_per_px) == pytest.approx((0.4, 0.4))
    with pytest.raises(CalibrationError, match="does not fit"):
        calibration_from_dataset(synth_dicom.synth_us_dataset(frames=1, regions="misfit"))
    with pytest.raises(CalibrationError, match="no SequenceOfUltrasoundRegions"):
        calibration_from_dataset(synth_dicom.synth_us_dataset(frames=1, regions="none"))
