"""Curve sampling, lengths, distances and matrix helpers of echomark.geometry."""

import math

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from echomark.geometry import (
    curve_distances,
    curve_length,
    point_to_polyline_distance,
    polyline_length,
    resample_polyline,
    sample_curve,
)
from echomark.geometry.curves import spline_points, spline_points_many
from echomark.geometry.transform import apply_matrix, as_matrix, is_affine, max_scale

NODES = np.array([[10.0, 40.0], [30.0, 12.0], [55.0, 8.0], [80.0, 25.0], [90.0, 60.0]])


def test_spline_passes_through_every_node() -> None:
    pts = spline_points(NODES, step=0.5)
    for node in NODES:
        assert np.min(np.hypot(*(pts - node).T)) < 1e-9
    dense = sample_curve(NODES, spacing=0.5)
    assert point_to_polyline_distance(NODES, dense).max() < 1e-3
    assert np.allclose(dense[0], NODES[0]) and np.allclose(dense[-1], NODES[-1])


def test_spline_is_natural_and_smooth() -> None:
    # Natural end conditions: zero second derivative at both ends, i.e. the end
    # sections are nearly straight; and no kinks: turning per step stays small.
    pts = sample_curve(NODES, spacing=0.25)
    d = np.diff(pts, axis=0)
    ang = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
    assert np.abs(np.diff(ang)).max() < 0.05
    curv_start = abs(ang[2] - ang[1])
    curv_mid = np.abs(np.diff(ang))[len(ang) // 2]
    assert curv_start < 0.3 * curv_mid + 1e-3


def test_sample_spacing_is_uniform_and_bounded() -> None:
    pts = sample_curve(NODES, spacing=0.7)
    seg = np.hypot(*np.diff(pts, axis=0).T)
    assert seg.max() <= 0.7 + 1e-9
    assert seg.std() / seg.mean() < 0.01


def test_straight_segments_are_straight() -> None:
    straight = (False, True, False, False, False)
    pts = sample_curve(NODES, straight, spacing=0.25)
    a, b = NODES[1], NODES[2]
    u = (b - a) / np.linalg.norm(b - a)
    t = (pts - a) @ u
    between = (t > 0.5) & (t < np.linalg.norm(b - a) - 0.5)
    normal_offset = np.abs((pts[between] - a) @ np.array([-u[1], u[0]]))
    # Points near the straight span lie on the chord (the spline parts meet it only at
    # the nodes, and these are well inside).
    on_line = normal_offset < 1e-6
    assert on_line.sum() >= int(np.linalg.norm(b - a) / 0.25) - 6
    # Without the flag the same span bows away from the chord.
    curved = sample_curve(NODES, spacing=0.25)
    t2 = (curved - a) @ u
    mid = np.abs(t2 - np.linalg.norm(b - a) / 2) < 0.5
    assert np.abs((curved[mid] - a) @ np.array([-u[1], u[0]])).max() > 0.5


def test_all_straight_curve_is_the_polyline() -> None:
    flags = (True,) * len(NODES)
    assert curve_length(NODES, flags) == pytest.approx(polyline_length(NODES), abs=1e-9)


def test_circle_length_and_shape() -> None:
    # 17 nodes on a circle of radius 50 (closed by repeating the first node): the spline
    # length is within 0.1 % of 2 pi r except near the natural (unclamped) joint.
    ang = np.linspace(0, 2 * np.pi, 17)
    nodes = np.stack([100 + 50 * np.cos(ang), 80 + 50 * np.sin(ang)], axis=1)
    length = curve_length(nodes, spacing=0.1)
    assert length == pytest.approx(2 * math.pi * 50, rel=2e-3)
    pts = sample_curve(nodes, spacing=0.5)
    radius = np.hypot(pts[:, 0] - 100, pts[:, 1] - 80)
    inner = slice(len(pts) // 8, -len(pts) // 8)
    assert np.abs(radius[inner] - 50).max() < 0.05


def test_length_is_scale_equivariant() -> None:
    assert curve_length(NODES * 3) == pytest.approx(3 * curve_length(NODES), rel=1e-4)


def test_duplicate_nodes_and_single_node() -> None:
    doubled = np.repeat(NODES, 2, axis=0)
    assert np.allclose(sample_curve(doubled, spacing=1.0), sample_curve(NODES, spacing=1.0))
    assert sample_curve([[3.0, 4.0]]).tolist() == [[3.0, 4.0]]
    with pytest.raises(ValueError):
        sample_curve(NODES, spacing=0)


def test_point_to_polyline_distance_cases() -> None:
    poly = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    q = np.array([[5.0, 3.0], [-4.0, 3.0], [12.0, 5.0], [13.0, 14.0], [10.0, 0.0]])
    assert point_to_polyline_distance(q, poly).tolist() == pytest.approx([3, 5, 2, 5, 0])
    # Chunking does not change the answer.
    rng = np.random.default_rng(0)
    many = rng.uniform(-5, 15, (1000, 2))
    assert np.array_equal(
        point_to_polyline_distance(many, poly, chunk=7), point_to_polyline_distance(many, poly)
    )


def test_curve_distances_symmetric_and_hausdorff() -> None:
    a = resample_polyline([[0, 0], [20, 0]], 0.1)
    b = resample_polyline([[0, 2], [20, 2], [20, 6]], 0.1)
    mean, haus = curve_distances(a, b)
    assert haus == pytest.approx(6.0, abs=1e-6)
    assert curve_distances(b, a) == pytest.approx((mean, haus))
    # a -> b is 2 everywhere; b -> a is 2 on the first leg and 2..6 on the second.
    b_to_a = point_to_polyline_distance(b, a).mean()
    assert mean == pytest.approx(0.5 * (2.0 + b_to_a), abs=1e-9)
    assert curve_distances(a, a) == (0.0, 0.0)


def test_matrix_helpers() -> None:
    m = np.array([[0.0, -2.0, 5.0], [2.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert is_affine(m)
    assert max_scale(m) == pytest.approx(2.0)
    assert apply_matrix(m, [[1.0, 0.0]]).tolist() == [[5.0, 3.0]]
    persp = np.array([[1.0, 0, 0], [0, 1.0, 0], [0.01, 0, 1.0]])
    assert apply_matrix(persp, [[100.0, 50.0]]).tolist() == [[50.0, 25.0]]
    with pytest.raises(ValueError):
        as_matrix(np.eye(2))
    with pytest.raises(ValueError):
        as_matrix(np.array([[np.nan, 0, 0], [0, 1, 0], [0, 0, 1]]))


def _chord_params(nodes: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Chord-length knots and the parameters spline_points samples at (its documented rule:
    ceil(chord / step) equal steps per segment, then the last node)."""
    chords = np.hypot(*np.diff(nodes, axis=0).T)
    t = np.concatenate([[0.0], np.cumsum(chords)])
    n = np.maximum(np.ceil(chords / step), 1).astype(int)
    tq = [t[i] + np.arange(k) * chords[i] / k for i, k in enumerate(n)]
    return t, np.concatenate([*tq, t[-1:]])


@pytest.mark.parametrize("step", [0.5, 3.0])
def test_spline_equals_scipy_natural_cubic_spline(step: float) -> None:
    rng = np.random.default_rng(7)
    for nodes in (NODES, np.cumsum(rng.normal(0, 20, (12, 2)), axis=0), NODES[:3]):
        t, tq = _chord_params(nodes, step)
        want = CubicSpline(t, nodes, bc_type="natural")(tq)
        assert np.abs(spline_points(nodes, step=step) - want).max() < 1e-9
    # A straight segment restarts the spline: natural pieces either side of a line.
    straight = (False, False, True, False, False)
    left, right = NODES[:3], NODES[3:]
    tl, ql = _chord_params(left, step)
    tr, qr = _chord_params(right, step)
    line = np.linspace(0, 1, int(np.ceil(np.hypot(*(NODES[3] - NODES[2])) / step)) + 1)[:-1]
    want = np.concatenate(
        [
            CubicSpline(tl, left, bc_type="natural")(ql[:-1]),
            NODES[2] + line[:, None] * (NODES[3] - NODES[2]),
            CubicSpline(tr, right, bc_type="natural")(qr),
        ]
    )
    assert np.abs(spline_points(NODES, straight, step) - want).max() < 1e-9
    # Duplicate nodes are dropped before the chord lengths are taken.
    doubled = np.repeat(NODES, 2, axis=0)
    assert np.array_equal(spline_points(doubled, step=step), spline_points(NODES, step=step))


def test_spline_points_many_equals_one_by_one() -> None:
    curves = [(NODES, None), (NODES[:2], None), (NODES[:1], None), (NODES, (True,) * 5)]
    many = spline_points_many(curves, 0.4)
    for got, (xy, flags) in zip(many, curves, strict=True):
        assert np.array_equal(got, spline_points(xy, flags, 0.4))
    assert [
        len(p) for p in spline_points_many([(np.zeros((0, 2)), None), (NODES[:1], None)], 1.0)
    ] == [0, 1]
