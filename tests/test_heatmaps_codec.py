"""Heatmap codec: targets and weights, the dense oracle, and encode -> decode round trips."""

import numpy as np
import pytest

from echomark.errors import ConfigError
from echomark.geometry import curve_distances, dense_curves, sample_curve
from echomark.geometry.transform import apply_matrix
from echomark.heatmaps import CodecConfig, StrideCombine, decode, dense_curve, encode
from echomark.heatmaps.oracle import a4c_like_sample, encode_dense
from echomark.labels.registry import LabelKind
from echomark.labels.schema import Instance, Label, LabelState

EYE = np.eye(3)


def _rot(deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(deg)
    m = np.eye(3)
    m[:2, :2] = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m[:2, 2] = (tx, ty)
    return m


def test_config_validation_and_sizes() -> None:
    cfg = CodecConfig()
    assert cfg.strides == (4, 2) and cfg.sigma_point == 4.0 and cfg.sigma_curve == 2.0
    assert np.exp(-0.5 * cfg.window_k**2) < 1e-3
    assert cfg.target_hw((608, 607), 4) == (152, 152)
    assert cfg.target_hw((607, 5), 2) == (304, 3)
    for bad in ({"window_k": 3.0}, {"strides": (2, 2)}, {"strides": ()}, {"sigma_point": 0.0}):
        with pytest.raises(ConfigError):
            CodecConfig(**bad)
    with pytest.raises(ConfigError):
        CodecConfig(presence_threshold=1.5)


def test_encode_states_weights_and_dtype() -> None:
    labels = {
        "p": Label.point(20.0, 12.0),
        "c": Label.curve([[4.0, 4.0], [30.0, 6.0], [50.0, 30.0]]),
        "off": Label.off(),
        "blur": Label.blurred(),
        "wrong-kind": Label.point(5.0, 5.0),
        "two-nodes-point": Label(LabelState.POINT, (Instance(np.array([[1.0, 1.0], [2.0, 2.0]])),)),
        "nan": Label.point(float("nan"), 3.0),
        "one-node-curve": Label(LabelState.CURVE, (Instance(np.array([[3.0, 3.0]])),)),
    }
    channels = [*labels, "missing"]
    kinds: list[LabelKind | str] = [LabelKind.POINT, LabelKind.CURVE, LabelKind.POINT]
    kinds += [LabelKind.CURVE, "curve", "point", "point", "curve", "point"]
    enc = encode(labels, channels, kinds, EYE, (61, 70))
    assert [e.stride for e in enc] == [4, 2]
    assert [e.heatmaps.shape for e in enc] == [(9, 16, 18), (9, 31, 35)]
    for e in enc:
        assert e.heatmaps.dtype == np.float32 and e.weights.dtype == np.float32
        assert e.weights.tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0]
        assert float(e.heatmaps[0].max()) == 1.0  # point at a pixel centre of both strides
        assert float(e.heatmaps[1].max()) == pytest.approx(1.0, abs=1e-3)
        assert not e.heatmaps[2:].any()


def test_point_target_values_and_window() -> None:
    enc = encode({"p": Label.point(41.0, 23.0)}, ["p"], ["point"], EYE, (80, 96))
    hm = enc[1].heatmaps[0]  # stride 2: centre (20.5, 11.5), sigma 4
    yy, xx = np.mgrid[0 : hm.shape[0], 0 : hm.shape[1]]
    full = np.exp(-((xx - 20.5) ** 2 + (yy - 11.5) ** 2) / 32.0)
    assert np.abs(hm - full).max() < 1e-3
    inside = (np.abs(xx - 20.5) <= 15) & (np.abs(yy - 11.5) <= 15)
    assert np.abs(hm - full)[inside].max() < 1e-6
    assert not hm[~inside].any()


def test_instances_combine_by_max() -> None:
    two = Label(
        LabelState.POINT,
        (Instance(np.array([[10.0, 10.0]])), Instance(np.array([[40.0, 20.0]]))),
    )
    hm = encode({"p": two}, ["p"], ["point"], EYE, (40, 64))[1].heatmaps[0]
    assert hm[5, 5] == 1.0 and hm[10, 20] == 1.0
    curves = Label(
        LabelState.CURVE,
        (
            Instance(np.array([[4.0, 8.0], [60.0, 8.0]])),
            Instance(np.array([[4.0, 14.0], [60.0, 14.0]])),
        ),
    )
    hm = encode({"c": curves}, ["c"], ["curve"], EYE, (40, 64))[1].heatmaps[0]
    # Rows 4 and 7 (input 8 and 14) are both ridges; row 5.5 is between them.
    assert hm[4, 10] == pytest.approx(1.0) and hm[7, 10] == pytest.approx(1.0)
    assert hm[5, 10] == pytest.approx(np.exp(-1 / 8), abs=1e-6)


def test_encode_matches_dense_oracle() -> None:
    labels, channels, kinds, matrix, hw = a4c_like_sample(1, n_channels=24, input_hw=(304, 288))
    fast = encode(labels, channels, kinds, matrix, hw)
    dense = encode_dense(labels, channels, kinds, matrix, hw, spacing=0.2)
    for f, d in zip(fast, dense, strict=True):
        assert f.heatmaps.shape == d.heatmaps.shape
        assert np.array_equal(f.weights, d.weights)
        assert np.abs(f.heatmaps - d.heatmaps).max() < 1e-3


def test_oracle_match_under_shear_and_tight_bends() -> None:
    # Anisotropic scale + shear, a hairpin whose arms are closer than the band, a corner.
    m = np.array([[0.7, 0.25, 6.0], [-0.1, 0.45, 3.0], [0.0, 0.0, 1.0]])
    hairpin = [[20, 20], [120, 24], [140, 40], [120, 56], [20, 60]]
    corner = [[20, 100], [80, 100], [80, 160], [140, 170]]
    labels = {
        "hairpin": Label.curve(hairpin),
        "corner": Label.curve(corner, (False, True, False, False)),
        "dot": Label.point(70.0, 80.0),
    }
    channels = list(labels)
    kinds = ["curve", "curve", "point"]
    fast = encode(labels, channels, kinds, m, (100, 130))
    dense = encode_dense(labels, channels, kinds, m, (100, 130))
    for f, d in zip(fast, dense, strict=True):
        assert np.abs(f.heatmaps - d.heatmaps).max() < 1e-3


def test_corner_stays_a_vertex_at_coarser_strides() -> None:
    # The stride-4 polyline is every other stride-2 point. Here the corner (a straight
    # segment of 30.5 px, 37 parameter steps, meeting the spline) has an odd index: it used
    # to be dropped at stride 4, cutting the corner (~5e-3 off the dense checker).
    xy = [[10.0, 40.0], [40.5, 40.0], [60.0, 20.0], [85.0, 35.0], [90.0, 60.0]]
    labels = {"c": Label.curve(xy, (True, False, False, False, False))}
    fast = encode(labels, ["c"], ["curve"], EYE, (72, 104))
    dense = encode_dense(labels, ["c"], ["curve"], EYE, (72, 104), spacing=0.25)
    for f, d in zip(fast, dense, strict=True):
        assert np.abs(f.heatmaps - d.heatmaps).max() < 1e-3, f.stride


def test_dense_curves_batch_equals_single_curves() -> None:
    curves = [
        Instance(np.array([[10.0, 50.0], [40.0, 10.0], [90.0, 30.0], [120.0, 80.0]])),
        Instance(np.array([[0.0, 0.0], [30.0, 4.0]])),
        Instance(
            np.array([[5.0, 5.0], [5.0, 5.0], [60.0, 20.0], [80.0, 70.0], [20.0, 90.0]]),
            (False, False, True, False, False),
        ),
    ]
    projective = np.array([[0.9, 0.2, 4.0], [-0.1, 0.7, 2.0], [0.002, -0.001, 1.0]])
    for m in (_rot(25, 0.8, 3, 7), projective):
        for spacing in (1.0, 0.3):
            batch = dense_curves([(c.xy, c.straight) for c in curves], m, spacing)
            for got, inst in zip(batch, curves, strict=True):
                want = dense_curve(inst, m, spacing)
                assert got.shape == want.shape
                assert np.abs(got - want).max() < 1e-9
                assert np.hypot(*np.diff(got, axis=0).T).max() <= spacing * (1 + 1e-9)


def test_curve_is_sampled_in_source_then_mapped() -> None:
    nodes = np.array([[10.0, 50.0], [40.0, 10.0], [90.0, 30.0], [120.0, 80.0]])
    labels = {"c": Label.curve(nodes)}
    # A similarity transform commutes with chord-length splines: both routes agree.
    sim = _rot(20, 0.8, 15, 5)
    moved = {"c": Label.curve(apply_matrix(sim, nodes))}
    a = encode(labels, ["c"], ["curve"], sim, (120, 140))
    b = encode(moved, ["c"], ["curve"], EYE, (120, 140))
    for x, y in zip(a, b, strict=True):
        assert np.abs(x.heatmaps - y.heatmaps).max() < 2e-3
    # Under anisotropic scale they differ, and the encoder follows the source curve.
    aniso = np.diag([1.0, 0.4, 1.0])
    src_route = dense_curve(Instance(nodes), aniso, 0.1)
    node_route = sample_curve(apply_matrix(aniso, nodes), spacing=0.1)
    assert curve_distances(src_route, node_route)[1] > 0.3
    hm = encode(labels, ["c"], ["curve"], aniso, (60, 140))[1].heatmaps[0]
    on_curve = np.round(src_route[::10] / 2).astype(int)
    on_curve = on_curve[(on_curve[:, 1] < hm.shape[0]) & (on_curve[:, 0] < hm.shape[1])]
    assert hm[on_curve[:, 1], on_curve[:, 0]].min() > 0.9


def _point_grid(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    xs = [0.0, 0.4, w / 2 + 0.37, w - 1.3, w - 1.0]
    ys = [0.0, 0.6, h / 2 - 0.21, h - 1.45, h - 1.0]
    grid = np.array([[x, y] for x in xs for y in ys])
    return np.concatenate([grid, rng.uniform([0, 0], [w - 1, h - 1], (15, 2))])


@pytest.mark.parametrize("stride", [4, 2])
def test_point_round_trip_subpixel_without_drift(stride: int) -> None:
    h, w = 250, 318
    pts = _point_grid(h, w, np.random.default_rng(stride))
    names = [f"p{i}" for i in range(len(pts))]
    labels = {n: Label.point(x, y) for n, (x, y) in zip(names, pts, strict=True)}
    cfg = CodecConfig(strides=(stride,))
    enc = encode(labels, names, ["point"] * len(names), EYE, (h, w), cfg)
    dec = decode([enc[0].heatmaps], names, ["point"] * len(names), cfg)
    got = np.array([dec[n].xy[0] for n in names])
    err = np.hypot(*(got - pts).T)
    assert err.mean() < 0.05 and err.max() < 0.1
    # No drift: the error does not grow with the position.
    assert np.abs(np.polyfit(pts[:, 0], got[:, 0] - pts[:, 0], 1)[0]) < 1e-4
    assert all(dec[n].instances[0].conf == pytest.approx(1.0, abs=0.05) for n in names)


CURVES = {
    "arc": ([[30, 150], [60, 60], [130, 30], [200, 60], [230, 150]], None),
    "s-shape": ([[20, 200], [80, 170], [130, 210], [190, 180], [250, 215]], None),
    "with-line": ([[40, 100], [90, 90], [160, 90], [200, 120]], (False, True, False, False)),
}


@pytest.mark.parametrize("stride", [4, 2])
def test_curve_round_trip_free_ends(stride: int) -> None:
    labels = {n: Label.curve(xy, flags) for n, (xy, flags) in CURVES.items()}
    names = list(labels)
    cfg = CodecConfig(strides=(stride,))
    enc = encode(labels, names, ["curve"] * 3, EYE, (240, 270), cfg)
    dec = decode([enc[0].heatmaps], names, ["curve"] * 3, cfg, anchors={})
    for n in names:
        assert dec[n].state is LabelState.CURVE
        inst = dec[n].instances[0]
        assert cfg.decoded_nodes_min <= len(inst.xy) <= cfg.decoded_nodes_max
        truth = sample_curve(*CURVES[n], spacing=0.25)
        mean, _ = curve_distances(truth, sample_curve(inst.xy, spacing=0.25))
        assert mean < 0.5, n
        assert inst.conf is not None and inst.conf > 0.8


LV_KINDS = ["point", "point", "point", "curve"]


def _lv_set(lv: np.ndarray, apex_xy: np.ndarray) -> tuple[dict[str, Label], list[str]]:
    """Hinges at the outline's ends, the apex point and the outline; and the label names."""
    labels = {
        "mv-ant-hinge": Label.point(*lv[0]),
        "lv-apex-endo": Label.point(*apex_xy),
        "mv-post-hinge": Label.point(*lv[-1]),
        "curve-lv-endo": Label.curve(lv),
    }
    return labels, list(labels)


def test_curve_round_trip_through_anchors() -> None:
    theta = np.linspace(0.15 * np.pi, 1.85 * np.pi, 11)
    lv = np.stack([130 + 60 * np.sin(theta), 60 + 140 * (1 - np.cos(theta)) / 2], axis=1)
    lv = lv[::-1] * [1, -1] + [0, 300]  # apex at the top
    apex = sample_curve(lv, spacing=0.5)
    labels, names = _lv_set(lv, apex[np.argmin(apex[:, 1])])
    kinds = LV_KINDS
    enc = encode(labels, names, kinds, EYE, (320, 260))
    for which in (0, 1):
        cfg = CodecConfig(strides=(enc[which].stride,))
        dec = decode([enc[which].heatmaps], names, kinds, cfg)  # default anchors
        got = dec["curve-lv-endo"].xy
        assert np.allclose(got[0], lv[0], atol=0.1) and np.allclose(got[-1], lv[-1], atol=0.1)
        mean, _ = curve_distances(sample_curve(lv, spacing=0.25), sample_curve(got, spacing=0.25))
        assert mean < 0.5
    # An apex decoded far off the curve cannot anchor it: the free ridge is traced instead.
    far = dict(labels, **{"lv-apex-endo": Label.point(130.0, 150.0)})
    enc = encode(far, names, kinds, EYE, (320, 260))
    dec = decode([enc[1].heatmaps], names, kinds, CodecConfig(strides=(2,)))
    got = dec["curve-lv-endo"].xy
    mean, _ = curve_distances(sample_curve(lv, spacing=0.25), sample_curve(got, spacing=0.25))
    assert dec["curve-lv-endo"].state is LabelState.CURVE and mean < 0.5


def _narrow_lv(half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """An LV outline (hinge, apex at the top, hinge) with a tight apex, and that apex."""
    t = np.linspace(-np.pi / 2, np.pi / 2, 13)
    # 120 px long, round at the top only (a real apex's radius is about the half width)
    x = 128 + half_width * np.sin(t)
    y = 200 - 120 * np.cos(t) ** 0.6
    lv = np.stack([x, y], axis=1)
    dense = sample_curve(lv, spacing=0.1)
    return lv, dense[np.argmin(dense[:, 1])]


@pytest.mark.parametrize("half_width", [22.0, 26.0, 31.0])
def test_an_anchored_outline_keeps_its_apex(half_width: float) -> None:
    # Control points spaced evenly from hinge to hinge (24 px) fall either side of a
    # tight apex, and the spline through them cut it by up to 5 px on oracle LV outlines.
    lv, apex = _narrow_lv(half_width)
    labels, names = _lv_set(lv, apex)
    cfg = CodecConfig(strides=(4, 2), points_on_curves={"lv-apex-endo": "curve-lv-endo"})
    enc = encode(labels, names, LV_KINDS, EYE, (256, 256), cfg)
    dec = decode([e.heatmaps for e in enc], names, LV_KINDS, cfg)
    got = sample_curve(dec["curve-lv-endo"].xy, spacing=0.1)
    assert np.min(np.hypot(*(got - apex).T)) < 0.5
    # the apex read off the outline is the apex, not a point of a cut corner
    assert np.hypot(*(dec["lv-apex-endo"].xy[0] - apex)) < 0.5
    _, worst = curve_distances(sample_curve(lv, spacing=0.1), got)
    assert worst < 1.0


def test_an_apex_peak_off_the_ridge_does_not_drag_the_outline() -> None:
    # A network's apex peak a few pixels into the myocardium: the outline stays on its
    # own ridge (the anchor moves to it) instead of detouring through the peak.
    lv, apex = _narrow_lv(22.0)
    labels, names = _lv_set(lv, apex - [0.0, 6.0])
    cfg = CodecConfig(strides=(4, 2))
    enc = encode(labels, names, LV_KINDS, EYE, (256, 256), cfg)
    dec = decode([e.heatmaps for e in enc], names, LV_KINDS, cfg)
    got = sample_curve(dec["curve-lv-endo"].xy, spacing=0.1)
    assert got[:, 1].min() > apex[1] - 1.0  # no spike up to the peak
    _, worst = curve_distances(sample_curve(lv, spacing=0.1), got)
    assert worst < 1.0


def test_decode_presence_combine_and_errors() -> None:
    cfg = CodecConfig()
    labels = {"p": Label.point(33.3, 21.7), "c": Label.curve([[5, 5], [40, 30], [70, 10]])}
    enc = encode(labels, ["p", "c", "q", "d"], ["point", "curve", "point", "curve"], EYE, (48, 80))
    maps = [e.heatmaps for e in enc]
    dec = decode(maps, ["p", "c", "q", "d"], ["point", "curve", "point", "curve"], cfg, anchors={})
    assert dec["q"].state is LabelState.OFF and dec["d"].state is LabelState.OFF
    assert dec["p"].state is LabelState.POINT and dec["c"].state is LabelState.CURVE
    mean_cfg = CodecConfig(combine=StrideCombine.MEAN)
    both = decode(
        maps, ["p", "c", "q", "d"], ["point", "curve", "point", "curve"], mean_cfg, anchors={}
    )
    assert np.allclose(both["p"].xy[0], [33.3, 21.7], atol=0.02)
    weak = [m * 0.05 for m in maps]
    assert (
        decode(weak, ["p", "c", "q", "d"], ["point"] * 2 + ["curve"] * 2, cfg)["p"].state
        is LabelState.OFF
    )
    with pytest.raises(ValueError):
        decode(maps[:1], ["p", "c", "q", "d"], ["point"] * 4, cfg)
    with pytest.raises(ValueError):
        decode(maps, ["p"], ["point"], cfg)


def test_decode_saturated_plateau_is_stable() -> None:
    # Sigmoid outputs saturate at 1.0: the decoded point is the plateau's centre, and tiny
    # numerical differences (e.g. torch vs ONNX) do not move it.
    hm = np.full((1, 20, 30), 0.2, np.float32)
    hm[0, 7:10, 11:15] = 1.0
    rng = np.random.default_rng(0)
    cfg = CodecConfig(strides=(2,))
    got = [
        decode([hm + rng.normal(0, 1e-6, hm.shape).astype(np.float32)], ["p"], ["point"], cfg)[
            "p"
        ].xy[0]
        for _ in range(3)
    ]
    for xy in got:
        assert np.allclose(xy, [2 * 12.5, 2 * 8.0], atol=1e-9)


#: Positions near both edges of an axis of length n: the first and last input pixels,
#: fractions around them, and the image borders (-0.5, n - 0.5).
def _edge_positions(n: int) -> list[float]:
    return [-0.5, -0.4, 0.0, 0.3, n - 1.4, n - 1.0, n - 0.9, n - 0.6, n - 0.5]


def test_point_at_last_input_pixel_of_stride_4_is_not_clipped() -> None:
    # The reported case: x = 607.4 of a 608-wide input is heatmap 151.85 on a 152-wide map,
    # 1.85 px from the edge-moved stencil; it used to decode as 606.0.
    cfg = CodecConfig(strides=(4,))
    enc = encode({"p": Label.point(607.4, 300.2)}, ["p"], ["point"], EYE, (608, 608), cfg)
    got = decode([enc[0].heatmaps], ["p"], ["point"], cfg, input_hw=(608, 608))["p"].xy[0]
    assert np.allclose(got, [607.4, 300.2], atol=1e-3)


@pytest.mark.parametrize("combine", list(StrideCombine))
@pytest.mark.parametrize("strides", [(1,), (2,), (4,), (8,), (4, 2), (8, 4)])
def test_edge_points_decode_without_bias(strides: tuple[int, ...], combine: StrideCombine) -> None:
    h, w = 64, 96  # divisible by every stride: the last input pixel is (s - 1) / s past the map
    pts = np.array([[x, y] for x in _edge_positions(w) for y in _edge_positions(h)])
    names = [f"p{i}" for i in range(len(pts))]
    labels = {n: Label.point(x, y) for n, (x, y) in zip(names, pts, strict=True)}
    cfg = CodecConfig(strides=strides, combine=combine)
    kinds = ["point"] * len(names)
    maps = [e.heatmaps for e in encode(labels, names, kinds, EYE, (h, w), cfg)]
    for hw in ((h, w), None):  # clamped to the image, or to the area the maps cover
        dec = decode(maps, names, kinds, cfg, input_hw=hw)
        got = np.array([dec[n].xy[0] for n in names])
        assert np.abs(got - pts).max() < 1e-3


@pytest.mark.parametrize("stride", [2, 4, 8])
def test_edge_curves_decode_without_bias(stride: int) -> None:
    # A curve hugging the right edge from the top-right to the bottom-right input pixel,
    # traced through its anchor points (decoded at the corners) and with free ends.
    h, w = 160, 128
    xy = np.array(
        [[w - 1.0, 0.0], [w - 0.7, 40.0], [w - 1.3, 80.0], [w - 0.8, 120.0], [w - 1.0, h - 1.0]]
    )
    labels = {"a": Label.point(*xy[0]), "b": Label.point(*xy[-1]), "c": Label.curve(xy)}
    names, kinds = ["a", "b", "c"], ["point", "point", "curve"]
    cfg = CodecConfig(strides=(stride,))
    maps = [e.heatmaps for e in encode(labels, names, kinds, EYE, (h, w), cfg)]
    truth = sample_curve(xy, spacing=0.25)
    for anchors in ({"c": ("a", "b")}, {}):
        dec = decode(maps, names, kinds, cfg, anchors=anchors, input_hw=(h, w))
        got = dec["c"].xy
        assert dec["c"].state is LabelState.CURVE
        mean, _ = curve_distances(truth, sample_curve(got, spacing=0.25))
        assert mean < (0.25 if anchors else 0.5), anchors  # free ends are found less exactly
        if anchors:
            assert np.allclose(got[[0, -1]], xy[[0, -1]], atol=1e-3)
