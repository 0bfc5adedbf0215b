"""The measurement vocabulary: complete, consistent, no aliases."""

import pytest

from echomark.errors import InputError
from echomark.labels.registry import View
from echomark.labels.vocabulary import (
    VOCABULARY,
    Measurement,
    Phase,
    apical,
    at_phase,
    parse,
    spec,
)


def test_every_measurement_has_one_spec_with_sane_ranges() -> None:
    assert list(VOCABULARY) == list(Measurement)
    for m, s in VOCABULARY.items():
        assert s.name is m and s.unit and s.definition and s.limits_source
        lo, hi = s.limits
        assert lo < hi
        if s.normal is not None:
            # a normal range lies inside the hard limits and has a source
            assert lo < s.normal[0] < s.normal[1] < hi and s.normal_source
        if s.phase in (Phase.ED, Phase.ES) and s.frame_series is not None:
            assert VOCABULARY[s.frame_series].phase is Phase.FRAME
            assert VOCABULARY[s.frame_series].unit == s.unit


def test_names_say_method_and_view() -> None:
    assert spec("EF_biplane").normal == (52.0, 74.0)
    assert spec("LVEDV_A4C_disks").normal is None  # single plane: no ASE range
    assert "not speckle" in spec("GLS_A4C_endocardial_contour").definition
    assert spec("LVIDd").code == (
        "LN",
        "29436-3",
        "Left ventricle internal end diastolic dimension",
    )
    assert at_phase(Measurement.LVID, Phase.ED) is Measurement.LVIDd
    assert at_phase(Measurement.LV_volume_A2C_disks, Phase.ES) is Measurement.LVESV_A2C_disks
    assert apical("LVEDV_{v}_disks", View.A2C) is Measurement.LVEDV_A2C_disks
    assert all(View.A3C not in s.views for s in VOCABULARY.values())


@pytest.mark.parametrize("bad", ["EF", "LVEDV", "lvidd", "LV_volume"])
def test_no_aliases(bad: str) -> None:
    with pytest.raises(InputError, match="unknown measurement"):
        parse(bad)
