import math

import numpy as np
import pytest

from echomark.measure.agreement import (
    IccKind,
    agreement,
    bland_altman_plot,
    consensus,
    icc,
    raters_vs_consensus,
)

# Shrout & Fleiss (1979) Table 2: 6 targets rated by 4 judges; their Table 4 gives
# ICC(1,1) .17, ICC(2,1) .29, ICC(3,1) .71, ICC(1,4) .44, ICC(2,4) .62, ICC(3,4) .91.
SF = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float
)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("ICC(1,1)", 0.17), ("ICC(2,1)", 0.29), ("ICC(3,1)", 0.71),
     ("ICC(1,k)", 0.44), ("ICC(2,k)", 0.62), ("ICC(3,k)", 0.91)],
)  # fmt: skip
def test_icc_shrout_fleiss(kind, expected):
    assert icc(SF, kind) == pytest.approx(expected, abs=0.005)


def test_icc_edge_cases():
    assert icc([[1, 1], [2, 2], [3, 3]]) == pytest.approx(1.0)
    # a constant offset lowers absolute agreement (2,1) but not consistency (3,1)
    x = np.array([[1, 3], [2, 4], [3, 5], [4, 6.0]])
    assert icc(x, IccKind.ICC3_1) == pytest.approx(1.0)
    # hand: MSR = 2*var_rows... rows means 2,3,4,5 -> SSR = 2*5 = 10, MSR = 10/3;
    # MSC = 4*((2.5-3.5)^2+(4.5-3.5)^2)/1 = 8; MSE = 0 -> (10/3)/((10/3)+2*8/4)
    assert icc(x, "ICC(2,1)") == pytest.approx((10 / 3) / (10 / 3 + 4))
    assert math.isnan(icc([[1, 2], [np.nan, 3]]))
    with pytest.raises(ValueError):
        icc([1, 2, 3])


def test_agreement_hand_checked():
    test = [11.0, 12.0, 13.0, 16.0, np.nan]
    ref = [10.0, 12.0, 14.0, 14.0, 3.0]
    a = agreement(test, ref, unit="mm")
    # differences 1, 0, -1, 2: mean 0.5, SD sqrt(5/3)
    assert a.n == 4
    assert a.bias == pytest.approx(0.5)
    assert a.sd_diff == pytest.approx(math.sqrt(5 / 3))
    assert a.loa_high == pytest.approx(0.5 + 1.96 * math.sqrt(5 / 3))
    assert a.mae == pytest.approx(1.0)
    assert a.rmse == pytest.approx(math.sqrt(6 / 4))
    assert a.icc_kind == "ICC(2,1)"
    assert a.as_dict()["unit"] == "mm"
    empty = agreement([np.nan], [1.0])
    assert empty.n == 0 and empty.as_dict()["bias"] is None


def test_consensus_and_raters():
    x = np.array([[10.0, 12.0, 14.0], [20.0, 20.0, np.nan], [5.0, 7.0, 6.0], [8, 9, 13]])
    assert consensus(x)[:2].tolist() == [12.0, 20.0]
    loo = raters_vs_consensus(x, unit="mm")
    assert len(loo) == 3
    # rater 0 vs mean of raters 1, 2: refs 13, 20, 6.5, 11 -> diffs -3, 0, -1.5, -3
    assert loo[0].bias == pytest.approx(-7.5 / 4)
    incl = raters_vs_consensus(x, leave_one_out=False)
    assert abs(incl[0].bias) < abs(loo[0].bias)


def test_bland_altman_png(tmp_path):
    rng = np.random.default_rng(0)
    ref = rng.normal(45, 5, 30)
    out = bland_altman_plot(
        {"LVIDd": (ref + rng.normal(0.5, 1, 30), ref, "mm"), "IVSd": ([1.0], [2.0], "mm")},
        tmp_path / "ba.png",
    )
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert [p.name for p in tmp_path.iterdir()] == ["ba.png"]


def test_rater_study_on_measured_label_files():
    from echomark.calibration import Calibration
    from echomark.labels.schema import Label, LabelFile
    from echomark.measure.pipeline import measure_labels
    from echomark.measure.raters import rater_study

    cal = Calibration(1.0, 1.0)
    names = ["lv-ivs-top", "lv-ivs-bottom", "lv-pw-top", "lv-pw-bottom"]

    def lf(lvids):
        images = {}
        for i, lvid in enumerate(lvids):
            ys = np.cumsum([5.0, 10.0, lvid, 9.0])
            images[f"01-{'9' * 64}-{i:04d}.png"] = {
                n: Label.point(30.0, y) for n, y in zip(names, ys, strict=True)
            }
        return LabelFile(images=images)

    truth = np.array([40.0, 45.0, 50.0, 55.0])
    raters = {
        "a": measure_labels(lf(truth + 1.0), cal),
        "b": measure_labels(lf(truth - 1.0), cal),
        "c": measure_labels(lf(truth + np.array([0.0, 2.0, 0.0, -2.0])), cal),
    }
    model = measure_labels(lf(truth + 0.5), cal)
    study = rater_study(raters, "LVID", model=model)
    assert study.n_targets == 4
    # consensus = truth + [0, 2/3, 0, -2/3]; model - consensus = 0.5 - that
    assert study.model.bias == pytest.approx(0.5)
    assert study.model.mae == pytest.approx((0.5 + 1 / 6 + 0.5 + 7 / 6) / 4)
    # rater a vs mean(b, c) = truth + [-0.5, 0.5, -0.5, -1.5] -> differences 1.5, 0.5, 1.5, 2.5
    assert study.raters["a"].bias == pytest.approx(1.5)
    assert 0.9 < study.icc_raters < 1.0
