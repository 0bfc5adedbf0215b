"""Reader marks of the SonoSite A4C cine: plausible anatomy, and the real-cine scoring rules."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from echomark.calibration import Calibration
from echomark.errors import InputError
from echomark.evaluate.reader_marks import (
    LV_CURVE,
    READER_POINTS,
    SCORED_LABELS,
    LabelScore,
    curve_apex,
    distance_mm,
    marks_at,
    outline_labels,
    read_reader_marks,
    read_reader_outlines,
    score_curve,
    score_frame,
    score_point,
    summarise,
)
from echomark.labels.schema import Label
from echomark.measure.a4c import lv_apical_frame
from echomark.synth.bmode import cavity_and_wall_greys, surroundings_grey

MARKS = Path(__file__).parents[1] / "benchmarks" / "data" / "sonosite-a4c-reader-marks.json"
MM = 0.5105  # the cine's spacing, mm per pixel, both axes
H, W, N_FRAMES = 480, 640, 120


@pytest.fixture(scope="module")
def marks():  # type: ignore[no-untyped-def]
    return read_reader_marks(MARKS)


def test_marks_cover_every_tenth_frame(marks) -> None:  # type: ignore[no-untyped-def]
    assert marks.file == "color3d_jpeg_baseline.dcm"
    assert list(marks.frames) == list(range(0, N_FRAMES, 10))
    assert all(set(p) == set(READER_POINTS) for p in marks.frames.values())
    assert marks.ed_frames and marks.es_frames
    assert all(0 <= f < N_FRAMES for f in marks.ed_frames + marks.es_frames)
    assert not set(marks.ed_frames) & set(marks.es_frames)


def test_marks_sit_like_an_apical_four_chamber_lv(marks) -> None:  # type: ignore[no-untyped-def]
    """Catches a swapped or mistyped mark: orientation, hinge width and LV length in mm."""
    for frame, p in marks.frames.items():
        apex, post, ant = p["lv-apex-endo"], p["mv-post-hinge"], p["mv-ant-hinge"]
        for x, y in p.values():
            assert 0 <= x < W and 0 <= y < H, frame
        assert apex[1] < post[1] and apex[1] < ant[1], frame  # apex nearer the probe
        assert ant[0] > post[0], frame  # lateral (anterior) hinge on the image right
        assert 15 <= distance_mm(post, ant, MM, MM) <= 45, frame
        mid = ((post[0] + ant[0]) / 2, (post[1] + ant[1]) / 2)
        assert 50 <= distance_mm(apex, mid, MM, MM) <= 100, frame


def test_marks_at_interpolates_between_the_nearest_marked_frames() -> None:
    m = {0: {"lv-apex-endo": (100.0, 50.0)}, 5: {"lv-apex-endo": (110.0, 40.0)}}
    assert marks_at(m, 0) == {"lv-apex-endo": (100.0, 50.0)}
    assert marks_at(m, 2) == {"lv-apex-endo": (104.0, 46.0)}
    assert marks_at(m, 5) == {"lv-apex-endo": (110.0, 40.0)}
    assert marks_at(m, 9) == {"lv-apex-endo": (110.0, 40.0)}  # after the last: held


def test_distance_uses_the_spacing_per_axis() -> None:
    assert distance_mm((0, 0), (10, 0), MM, MM) == pytest.approx(5.105)
    assert distance_mm((0, 0), (0, 10), 1.0, 2.0) == pytest.approx(20.0)


def test_point_on_heart_within_ten_mm() -> None:
    mark = (100.0, 100.0)
    near = score_point(Label.point(100.0, 119.0, conf=0.9), mark, MM, MM)  # 9.7 mm
    far = score_point(Label.point(100.0, 120.0, conf=0.9), mark, MM, MM)  # 10.2 mm
    assert near == LabelScore(True, True, pytest.approx(9.6995))
    assert far.found and not far.on_heart
    assert score_point(Label.off(), mark, MM, MM) == LabelScore(False, False)
    assert score_point(None, mark, MM, MM) == LabelScore(False, False)


def _lv_marks() -> dict[str, tuple[float, float]]:
    return {
        "lv-apex-endo": (50.0, 0.0),
        "mv-post-hinge": (0.0, 100.0),
        "mv-ant-hinge": (100.0, 100.0),
    }


def test_curve_apex_is_the_point_farthest_from_the_hinge_line() -> None:
    xy = np.array([[0.0, 100.0], [30.0, 20.0], [60.0, 5.0], [100.0, 100.0]])
    assert curve_apex(xy, 1.0, 1.0) == (60.0, 5.0)


def test_curve_on_heart_in_either_order_and_off_when_its_apex_is_short() -> None:
    marks = _lv_marks()
    good = Label.curve([[100.0, 100.0], [50.0, 2.0], [0.0, 100.0]], conf=0.8)
    backwards = Label.curve([[0.0, 100.0], [50.0, 2.0], [100.0, 100.0]], conf=0.8)
    stub = Label.curve([[100.0, 100.0], [50.0, 60.0], [0.0, 100.0]], conf=0.8)  # 30 mm short
    assert score_curve(good, marks, MM, MM).on_heart
    assert score_curve(backwards, marks, MM, MM).on_heart
    s = score_curve(stub, marks, MM, MM)
    assert s.found and not s.on_heart and s.dist_mm == pytest.approx(60 * MM, abs=0.6)
    assert not score_curve(Label.off(), marks, MM, MM).found


def test_reader_marks_as_a_prediction_score_all_four_on_the_heart(marks) -> None:  # type: ignore[no-untyped-def]
    """The marks themselves (curve through hinge, apex, hinge) are on the heart in every frame."""
    scores = []
    for frame in range(N_FRAMES):
        m = marks_at(marks.frames, frame)
        pred = {n: Label.point(*m[n], conf=1.0) for n in READER_POINTS}
        pred[LV_CURVE] = Label.curve(
            [m["mv-ant-hinge"], m["lv-apex-endo"], m["mv-post-hinge"]], conf=1.0
        )
        scores.append(score_frame(frame, pred, m, MM, MM))
    s = summarise(scores)
    assert s["all_four_on_heart_pct"] == 100.0
    for name in SCORED_LABELS:
        assert s["labels"][name]["on_heart_pct"] == 100.0
    # a spline through 3 nodes bulges past its middle node by well under the 12 mm tolerance
    assert s["labels"][LV_CURVE]["median_mm"] < 12.0
    assert all(math.isclose(s["labels"][n]["median_mm"], 0.0) for n in READER_POINTS)


def test_swapped_hinges_are_off_the_heart(marks) -> None:  # type: ignore[no-untyped-def]
    m = marks_at(marks.frames, 0)
    pred = {
        "mv-post-hinge": Label.point(*m["mv-ant-hinge"]),
        "mv-ant-hinge": Label.point(*m["mv-post-hinge"]),
    }
    s = score_frame(0, pred, m, MM, MM)
    assert not s.labels["mv-post-hinge"].on_heart and not s.labels["mv-ant-hinge"].on_heart
    assert not s.all_on_heart


@pytest.mark.parametrize(
    "doc",
    [
        {"frames": {"x": {}}},
        {"frames": {"0": {"lv-apex": [1, 2]}}},
        {"frames": {"0": {"lv-apex-endo": [1]}}},
        {"frames": {}},
        {"file": "no frames"},
    ],
)
def test_bad_marks_files_are_refused(tmp_path: Path, doc: dict) -> None:  # type: ignore[type-arg]
    p = tmp_path / "marks.json"
    p.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError):
        read_reader_marks(p)


def test_marks_put_the_lv_on_dark_blood_with_the_bright_septum_to_its_left(marks, cine) -> None:  # type: ignore[no-untyped-def]
    """On the real frames: halfway from the hinges to the apex is blood pool (darker than the
    sector's median), and 25-45 px to the image left of it is the brighter septum."""
    for frame, p in marks.frames.items():
        img = cine.frames[frame].astype(float)
        sector = img[60:400, 150:530]
        apex = np.array(p["lv-apex-endo"])
        hinges = (np.array(p["mv-post-hinge"]) + np.array(p["mv-ant-hinge"])) / 2
        x, y = ((apex + hinges) / 2).astype(int)
        cavity = img[y - 5 : y + 6, x - 5 : x + 6].mean()
        septum = img[y - 5 : y + 6, x - 45 : x - 25].mean()
        assert cavity < np.median(sector[sector > 0]), frame
        assert septum > 2 * cavity, frame


def test_the_marks_are_the_mean_of_two_readings_that_each_look_like_an_a4c_lv() -> None:
    doc = json.loads(MARKS.read_text())
    readers = [r["frames"] for r in doc["readers"].values()]
    assert len(readers) == 2
    for key, points in doc["frames"].items():
        for name, xy in points.items():
            both = [r[key][name] for r in readers]
            assert xy == pytest.approx([(both[0][i] + both[1][i]) / 2 for i in (0, 1)], abs=0.05)
    for r in readers:
        for frame, p in r.items():
            apex, post, ant = p["lv-apex-endo"], p["mv-post-hinge"], p["mv-ant-hinge"]
            assert apex[1] < min(post[1], ant[1]) and ant[0] > post[0], frame
            mid = ((post[0] + ant[0]) / 2, (post[1] + ant[1]) / 2)
            assert 50 <= distance_mm(apex, mid, MM, MM) <= 100, frame
    # the readers differ most at the apex (hidden under near-field clutter), within the
    # scorer's tolerance at the median
    apex_gap = [
        distance_mm(readers[0][k]["lv-apex-endo"], readers[1][k]["lv-apex-endo"], MM, MM)
        for k in doc["frames"]
    ]
    assert 5.0 < float(np.median(apex_gap)) < 10.0


# ---- traced outlines (reference volumes)

OUTLINES = MARKS.with_name("sonosite-a4c-reader-outlines.json")
CAL = Calibration.isotropic(MM)


@pytest.fixture(scope="module")
def outlines():  # type: ignore[no-untyped-def]
    return read_reader_outlines(OUTLINES)


@pytest.fixture(scope="module")
def cine(marks, outlines):  # type: ignore[no-untyped-def]
    """The real cine's marked and traced frames, decoded once for the tests that look at them."""
    from pydicom.data import get_testdata_file

    from echomark.dicom.memory import curate_in_memory

    assert outlines.file == marks.file
    frames = sorted({*marks.frames, *outlines.frames})
    return curate_in_memory(get_testdata_file(marks.file), frames=frames, ocr=False)


def test_outlines_trace_each_reader_beat_and_agree_with_the_marks(outlines, marks) -> None:  # type: ignore[no-untyped-def]
    """ED frames are the readers' own; each outline runs from the lateral hinge over the apex
    to the septal hinge, within the scorer's tolerances of the marks of its frame (10 mm at
    the hinges, 12 mm at the apex: the marks are interpolated between every 10th frame, and
    the annulus moves up to 15 mm in a beat)."""
    assert outlines.file == marks.file
    assert [ed for ed, _ in outlines.beats] == list(marks.ed_frames)
    assert all(es in marks.es_frames and ed < es < ed + 20 for ed, es in outlines.beats)
    # both tracings of a repeated frame (a merged dict would keep only the repeat)
    for frame, xy in [*outlines.frames.items(), *outlines.repeat.items()]:
        m = marks_at(marks.frames, frame)
        pred = {LV_CURVE: Label.curve(xy, conf=1.0)}
        assert score_frame(frame, pred, m, MM, MM).labels[LV_CURVE].on_heart, frame
        assert xy[0, 0] > xy[-1, 0], frame  # lateral (image right) first


def test_traced_volumes_golden_values(outlines) -> None:  # type: ignore[no-untyped-def]
    """The reference EDV / ESV / EF per beat, through the same code as a prediction's."""
    got = []
    for ed, es in outlines.beats:
        edv = lv_apical_frame(outline_labels(outlines.frames[ed]), CAL).volume_ml
        esv = lv_apical_frame(outline_labels(outlines.frames[es]), CAL).volume_ml
        got.append((round(edv, 1), round(esv, 1), round(100 * (edv - esv) / edv, 1)))
    assert got == [
        (109.8, 45.0, 59.0),
        (99.3, 40.3, 59.4),
        (107.7, 44.9, 58.3),
        (118.9, 50.6, 57.5),
    ]
    # the repeat tracing: within 10 % of the first
    for frame, xy in outlines.repeat.items():
        first = lv_apical_frame(outline_labels(outlines.frames[frame]), CAL).volume_ml
        again = lv_apical_frame(outline_labels(xy), CAL).volume_ml
        assert abs(again / first - 1) < 0.10, frame


def test_traced_cavities_are_black_and_their_walls_grey(outlines, cine) -> None:  # type: ignore[no-untyped-def]
    """The contrast the synthetic B-mode look is tuned to (test_synth_bmode): the cavity core
    (over 4 mm inside the tracing) has median grey 7-10, the wall band 1.5-6 mm outside it
    35-45, at every traced frame."""
    for frame in sorted(outlines.frames):
        cavity, wall = cavity_and_wall_greys(
            cine.frames[frame].astype(float), outlines.frames[frame], MM
        )
        assert 7.0 <= cavity <= 10.0 and 35.0 <= wall <= 45.0, (frame, cavity, wall)


def test_tissue_beyond_the_lateral_wall_is_about_as_grey_as_the_wall(outlines, cine) -> None:  # type: ignore[no-untyped-def]
    """The heart sits on grey tissue, not on black (the synthetic look's surroundings are
    tuned to it in test_synth_bmode): 12-20 mm beyond the lateral wall the grey is 0.39-1.4
    times the wall band's (15-49 against 35-45), at every traced frame."""
    for frame in sorted(outlines.frames):
        img = cine.frames[frame].astype(float)
        _, wall = cavity_and_wall_greys(img, outlines.frames[frame], MM)
        beyond = surroundings_grey(img, outlines.frames[frame], MM)
        assert 0.35 <= beyond / wall <= 1.5, (frame, beyond, wall)


def test_outline_labels_measure_a_half_ellipse_exactly() -> None:
    """Semi-axes 20 mm across and 80 mm long: disks volume 2/3·π·20²·80 mm³ (67.0 mL)."""
    t = np.linspace(0.0, np.pi, 801)
    xy = np.stack([100 + 20 / MM * np.cos(t), 300 - 80 / MM * np.sin(t)], axis=1)
    got = lv_apical_frame(outline_labels(xy), CAL)
    assert got.length_mm == pytest.approx(80.0, rel=1e-4)
    assert got.volume_ml == pytest.approx(2 / 3 * np.pi * 20**2 * 80 / 1000, rel=2e-3)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"beats": []}, "'frames'"),
        ({"frames": {"x": [[0, 0]] * 5}}, "integers"),
        ({"frames": {"0": [[0, 0]] * 4}}, "at least 5"),
        ({"frames": {"0": [[0, 0]] * 4 + [[0, "a"]]}}, "at least 5"),
        ({"frames": {"0": [[0, 0]] * 5}, "beats": [[0, 9]]}, "frame 9 has no outline"),
        ({"frames": {"0": [[0, 0]] * 5}, "beats": [[0]]}, "[ED frame, ES frame]"),
        ({"frames": {"0": [[0, 0]] * 5}, "repeat": [1]}, "'repeat'"),
    ],
)
def test_bad_outline_files_are_refused(tmp_path: Path, doc: dict, message: str) -> None:  # type: ignore[type-arg]
    p = tmp_path / "outlines.json"
    p.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(message)) as err:
        read_reader_outlines(p)
    assert str(p) in str(err.value)
