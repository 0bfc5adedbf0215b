"""Synthetic cines: determinism, labels on the anatomy, exact truth, spline tracking."""

from __future__ import annotations

import math

import numpy as np
import pytest

from echomark.geometry.curves import sample_curve
from echomark.labels.registry import View, load_registry
from echomark.labels.schema import Label, LabelState
from echomark.synth import cine as synth_cine
from echomark.synth.cine import channel_names, make_cine, sample_video, true_labels
from echomark.synth.phantom import cardiac_phase
from synth_helpers import inside_outside_means, spline_gap, true_curve_fits

SIZE = (240, 320)


@pytest.fixture(scope="module")
def plax() -> synth_cine.SynthCine:
    return make_cine("PLAX", 11, n_frames=12, size=(360, 480))


@pytest.fixture(scope="module")
def a4c() -> synth_cine.SynthCine:
    return make_cine("A4C", 12, n_frames=12, size=(360, 480))


def _mm(cine: synth_cine.SynthCine, p: np.ndarray, q: np.ndarray) -> float:
    dx, dy = cine.spacing_cm_per_px
    return 10.0 * math.hypot((p[0] - q[0]) * dx, (p[1] - q[1]) * dy)


def _line_mean(img: np.ndarray, p: np.ndarray, q: np.ndarray, lo: float, hi: float) -> float:
    """Mean grey along the part [lo, hi] (fractions) of segment p -> q (nearest pixels)."""
    t = np.linspace(lo, hi, 40)[:, None]
    xy = np.rint(p * (1 - t) + q * t).astype(int)
    return float(img[xy[:, 1], xy[:, 0]].mean())


def test_same_seed_same_cine_and_other_seed_differs() -> None:
    a = make_cine("A4C", 5, n_frames=3, size=SIZE)
    b = make_cine("A4C", 5, n_frames=3, size=SIZE)
    c = make_cine("A4C", 6, n_frames=3, size=SIZE)
    assert a.frames.dtype == np.uint8 and a.frames.shape == (3, *SIZE)
    assert np.array_equal(a.frames, b.frames)
    assert a.labels == b.labels and a.truth == b.truth
    assert not np.array_equal(a.frames, c.frames)


def test_frames_look_like_a_sector_scan(plax: synth_cine.SynthCine) -> None:
    img = plax.frames[0]
    geo = plax.spec.geometry
    # black outside the fan: top corners and the bottom corners
    assert img[:20, :20].max() == 0 and img[-5:, :10].max() == 0
    # apex row: only a few pixels wide; deeper rows much wider
    row_apex = int(geo.apex_y) + 3
    row_deep = int(geo.apex_y + 0.8 * geo.depth_cm / geo.dy_cm_per_px)
    assert (img[row_apex] > 0).sum() < 20 < (img[row_deep] > 0).sum()


def test_every_image_has_every_channel_and_other_view_is_off(
    plax: synth_cine.SynthCine, a4c: synth_cine.SynthCine
) -> None:
    reg = load_registry()
    names = channel_names()
    assert "lv-ivs-top" in names and "curve-lv-endo" in names
    for cine in (plax, a4c):
        for labels in cine.labels.values():
            assert list(labels) == names
            for name, label in labels.items():
                if cine.view not in reg[name].views:
                    assert label.state is LabelState.OFF, name
    assert plax.labels[0]["lv-ivs-top"].state is LabelState.POINT
    assert plax.labels[0]["curve-lv-antsep-endo"].state is LabelState.CURVE
    assert a4c.labels[0]["curve-lv-endo"].state is LabelState.CURVE


def test_plax_labels_lie_on_bright_septum_and_dark_cavity(plax: synth_cine.SynthCine) -> None:
    for f in (plax.ed_frame, plax.es_frame):
        img, lab = plax.frames[f], plax.labels[f]
        top, bot = lab["lv-ivs-top"].xy[0], lab["lv-ivs-bottom"].xy[0]
        pw_top, pw_bot = lab["lv-pw-top"].xy[0], lab["lv-pw-bottom"].xy[0]
        septum = _line_mean(img, top, bot, 0.2, 0.8)
        wall = _line_mean(img, pw_top, pw_bot, 0.2, 0.8)
        cavity = _line_mean(img, bot, pw_top, 0.2, 0.8)
        assert septum > 3 * cavity + 20, (septum, cavity)
        assert wall > 3 * cavity + 20, (wall, cavity)
        # the four points are collinear (one measurement line)
        d = pw_bot - top
        for p in (bot, pw_top):
            assert abs(d[0] * (p - top)[1] - d[1] * (p - top)[0]) / np.hypot(*d) < 0.2


def test_a4c_lv_curve_separates_dark_cavity_from_bright_wall(a4c: synth_cine.SynthCine) -> None:
    f = a4c.ed_frame
    img = a4c.frames[f].astype(float)
    inside, outside = inside_outside_means(img, a4c.labels[f]["curve-lv-endo"].xy, 6)
    assert outside > 3 * inside + 20


def test_plax_truth_equals_label_distances(plax: synth_cine.SynthCine) -> None:
    for f, lab in plax.labels.items():
        pts = {
            n: lab[n].xy[0] for n in ("lv-ivs-top", "lv-ivs-bottom", "lv-pw-top", "lv-pw-bottom")
        }
        truth = plax.truth[f]
        assert abs(_mm(plax, pts["lv-ivs-top"], pts["lv-ivs-bottom"]) - truth["IVS"][0]) < 0.2
        assert abs(_mm(plax, pts["lv-ivs-bottom"], pts["lv-pw-top"]) - truth["LVID"][0]) < 0.2
        assert abs(_mm(plax, pts["lv-pw-top"], pts["lv-pw-bottom"]) - truth["LVPW"][0]) < 0.2
        assert truth["LVID"][1] == "mm"
    ed, es = plax.truth[plax.ed_frame], plax.truth[plax.es_frame]
    assert ed["LVID"][0] > es["LVID"][0] and ed["IVS"][0] < es["IVS"][0]
    assert 35.0 < ed["LVID"][0] < 60.0


def test_a4c_truth_length_and_area_match_labels(a4c: synth_cine.SynthCine) -> None:
    dx, dy = a4c.spacing_cm_per_px
    for f, lab in a4c.labels.items():
        apex = lab["lv-apex-endo"].xy[0]
        mid = 0.5 * (lab["mv-ant-hinge"].xy[0] + lab["mv-post-hinge"].xy[0])
        assert abs(_mm(a4c, apex, mid) - a4c.truth[f]["LV_length"][0]) < 0.2
        curve = lab["curve-lv-endo"].xy
        # the curve runs hinge -> apex -> hinge
        assert np.allclose(curve[0], lab["mv-ant-hinge"].xy[0])
        assert np.allclose(curve[len(curve) // 2], apex)
        assert np.allclose(curve[-1], lab["mv-post-hinge"].xy[0])
        dense = sample_curve(curve, spacing=0.5)
        x, y = dense[:, 0] * dx * 10, dense[:, 1] * dy * 10
        area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
        assert area == pytest.approx(a4c.truth[f]["LV_area"][0], rel=0.01)
    ed, es = a4c.truth[a4c.ed_frame], a4c.truth[a4c.es_frame]
    assert ed["LV_volume_al"][0] > es["LV_volume_al"][0]
    # two volume methods on the same outline agree to a few per cent
    assert ed["LV_volume_mod"][0] == pytest.approx(ed["LV_volume_al"][0], rel=0.1)


@pytest.mark.parametrize("view", ["PLAX", "A4C"])
def test_curve_splines_track_the_true_boundary(view: str) -> None:
    worst = 0.0
    for labels, fitted in true_curve_fits(view):
        assert fitted, "no curve was visible"
        for name, dense in fitted.items():
            assert 5 <= len(labels[name].xy) <= 12
            worst = max(worst, spline_gap(labels[name].xy, dense))
    assert worst < 0.6


def test_labels_outside_the_sector_are_off() -> None:
    spec = sample_video("A4C", np.random.default_rng(3), n_frames=4)
    far = synth_cine.Pose(0.0, 9.0, 2.5, (0.0, 0.0), 4.0)  # heart pushed out to the right
    import dataclasses

    moved = dataclasses.replace(spec, pose=far)
    labels, _ = true_labels(moved, 0)
    assert labels["mv-ant-hinge"].state is LabelState.OFF
    assert labels["curve-lv-endo"].state in (LabelState.OFF, LabelState.BLURRED)


def test_derived_and_blurred_labels() -> None:
    labels = {"lv-ivs-top": Label.point(10.0, 20.0), "lv-pw-bottom": Label.point(30.0, 60.0)}
    synth_cine.add_derived(labels, View.PLAX)
    conn = labels["curve-lv-ed-connect"]
    assert conn.state is LabelState.CURVE and conn.xy.tolist() == [[10, 20], [20, 40], [30, 60]]
    assert labels["lv-antsep-endo-apex"].state is LabelState.BLURRED
    rng = np.random.default_rng(0)
    name = synth_cine.blur_one(labels, View.PLAX, rng)
    assert name in ("lv-ivs-top", "lv-pw-bottom")
    assert labels[name].state is LabelState.BLURRED
    assert labels["curve-lv-ed-connect"].state is LabelState.BLURRED


def test_cardiac_cycle_has_ed_at_zero_and_es_at_end_systole() -> None:
    assert cardiac_phase(0.0).contraction == 0.0
    assert cardiac_phase(0.37).contraction == pytest.approx(1.0)
    assert cardiac_phase(0.2).av_open > 0.5 and cardiac_phase(0.2).mv_open == 0.0
    assert cardiac_phase(0.6).mv_open > 0.3 and cardiac_phase(0.6).av_open == 0.0
    cine = make_cine("PLAX", 2, n_frames=30, render=False, label_frames=[])
    lvid = [t["LVID"][0] for t in cine.truth]
    assert cine.ed_frame == int(np.argmax(lvid)) and cine.es_frame == int(np.argmin(lvid))
    assert 20.0 <= cine.frame_time_ms <= 40.0


def test_spacing_is_physical(plax: synth_cine.SynthCine) -> None:
    dx, dy = plax.spacing_cm_per_px
    geo = plax.spec.geometry
    assert abs(dx / dy - 1.0) <= 0.031
    assert 12.0 <= geo.depth_cm <= 20.0
    assert geo.depth_cm / dy <= geo.height


def test_bad_requests_are_input_errors() -> None:
    from echomark.errors import InputError

    with pytest.raises(InputError, match="synthetic views"):
        make_cine("A5C", 0, n_frames=2, render=False)
    with pytest.raises(InputError, match="unknown view"):
        make_cine("PSAX", 0, n_frames=2, render=False)
    with pytest.raises(InputError, match="frame 5"):
        make_cine("PLAX", 0, n_frames=2, render=False, label_frames=[5])
    with pytest.raises(InputError):
        make_cine("PLAX", 0, n_frames=0)


def test_labels_survive_a_v1_write_and_read_exactly(a4c: synth_cine.SynthCine) -> None:
    from echomark.labels.io import dumps_labels, read_labels
    from echomark.labels.schema import LabelFile, LabelFormat

    key = "01-" + "ab" * 32 + "-{:04d}.png"
    lf = LabelFile(images={key.format(f): lab for f, lab in a4c.labels.items()})
    back = read_labels(dumps_labels(lf, LabelFormat.V1).encode())
    assert not back.problems
    assert back.images == lf.images


def test_depth_scale_dots_sit_outside_the_sector(plax: synth_cine.SynthCine) -> None:
    from echomark.synth.render import depth_marker_pixels, make_scan_maps

    geo = plax.spec.geometry
    idx = depth_marker_pixels(geo)
    assert len(idx) >= 9 * int(geo.depth_cm)  # a 3x3 dot (or 5x5) per cm
    maps = make_scan_maps(geo, plax.spec.style, np.random.default_rng(0))
    assert np.all(maps.sector.ravel()[idx] < 0.5)
    assert np.all(plax.frames[0].ravel()[idx] == 200)
