"""Synthetic A2C / A3C views and biplane studies: one 3-D LV, exact sections and volumes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from echomark.cli.main import main
from echomark.errors import InputError
from echomark.geometry.curves import sample_curve
from echomark.labels.registry import View, load_registry
from echomark.labels.schema import LabelState
from echomark.synth.cine import channel_names, make_cine, make_study
from echomark.synth.dataset import DatasetConfig, write_dataset
from echomark.synth.phantom import A4cAnatomy, _around, _bullet, biplane_volume
from synth_helpers import inside_outside_means, spline_gap, true_curve_fits

APICAL_ONLY = ("lv-apex-endo", "lv-apex-epi", "mv-ant-hinge", "mv-post-hinge", "curve-lv-endo")


@pytest.fixture(scope="module")
def study():  # type: ignore[no-untyped-def]
    return make_study(7, n_frames=12, size=(360, 480))


@pytest.mark.parametrize("view", ["A2C", "A3C"])
def test_two_and_three_chamber_views_draw_only_lv_labels(view: str) -> None:
    cine = make_cine(view, 4, n_frames=6, size=(360, 480))
    reg = load_registry()
    assert cine.view is View(view)
    for labels in cine.labels.values():
        assert list(labels) == channel_names()
        for name, label in labels.items():
            if name in APICAL_ONLY:
                assert label.state in (LabelState.POINT, LabelState.CURVE), name
            elif View(view) not in reg[name].views:
                assert label.state is LabelState.OFF, name  # RV, TV, atria, PLAX
        assert labels["curve-mv-hinge-connect"].state is LabelState.CURVE
    # the LV outline separates a dark cavity from bright wall, as in A4C
    f = cine.ed_frame
    img = cine.frames[f].astype(float)
    inside, outside = inside_outside_means(img, cine.labels[f]["curve-lv-endo"].xy, 6)
    assert outside > 3 * inside + 20


@pytest.mark.parametrize("view", ["A2C", "A3C"])
def test_apical_splines_track_the_true_boundary(view: str) -> None:
    worst = 0.0
    for labels, fitted in true_curve_fits(view):
        assert list(fitted) == ["curve-lv-endo"]
        worst = max(worst, spline_gap(labels["curve-lv-endo"].xy, fitted["curve-lv-endo"]))
    assert worst < 0.6


def _heart() -> A4cAnatomy:
    return A4cAnatomy.sample(np.random.default_rng(5)).with_plane(
        View.A4C, np.random.default_rng(6)
    )


def test_apical_planes_are_sections_of_one_3d_lv() -> None:
    heart = _heart()
    o = heart.orth
    assert o is not None
    walls = (heart.w_lat, heart.w_sep, o.w_ant, o.w_inf)
    # the smooth continuation round the axis passes through the four wall values
    for phi, want in zip((0.0, math.pi, 0.5 * math.pi, 1.5 * math.pi), walls, strict=True):
        assert _around(phi, *walls) == pytest.approx(want, abs=1e-12)
    # each view's right/left half-widths are the 3-D radius at its plane's two directions
    s = np.linspace(0.0, 1.0, 11)
    m = 0.25 * sum(walls)
    q = 0.25 * (walls[0] + walls[1] - walls[2] - walls[3])
    for view, phi in ((View.A4C, 0.0), (View.A2C, 0.5 * math.pi), (View.A3C, 0.75 * math.pi)):
        st = heart.with_plane(view).state(_phase0())
        for side, ang, fn in ((1, phi, st.lv_lat), (-1, phi + math.pi, st.lv_sep)):
            d = 0.5 * (walls[0] - walls[1]) * math.cos(ang) + 0.5 * (
                walls[2] - walls[3]
            ) * math.sin(ang)
            r3d = _bullet(s, heart.blunt, heart.taper) * (m + q * math.cos(2 * ang) + d * s**2)
            assert np.allclose(fn(s * st.length), r3d, atol=1e-12), (view, side)


def _phase0():  # type: ignore[no-untyped-def]
    from echomark.synth.phantom import cardiac_phase

    return cardiac_phase(0.0)


def test_true_volume_equals_brute_force_integration_of_the_3d_shape() -> None:
    heart = _heart()
    o = heart.orth
    assert o is not None
    walls = (heart.w_lat, heart.w_sep, o.w_ant, o.w_inf)
    length = heart.lv_len
    # midpoint rule over (v, phi): cross-section area = 1/2 integral of r^2 dphi
    n_s, n_p = 4000, 720
    s = (np.arange(n_s) + 0.5) / n_s
    phi = (np.arange(n_p) + 0.5) * 2 * math.pi / n_p
    b = _bullet(s, heart.blunt, heart.taper)[:, None]
    m = 0.25 * sum(walls)
    q = 0.25 * (walls[0] + walls[1] - walls[2] - walls[3])
    d = (0.5 * (walls[0] - walls[1]) * np.cos(phi) + 0.5 * (walls[2] - walls[3]) * np.sin(phi))[
        None, :
    ]
    r = b * (m + q * np.cos(2 * phi)[None, :] + d * s[:, None] ** 2)
    area = 0.5 * (r * r).sum(axis=1) * 2 * math.pi / n_p
    brute = float(area.sum() * length / n_s)
    assert heart.volume_3d(length, 1.0) == pytest.approx(brute, rel=2e-4)
    # a width scale of k scales the volume by k^2
    assert heart.volume_3d(length, 0.8) == pytest.approx(0.64 * heart.volume_3d(length, 1.0))


def test_biplane_of_a_sphere_and_an_ellipsoid() -> None:
    t = np.linspace(0.0, math.pi, 4001)
    # half-ellipses with semi-axes 1 (A4C) and 2 (A2C), height 3: half an ellipsoid
    a4c = np.stack([np.cos(t), 3.0 * (1.0 - np.sin(t))], axis=1)
    a2c = np.stack([2.0 * np.cos(t), 3.0 * (1.0 - np.sin(t))], axis=1)
    v = biplane_volume((a4c, (0.0, 3.0)), (a2c, (0.0, 3.0)), 4000)
    assert v == pytest.approx(2.0 / 3.0 * math.pi * 1.0 * 2.0 * 3.0, rel=1e-4)


def test_study_pairs_two_views_of_one_heart_at_the_same_instants(study) -> None:  # type: ignore[no-untyped-def]
    a4c, a2c, truth = study.a4c, study.a2c, study.truth
    assert a4c.view is View.A4C and a2c.view is View.A2C
    assert (a4c.ed_frame, a4c.es_frame) == (a2c.ed_frame, a2c.es_frame)
    assert a4c.frame_time_ms == a2c.frame_time_ms and a4c.spec.phase0 == a2c.spec.phase0
    for f in range(a4c.spec.n_frames):
        assert a4c.truth[f]["LV_volume_true"] == a2c.truth[f]["LV_volume_true"]
        # same apex, same annulus plane: the two views' LV lengths agree within 2 %
        assert a4c.truth[f]["LV_length"][0] == pytest.approx(a2c.truth[f]["LV_length"][0], rel=0.02)
    ed, es = a4c.ed_frame, a4c.es_frame
    assert truth["EDV_true"][0] == a4c.truth[ed]["LV_volume_true"][0]
    assert truth["ESV_true"][0] == a4c.truth[es]["LV_volume_true"][0]
    assert truth["EF_true"][0] == pytest.approx(
        100 * (1 - truth["ESV_true"][0] / truth["EDV_true"][0])
    )
    # the biplane method on exact sections differs from the true volume by < 2 %
    for phase in ("EDV", "ESV"):
        assert truth[f"{phase}_biplane"][0] == pytest.approx(truth[f"{phase}_true"][0], rel=0.02)
    assert 40.0 < truth["EDV_true"][0] < 200.0 and 25.0 < truth["EF_true"][0] < 75.0


def test_biplane_from_the_written_labels_matches_the_truth(study) -> None:  # type: ignore[no-untyped-def]
    """What the measure code will do: discs on both label splines -> near the truth."""

    def outline(cine, f):  # type: ignore[no-untyped-def]
        dx, dy = cine.spacing_cm_per_px
        lab = cine.labels[f]
        curve = sample_curve(lab["curve-lv-endo"].xy, spacing=0.25) * [dx, dy]
        apex = lab["lv-apex-endo"].xy[0] * [dx, dy]
        mid = 0.5 * (lab["mv-ant-hinge"].xy[0] + lab["mv-post-hinge"].xy[0]) * [dx, dy]
        # rotate so the length line runs along +v from the apex at the origin
        ax = (mid - apex) / np.linalg.norm(mid - apex)
        rot = np.array([[ax[1], -ax[0]], [ax[0], ax[1]]])
        return (curve - apex) @ rot.T, (0.0, float(np.linalg.norm(mid - apex)))

    for f, name in ((study.a4c.ed_frame, "EDV"), (study.a4c.es_frame, "ESV")):
        v = biplane_volume(outline(study.a4c, f), outline(study.a2c, f))
        assert v == pytest.approx(study.truth[f"{name}_biplane"][0], rel=0.03)


def test_biplane_dataset_writes_studies_and_volume_truth(tmp_path: Path) -> None:
    out = tmp_path / "bi"
    cfg = DatasetConfig(
        n_videos=6,
        n_external=2,
        frames_per_video=4,
        labelled_per_video=2,
        size=(128, 160),
        views=("PLAX", "A4C", "A3C"),
        biplane=True,
    )
    summary = write_dataset(out, cfg)
    assert summary.studies == 3 and "studies.csv" in summary.files
    studies = list(csv.DictReader(io.StringIO((out / "studies.csv").read_text())))
    assert [r["study"] for r in studies] == ["study-01-0001", "study-01-0004", "study-02-0001"]
    views = {
        r["FileHash"]: r["view"]
        for r in csv.DictReader(io.StringIO((out / "view_index.csv").read_text()))
    }
    assert sorted(set(views.values())) == ["A2C", "A3C", "A4C", "PLAX"]
    rows = list(csv.DictReader(io.StringIO((out / "truth.csv").read_text())))
    by_video: dict[str, dict[str, str]] = {}
    for r in rows:
        if not r["frame"]:
            by_video.setdefault(r["video"], {})[r["measurement"]] = r["value"]
    with zipfile.ZipFile(out / "labels.zip") as zf:
        keys = {
            name: zf.read(f"labels-{name}.txt").decode().split()
            for name in ("train", "tune", "ival", "external")
        }
    for r in studies:
        assert views[r["A4C"]] == "A4C" and views[r["A2C"]] == "A2C"
        a, b = by_video[r["A4C"]], by_video[r["A2C"]]
        for name in (
            "ED_frame",
            "ES_frame",
            "EF_true",
            "LVEDV_biplane_disks",
            "LVESV_biplane_disks",
        ):
            assert a[name] == b[name], name
        # both videos of a study land in the same split
        homes = {
            split
            for split, names in keys.items()
            for code in (r["A4C"], r["A2C"])
            if any(k.startswith(code) for k in names)
        }
        assert len(homes) == 1
    edv = [r for r in rows if r["measurement"] == "EDV_true"]
    assert len(edv) == 2 * 3 + 2  # both videos of 3 studies + the two A3C videos


def test_bad_views_are_input_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match="views"):
        DatasetConfig(views=("A5C",))
    with pytest.raises(InputError, match="biplane"):
        DatasetConfig(views=("PLAX",), biplane=True)
    assert main(["synth", "--out", "x", "--views", "PLAX,B2C"]) == 2  # usage error, one line
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "views must be" in err[0]


def test_cli_biplane(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["synth", "--out", str(out), "--videos", "2", "--external", "0", "--frames", "2"]
    args += ["--labelled", "1", "--size", "96x128", "--views", "a4c,a2c", "--biplane", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["studies"] == 1 and summary["views"] == {"A2C": 2, "A4C": 1}


def test_default_a4c_and_plax_cines_are_unchanged() -> None:
    """The default dataset (and so the demo) renders exactly as before A2C/A3C existed."""
    digest = {
        v: hashlib.sha256(
            make_cine(v, 12, n_frames=2, size=(120, 160)).frames.tobytes()
        ).hexdigest()[:16]
        for v in ("PLAX", "A4C")
    }
    assert digest == GOLDEN


GOLDEN = {"PLAX": "73ab59c995719270", "A4C": "8fe420cdea7b640b"}
