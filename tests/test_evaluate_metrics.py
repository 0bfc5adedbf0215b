import math

import numpy as np
import pytest

from echomark.evaluate.evaluation import (
    compare_label,
    compare_labels,
    json_safe,
    summarise,
    summarise_group,
)
from echomark.evaluate.metrics import (
    PresenceCounts,
    compare_curves,
    nearest_point_errors,
    pck,
    point_error,
    presence_counts,
    summarise_errors,
)
from echomark.labels.schema import Label

KEY_A = "01-" + "a" * 64 + "-0000.png"
KEY_B = "01-" + "b" * 64 + "-0003.png"


def test_point_error_px_and_anisotropic_mm() -> None:
    assert point_error([10, 20], [13, 24]) == 5.0
    # dx scales columns, dy rows: (3 * 2, 4 * 0.5) = (6, 2)
    assert point_error([10, 20], [13, 24], mm_per_px=(2.0, 0.5)) == pytest.approx(math.hypot(6, 2))


def test_nearest_point_errors_match_each_truth_to_closest() -> None:
    np.testing.assert_allclose(nearest_point_errors([[0, 0], [5, 5]], [[5, 6], [1, 0]]), [1, 1])


@pytest.mark.parametrize(
    ("errors", "median", "mean", "p90", "pck2", "pck4", "pck8"),
    [
        ([1.0, 2.0, 3.0, 10.0], 2.5, 4.0, 7.9, 0.5, 0.75, 0.75),
        ([0.0], 0.0, 0.0, 0.0, 1.0, 1.0, 1.0),
        ([4.0, 4.0, float("nan")], 4.0, 4.0, 4.0, 0.0, 1.0, 1.0),
    ],
)
def test_summarise_errors_golden(
    errors: list[float],
    median: float,
    mean: float,
    p90: float,
    pck2: float,
    pck4: float,
    pck8: float,
) -> None:
    s = summarise_errors(errors)
    assert (s.median, s.mean) == (median, mean)
    assert s.p90 == pytest.approx(p90)
    assert (s.pck[2.0], s.pck[4.0], s.pck[8.0]) == (pck2, pck4, pck8)


def test_summarise_empty_is_nan_not_error() -> None:
    s = summarise_errors([])
    assert s.n == 0 and math.isnan(s.median) and math.isnan(s.pck[4.0])
    assert math.isnan(pck([], 2.0))


def test_presence_counts_and_rates() -> None:
    c = presence_counts(
        [(True, True), (True, True), (True, False), (False, False), (False, True), (None, True)]
    )
    assert c == PresenceCounts(tp=2, fn=1, tn=1, fp=1)
    assert c.sensitivity == pytest.approx(2 / 3)
    assert c.specificity == 0.5
    assert c.accuracy == 0.6
    assert math.isnan(PresenceCounts().accuracy)


def test_curve_parallel_lines_distance_and_length() -> None:
    c = compare_curves([[0, 0], [10, 0]], [[0, 3], [10, 3]])
    assert c.mean_distance == pytest.approx(3.0)
    assert c.hausdorff == pytest.approx(3.0)
    assert c.length_error == pytest.approx(0.0)
    assert c.truth_length == pytest.approx(10.0)


def test_curve_longer_prediction_hausdorff_at_overhang() -> None:
    c = compare_curves([[0, 0], [10, 0]], [[0, 0], [14, 0]])
    assert c.hausdorff == pytest.approx(4.0)
    assert c.length_error == pytest.approx(4.0)
    assert 0 < c.mean_distance < 4.0


def test_curve_mm_scales_axes_separately() -> None:
    # vertical offset 2 px at dy = 0.25 mm/px -> 0.5 mm; horizontal length 10 px at 1 mm/px
    c = compare_curves([[0, 0], [10, 0]], [[0, 2], [10, 2]], mm_per_px=(1.0, 0.25))
    assert c.mean_distance == pytest.approx(0.5)
    assert c.truth_length == pytest.approx(10.0)


def test_spline_curve_is_compared_as_spline_not_nodes() -> None:
    # One arc through 17 or 9 of its points: the splines nearly agree (0.06 px), while
    # the node polylines differ by 0.38 px on average.
    t = np.linspace(0, np.pi, 17)
    arc = np.stack([50 + 40 * np.cos(t), 50 + 40 * np.sin(t)], axis=1)
    c = compare_curves(arc, arc[::2])
    assert c.mean_distance < 0.1
    assert abs(c.length_error) < 0.2
    assert c.truth_length == pytest.approx(40 * np.pi, abs=0.2)


def test_compare_label_states() -> None:
    r = compare_label(KEY_A, "p", Label.blurred(), Label.point(1, 1))
    assert r.truth_present is None and r.error_px is None
    r = compare_label(KEY_A, "p", Label.off(), Label.point(1, 1, conf=0.3))
    assert r.truth_present is False and r.pred_present and r.conf == 0.3
    r = compare_label(KEY_A, "p", Label.point(0, 0), Label.off())
    assert r.truth_present and not r.pred_present and r.error_px is None
    r = compare_label(KEY_A, "p", Label.point(0, 0), None)
    assert not r.pred_present


def test_compare_labels_with_calibration_and_missing_keys() -> None:
    truth = {
        KEY_A: {"p": Label.point(0, 0), "c": Label.curve([[0, 0], [10, 0]]), "q": Label.off()},
        KEY_B: {"p": Label.point(5, 5)},
    }
    pred = {KEY_A: {"p": Label.point(3, 4), "c": Label.curve([[0, 1], [10, 1]]), "q": Label.off()}}
    spacing = {KEY_A[:67]: (0.5, 0.5)}
    records, missing = compare_labels(truth, pred, spacing_mm=spacing)
    assert missing == [KEY_B]
    by = {r.label: r for r in records}
    assert by["p"].error_px == 5.0 and by["p"].error_mm == 2.5
    assert by["c"].kind == "curve" and by["c"].error_px == pytest.approx(1.0)
    assert by["c"].error_mm == pytest.approx(0.5)
    m = summarise(records, views={"p": ["A4C"], "c": ["A4C", "PLAX"]}, missing=missing)
    s = m["summary"]
    assert s["median_point_error_px"] == 5.0
    assert s["median_point_error_mm"] == 2.5
    assert s["median_curve_distance_px"] == pytest.approx(1.0)
    assert s["presence_accuracy"] == 1.0
    assert s["n_missing_predictions"] == 1
    assert set(m["per_view"]) == {"A4C", "PLAX"}
    assert m["per_label"]["c"]["curve"]["px"]["hausdorff"]["median_px"] == pytest.approx(1.0)


def test_summary_golden_mixed() -> None:
    recs = [
        compare_label(KEY_A, "a", Label.point(0, 0), Label.point(1, 0)),  # 1 px
        compare_label(KEY_A, "b", Label.point(0, 0), Label.point(0, 3)),  # 3 px
        compare_label(KEY_A, "c", Label.point(0, 0), Label.point(6, 8)),  # 10 px
        compare_label(KEY_A, "d", Label.off(), Label.point(0, 0)),  # false positive
        compare_label(KEY_A, "e", Label.blurred(), Label.off()),  # excluded
    ]
    s = summarise(recs)["summary"]
    assert s["median_point_error_px"] == 3.0
    assert s["mean_point_error_px"] == pytest.approx(14 / 3)
    assert s["pck_2px"] == pytest.approx(1 / 3)
    assert s["pck_4px"] == pytest.approx(2 / 3)
    assert s["presence_accuracy"] == 0.75
    assert s["presence_specificity"] == 0.0
    g = summarise_group(recs)
    assert g["presence"]["n"] == 4


def test_json_safe_makes_strict_json() -> None:
    import json

    out = json.dumps(json_safe(summarise([])), allow_nan=False)
    assert '"median_point_error_px": null' in out
