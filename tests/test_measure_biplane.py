"""Biplane method of disks from the A4C and A2C videos of one synthetic study."""

import math

import pytest

from echomark.calibration import Calibration
from echomark.labels.schema import LabelFile
from echomark.labels.vocabulary import Measurement
from echomark.measure.pipeline import RowKind, biplane_volume_ml, measure_labels
from echomark.synth.cine import make_study


def _study_labels(seed: int):
    st = make_study(seed, n_frames=30, render=False)
    images, cals, views, studies = {}, {}, {}, {}
    for tag, cine in (("A4C", st.a4c), ("A2C", st.a2c)):
        video = f"01-{seed:02d}{tag.lower()}" + "0" * 59
        images.update({f"{video}-{f:04d}.png": lab for f, lab in cine.labels.items()})
        cals[video] = Calibration.from_cm_per_px(*cine.spacing_cm_per_px)
        views[video] = tag
        studies[video] = f"study-{seed}"
    return st, LabelFile(images=images), cals, views, studies


@pytest.mark.parametrize("seed", range(6))
def test_biplane_within_2_percent_of_the_analytic_3d_volume(seed: int) -> None:
    st, lf, cals, views, studies = _study_labels(seed)
    res = measure_labels(
        lf, cals, views=views, studies=studies, frame_time_s=st.a4c.frame_time_ms / 1000
    )
    got = {r.measurement: r for r in res.rows if r.kind is RowKind.STUDY}
    assert set(got) == {
        Measurement.LVEDV_biplane_disks,
        Measurement.LVESV_biplane_disks,
        Measurement.EF_biplane,
    }
    for name, key in ((Measurement.LVEDV_biplane_disks, "EDV"),
                      (Measurement.LVESV_biplane_disks, "ESV")):  # fmt: skip
        r = got[name]
        assert r.status.value == "ok", r.reasons
        assert r.value == pytest.approx(st.truth[f"{key}_true"][0], rel=0.02)  # the 3-D truth
        assert r.value == pytest.approx(st.truth[f"{key}_biplane"][0], rel=0.005)  # the method
    assert got[Measurement.EF_biplane].value == pytest.approx(st.truth["EF_true"][0], abs=1.0)
    assert got[Measurement.EF_biplane].study == f"study-{seed}"


def test_no_biplane_without_a_pair_and_the_formula() -> None:
    _, lf, cals, views, studies = _study_labels(0)
    a4c_only = {k: v for k, v in studies.items() if views[k] == "A4C"}
    res = measure_labels(lf, cals, views=views, studies=a4c_only)
    assert not [r for r in res.rows if r.kind is RowKind.STUDY]
    # two circles of diameter 40 mm over 80 mm: a cylinder, pi * 20^2 * 80 mm^3
    assert biplane_volume_ml([40.0] * 20, 80.0, [40.0] * 20, 70.0) == pytest.approx(
        math.pi * 400 * 80 / 1000
    )
