"""Elastic augmentation: silent when off, bounded, and the labels move with the image."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from echomark.cache.keys import VideoCode
from echomark.cache.writer import CacheWriter
from echomark.data import transforms as tr
from echomark.data.config import AugmentConfig, DataConfig
from echomark.data.dataset import EchoDataset
from echomark.errors import ConfigError
from echomark.geometry.curves import dense_curve
from echomark.heatmaps import encode
from echomark.heatmaps.config import CodecConfig
from echomark.labels.schema import Label, LabelFile

HW = (96, 96)
ELASTIC = AugmentConfig(elastic_p=1.0, elastic_px=5.0, elastic_scale=0.34)


def strong_field(hw: tuple[int, int] = HW, config: AugmentConfig = ELASTIC) -> tr.ElasticField:
    """The first seeded field whose largest displacement is over half the allowed one."""
    for seed in range(50):
        field = tr.random_elastic_field(np.random.default_rng(seed), hw, config)
        assert field is not None
        if np.hypot(*field).max() > 0.5 * config.elastic_px:
            return field
    raise AssertionError("no strong field in 50 seeds")


def bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``image`` (H, W) float32 sampled at points ``xy`` (N, 2)."""
    maps = np.ascontiguousarray(xy, np.float32).reshape(-1, 1, 2)
    out = cv2.remap(image, maps, None, interpolation=cv2.INTER_LINEAR)
    return np.asarray(out, np.float64).ravel()


def centroid(image: np.ndarray, radius: int = 3) -> np.ndarray:
    """Sub-pixel (x, y) of the brightest spot: intensity centroid around the argmax."""
    y, x = np.unravel_index(int(np.argmax(image)), image.shape)
    win = image[y - radius : y + radius + 1, x - radius : x + radius + 1].astype(np.float64)
    win = np.clip(win - win.max() / 2, 0, None)  # half-max cut: only the spot counts
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return np.array([x + (win * xx).sum() / win.sum(), y + (win * yy).sum() / win.sum()])


def test_elastic_off_draws_nothing_and_dataset_items_are_unchanged(tmp_path: Path) -> None:
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert tr.random_elastic_field(a, HW, AugmentConfig()) is None  # elastic_p defaults to 0
    assert a.random() == b.random()
    root, labels = tiny_release(tmp_path)
    base = DataConfig(input_hw=(64, 64), codec=CodecConfig(strides=(4, 2)))
    other_off = dataclasses.replace(
        base, augment=AugmentConfig(elastic_p=0.0, elastic_px=9.0, elastic_scale=0.5)
    )
    on = dataclasses.replace(base, augment=dataclasses.replace(base.augment, elastic_p=1.0))
    items = [EchoDataset(root, labels, config=c, train=True)[(2, 0)] for c in (base, other_off, on)]
    assert torch.equal(items[0]["image"], items[1]["image"])
    assert all(
        torch.equal(p, q) for p, q in zip(items[0]["heatmaps"], items[1]["heatmaps"], strict=True)
    )
    assert not torch.equal(items[0]["image"], items[2]["image"])
    # Golden values from the code before elastic existed (same seed, same release).
    ds = EchoDataset(root, labels, config=base, train=True)
    for epoch, image_sum, target_sum, row in (
        (0, -1600.7451286744326, 344.7853732955342, [1.192610304, 0.766452451, -40.232504071]),
        (3, -980.3549232520163, 324.1645197496599, [0.899087879, 0.128866291, 3.935851452]),
    ):
        item = ds[(epoch, 0)]
        assert item["matrix"][0].tolist() == pytest.approx(row, abs=1e-8)
        assert float(item["image"].double().sum()) == pytest.approx(image_sum, rel=1e-6)
        assert float(item["heatmaps"][1].double().sum()) == pytest.approx(target_sum, rel=1e-6)


def test_field_is_bounded_smooth_and_drawn_with_its_probability() -> None:
    peaks = []
    for seed in range(20):
        field = tr.random_elastic_field(np.random.default_rng(seed), HW, ELASTIC)
        assert field is not None
        dx, dy = field
        assert dx.shape == dy.shape == HW and dx.dtype == np.float32
        peaks.append(float(np.hypot(dx, dy).max()))
        # Smooth: neighbouring pixels differ by a small fraction of a pixel.
        assert max(np.abs(np.diff(d, axis=ax)).max() for d in field for ax in (0, 1)) < 0.5
    assert max(peaks) <= ELASTIC.elastic_px + 1e-4
    assert max(peaks) > 0.8 * ELASTIC.elastic_px
    half = dataclasses.replace(ELASTIC, elastic_p=0.5)
    drawn = [tr.random_elastic_field(np.random.default_rng(s), HW, half) for s in range(200)]
    assert 70 < sum(f is not None for f in drawn) < 130


def test_point_label_follows_a_bright_dot() -> None:
    field = strong_field()
    p = np.array([40.3, 50.7])
    yy, xx = np.mgrid[0 : HW[0], 0 : HW[1]]
    dot = 255 * np.exp(-0.5 * ((xx - p[0]) ** 2 + (yy - p[1]) ** 2) / 2.0**2)
    image = np.rint(dot).astype(np.uint8)[:, :, None]
    warped = tr.elastic_warp_image(image, field)
    moved = tr.elastic_warp_labels({"p": Label.point(*p)}, field)["p"].xy[0]
    found = centroid(warped[:, :, 0])
    assert np.linalg.norm(moved - p) > 1.0  # the test would see a label left in place
    assert np.linalg.norm(found - moved) < 0.3
    assert np.linalg.norm(centroid(image[:, :, 0]) - p) < 0.05  # the finder itself is exact


def test_curve_densified_then_moved_stays_on_the_warped_ridge() -> None:
    field = strong_field()
    nodes = np.array([[15.0, 70.0], [30.0, 30.0], [50.0, 20.0], [70.0, 35.0], [80.0, 75.0]])
    dense = dense_curve(nodes, None, np.eye(3), 0.25)
    yy, xx = np.mgrid[0 : HW[0], 0 : HW[1]]
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float64)
    dist2 = np.min(((grid[:, None, :] - dense[None, :, :]) ** 2).sum(-1), axis=1)
    ridge = np.rint(255 * np.exp(-0.5 * dist2 / 1.5**2)).astype(np.uint8).reshape(HW)
    warped = tr.elastic_warp_image(ridge[:, :, None], field)[:, :, 0].astype(np.float32)
    # The dataset's path: the curve as dense nodes in input pixels, each node moved.
    dense_labels = tr.dense_input_labels({"c": Label.curve(nodes)}, np.eye(3), 1.0)
    moved = tr.elastic_warp_labels(dense_labels, field)["c"].xy
    curve = dense_curve(moved, None, np.eye(3), 1.0)[3:-3]  # ends: the ridge has caps
    tangent = np.gradient(curve, axis=0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) / np.linalg.norm(tangent, axis=1)[:, None]
    steps = np.linspace(-3.0, 3.0, 49)
    profile = np.stack([bilinear(warped, curve + t * normal) for t in steps], axis=1)
    profile = np.clip(profile - profile.max(axis=1, keepdims=True) / 2, 0, None)
    offset = (profile * steps).sum(axis=1) / profile.sum(axis=1)  # ridge centre on the normal
    assert np.abs(offset).max() < 0.2
    # Not a test that cannot fail: the unmoved curve is well off the warped ridge.
    still = dense_curve(nodes, None, np.eye(3), 1.0)[3:-3]
    assert bilinear(warped, still).min() < 0.7 * bilinear(warped, curve).min()
    # Moving only the sparse control nodes is not enough where the field bends faster
    # than the nodes are spaced, which is why the dataset densifies first.
    sparse = tr.elastic_warp_labels({"c": Label.curve(nodes)}, field)["c"].xy
    assert bilinear(warped, dense_curve(sparse, None, np.eye(3), 1.0)).min() < 0.9 * 255


def test_elastic_settings_are_validated() -> None:
    for kw, name in (
        ({"elastic_p": 1.5}, "elastic_p"),
        ({"elastic_px": -1.0}, "elastic_px"),
        ({"elastic_scale": 0.0}, "elastic_scale"),
        ({"elastic_scale": 1.5}, "elastic_scale"),
    ):
        with pytest.raises(ConfigError) as err:
            AugmentConfig(**kw)  # type: ignore[arg-type]
        assert err.value.field == name


VIDEO = VideoCode("01", "c3" * 32)
POINT_XY = (30.4, 33.7)


def tiny_release(root: Path) -> tuple[Path, LabelFile]:
    """One 64 x 64 frame: a bright dot at the point label on a grey ground."""
    yy, xx = np.mgrid[0:64, 0:64]
    dot = np.exp(-0.5 * ((xx - POINT_XY[0]) ** 2 + (yy - POINT_XY[1]) ** 2) / 1.5**2)
    CacheWriter(root).write(VIDEO.frame(0), np.rint(30 + 200 * dot).astype(np.uint8))
    curve = [[10.0, 50.0], [20.0, 20.0], [45.0, 15.0], [55.0, 45.0]]
    labels = {"lv-apex-endo": Label.point(*POINT_XY), "curve-lv-endo": Label.curve(curve)}
    return root, LabelFile(images={VIDEO.frame(0).name: labels}, source="fixture")


def test_dataset_elastic_targets_follow_the_image(tmp_path: Path) -> None:
    root, labels = tiny_release(tmp_path)
    augment = dataclasses.replace(
        AugmentConfig.none(), elastic_p=1.0, elastic_px=6.0, elastic_scale=0.5
    )
    codec = CodecConfig(strides=(4, 2), sigma_point=1.0, sigma_curve=1.0)
    cfg = DataConfig(input_hw=(64, 64), augment=augment, codec=codec)
    ds = EchoDataset(root, labels, config=cfg, train=True)
    moves = []
    for epoch in range(6):
        item = ds[(epoch, 0)]
        image = item["image"].numpy()[0]
        assert all(torch.isfinite(h).all() for h in item["heatmaps"])
        assert item["weights"][1].tolist() == [1.0, 1.0]
        blob = centroid(image)
        target = item["heatmaps"][1].numpy()[0]  # stride 2, the point channel
        peak = np.array(np.unravel_index(int(np.argmax(target)), target.shape)[::-1])
        assert np.abs(peak - blob / 2).max() <= 1.0
        assert np.linalg.norm(2 * centroid(target, radius=2) - blob) < 0.5
        moves.append(float(np.linalg.norm(blob - POINT_XY)))
    assert max(moves) > 1.5  # the warp did move the dot


def test_unrenderable_labels_keep_their_weights_through_the_warp() -> None:
    nan_curve = Label.curve([[10.0, 10.0], [np.nan, 20.0], [30.0, 30.0]])
    labels = {
        "nan": nan_curve,
        "one": Label.curve([[10.0, 10.0]]),
        "same": Label.curve([[10.0, 10.0], [10.0, 10.0]]),
        "off": Label.off(),
        "blurred": Label.blurred(),
        "good": Label.curve([[10.0, 10.0], [40.0, 60.0], [80.0, 20.0]]),
        "p": Label.point(20.0, 30.0),
    }
    names = list(labels)
    kinds = ["curve"] * 6 + ["point"]
    matrix = tr.scaling(0.9, 1.1, (48, 48))
    moved = tr.elastic_warp_labels(tr.dense_input_labels(labels, matrix, 2.0), strong_field())
    plain = encode(labels, names, kinds, matrix, HW)[0].weights
    warped = encode(moved, names, kinds, np.eye(3), HW)[0].weights
    assert plain.tolist() == warped.tolist() == [0, 0, 0, 1, 0, 1, 1]
    assert np.isnan(moved["nan"].xy[1]).all() and moved["off"] == labels["off"]
