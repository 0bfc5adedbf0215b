import math

import numpy as np
import pytest

from echomark.calibration import Calibration
from echomark.labels.schema import Label
from echomark.measure.a4c import (
    disks_volume_ml,
    ejection_fraction_pct,
    gls_pct,
    lv_apical_frame,
    polygon_area,
)
from echomark.measure.plax import (
    fractional_shortening_pct,
    lv_mass_g,
    plax_dimensions,
    relative_wall_thickness,
)

CAL = Calibration(0.3, 0.4)  # deliberately non-square pixels


def _px(xy_mm):
    return np.asarray(xy_mm, float) / [CAL.dx_mm_per_px, CAL.dy_mm_per_px]


def test_plax_dimensions_anisotropic_oblique():
    # landmarks along an oblique line, 10 / 45 / 9 mm apart in physical space
    u = np.array([math.cos(0.4), math.sin(0.4)])
    start = np.array([40.0, 30.0])
    ys = np.cumsum([0.0, 10.0, 45.0, 9.0])
    pts = [_px(start + t * u) for t in ys]
    names = ["lv-ivs-top", "lv-ivs-bottom", "lv-pw-top", "lv-pw-bottom"]
    labels = {n: Label.point(*p) for n, p in zip(names, pts, strict=True)}
    d = plax_dimensions(labels, CAL)
    assert (d.ivs_mm, d.lvid_mm, d.lvpw_mm) == pytest.approx((10.0, 45.0, 9.0))


def test_plax_missing_and_low_confidence_points_give_nan():
    labels = {
        "lv-ivs-top": Label.point(10, 10),
        "lv-ivs-bottom": Label.point(10, 30, conf=0.9),
        "lv-pw-top": Label.point(10, 100, conf=0.05),
        "lv-pw-bottom": Label.off(),
    }
    d = plax_dimensions(labels, Calibration(0.5, 0.5))
    assert d.ivs_mm == pytest.approx(10.0)
    assert math.isnan(d.lvid_mm) and math.isnan(d.lvpw_mm)


def test_derived_plax_indices_by_hand():
    # (1.0 + 4.8 + 0.9)^3 - 4.8^3 = 300.763 - 110.592 = 190.171 cm3
    assert lv_mass_g(10.0, 48.0, 9.0) == pytest.approx(0.832 * 190.171 + 0.6)
    assert relative_wall_thickness(48.0, 9.0) == pytest.approx(0.375)
    assert fractional_shortening_pct(48.0, 30.0) == pytest.approx(37.5)
    assert ejection_fraction_pct(100.0, 40.0) == pytest.approx(60.0)
    assert math.isnan(fractional_shortening_pct(0.0, 1.0))


def _half_ellipse_labels(a_mm, b_mm, angle, n_nodes=25, centre=(60.0, 90.0)):
    """Long-axis section of a prolate ellipsoid cut at its equator, axis tilted by angle."""
    t = np.linspace(0.0, math.pi, n_nodes)
    local = np.stack([b_mm * np.cos(t), a_mm * np.sin(t)], axis=1)  # across, along
    axis = np.array([math.sin(angle), -math.cos(angle)])  # towards the apex (image up)
    perp = np.array([math.cos(angle), math.sin(angle)])
    c = np.asarray(centre)
    nodes_mm = c + local[:, :1] * perp + local[:, 1:] * axis
    labels = {
        "curve-lv-endo": Label.curve(_px(nodes_mm)),
        "lv-apex-endo": Label.point(*_px(c + a_mm * axis)),
        "mv-ant-wall-hinge": Label.point(*_px(nodes_mm[0])),
        "mv-inf-wall-hinge": Label.point(*_px(nodes_mm[-1])),
    }
    return labels


@pytest.mark.parametrize("angle", [0.0, 0.5])
def test_method_of_disks_matches_analytic_ellipsoid(angle):
    a, b = 80.0, 22.0
    f = lv_apical_frame(_half_ellipse_labels(a, b, angle), CAL)
    v_true = 2.0 / 3.0 * math.pi * b * b * a / 1000.0
    assert f.volume_ml == pytest.approx(v_true, rel=0.01)
    assert f.area_cm2 == pytest.approx(math.pi * a * b / 2 / 100.0, rel=0.01)
    assert f.length_mm == pytest.approx(a, abs=1e-9)


def test_disks_on_exact_polygon_and_nonconvex():
    t = np.linspace(0, np.pi, 4001)
    half = np.stack([30 * np.cos(t), 60 * np.sin(t)], axis=1)
    v = disks_volume_ml(half, [0, 0], [0, 60])
    assert v == pytest.approx(2 / 3 * np.pi * 30**2 * 60 / 1000, rel=1e-3)
    # a rectangle is a cylinder: exact
    rect = [[-10, 0], [10, 0], [10, 50], [-10, 50]]
    assert disks_volume_ml(rect, [0, 0], [0, 50]) == pytest.approx(np.pi * 100 * 50 / 1000)
    # a U-shaped (non-convex) outline: two 5 mm walls, 10 mm gap between them
    u_shape = [[-10, 0], [10, 0], [10, 40], [5, 40], [5, 10], [-5, 10], [-5, 40], [-10, 40]]
    vol = disks_volume_ml(u_shape, [0, 0], [0, 40], n_disks=40)
    # levels above y = 10 see 5 + 5 mm of interior, below see 20 mm
    expect = np.pi / 4 * (20**2 * 10 + 10**2 * 30) / 1000
    assert vol == pytest.approx(expect)
    assert polygon_area(u_shape) == pytest.approx(20 * 40 - 10 * 30)


@pytest.mark.parametrize("scale", [0.8, 0.85, 1.1])
def test_gls_exact_on_uniformly_scaled_contour(scale):
    rng = np.random.default_rng(0)
    nodes = np.array([[20, 120], [25, 70], [45, 30], [60, 22], [75, 32], [92, 75], [96, 118]])
    nodes = nodes + rng.normal(0, 1.0, nodes.shape)
    centre = nodes.mean(axis=0)
    ed = {"curve-lv-endo": Label.curve(nodes)}
    es = {"curve-lv-endo": Label.curve(centre + scale * (nodes - centre))}
    l_ed = lv_apical_frame(ed, CAL).endo_length_mm
    l_es = lv_apical_frame(es, CAL).endo_length_mm
    assert gls_pct(l_ed, l_es) == pytest.approx(100 * (scale - 1), abs=1e-9)


def test_apical_without_apex_or_hinges_uses_contour():
    labels = _half_ellipse_labels(70.0, 20.0, 0.0)
    f_full = lv_apical_frame(labels, CAL)
    f_curve = lv_apical_frame({"curve-lv-endo": labels["curve-lv-endo"]}, CAL)
    assert f_curve.length_mm == pytest.approx(f_full.length_mm, abs=0.05)
    assert f_curve.volume_ml == pytest.approx(f_full.volume_ml, rel=0.005)
    empty = lv_apical_frame({"curve-lv-endo": Label.blurred()}, CAL)
    assert math.isnan(empty.volume_ml) and math.isnan(empty.length_mm)
