"""Transforms: one matrix moves image content and labels identically; no flips."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from echomark.data import transforms as tr
from echomark.data.config import AugmentConfig, ResizeMode
from echomark.errors import ConfigError
from echomark.labels.schema import Label, LabelState

SIGMA = 2.5


def blob_image(hw: tuple[int, int], pts: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """Float image with a unit Gaussian blob centred at each sub-pixel (x, y)."""
    yy, xx = np.mgrid[0 : hw[0], 0 : hw[1]].astype(np.float64)
    img = np.zeros(hw)
    for x, y in pts:
        img += np.exp(-0.5 * ((xx - x) ** 2 + (yy - y) ** 2) / sigma**2)
    return img.astype(np.float32)


def centroid(img: np.ndarray, xy: np.ndarray, r: int) -> np.ndarray:
    """Intensity centroid (x, y) of the (2r+1)^2 window around xy."""
    x0, y0 = round(float(xy[0])), round(float(xy[1]))
    win = img[y0 - r : y0 + r + 1, x0 - r : x0 + r + 1].astype(np.float64)
    yy, xx = np.mgrid[y0 - r : y0 + r + 1, x0 - r : x0 + r + 1]
    return np.array([(win * xx).sum() / win.sum(), (win * yy).sum() / win.sum()])


def grid_points(rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
    """Four well separated sub-pixel points, one per quadrant of a frame."""
    h, w = hw
    base = np.array(
        [[0.3 * w, 0.3 * h], [0.7 * w, 0.3 * h], [0.3 * w, 0.7 * h], [0.7 * w, 0.7 * h]]
    )
    return base + rng.uniform(-0.05, 0.05, (4, 2)) * np.array([w, h])


def check_blobs_follow(
    src_hw: tuple[int, int], out_hw: tuple[int, int], m: np.ndarray, pts: np.ndarray
) -> int:
    """Warp a blob image with m; each blob must sit at m(point) and map back exactly."""
    out = tr.warp_image(blob_image(src_hw, pts), m, out_hw)
    inv = tr.invert(m)
    r = math.ceil(4 * SIGMA * np.abs(m[:2, :2]).sum(axis=1).max())
    checked = 0
    for p, q in zip(pts, tr.apply_to_points(m, pts), strict=True):
        if np.any(q < r + 1) or q[0] > out_hw[1] - r - 2 or q[1] > out_hw[0] - r - 2:
            continue  # blob cut by the border: its centroid is biased
        c = centroid(out, q, r)
        assert np.abs(c - q).max() < 0.05, (c, q, m)
        back = tr.apply_to_points(inv, c[None])[0]
        assert np.abs(back - p).max() < 0.05 * max(1.0, 1 / np.sqrt(abs(np.linalg.det(m[:2, :2]))))
        checked += 1
    return checked


def test_random_affines_move_image_and_labels_together() -> None:
    rng = np.random.default_rng(7)
    out_hw = (320, 320)
    checked = 0
    for _ in range(25):
        src_hw = (int(rng.integers(240, 400)), int(rng.integers(240, 400)))
        pts = grid_points(rng, src_hw)
        m = tr.random_affine(rng, out_hw, AugmentConfig()) @ tr.crop_pad_matrix(src_hw, out_hw)
        checked += check_blobs_follow(src_hw, out_hw, m, pts)
    assert checked >= 40


@pytest.mark.parametrize("src_hw", [(300, 420), (420, 300), (200, 200), (160, 400)])
def test_letterbox_and_crop_pad_move_blobs(src_hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    pts = grid_points(rng, src_hw)
    for mode in ResizeMode:
        m = tr.fit_matrix(src_hw, (256, 256), mode)
        assert check_blobs_follow(src_hw, (256, 256), m, pts) >= 1


def test_uint8_warp_is_accurate_too() -> None:
    rng = np.random.default_rng(11)
    src_hw, out_hw = (300, 300), (300, 300)
    pts = grid_points(rng, src_hw)
    img = np.rint(blob_image(src_hw, pts, 3.0) * 255).astype(np.uint8)
    m = tr.rotation(23.0, (149.5, 149.5)) @ tr.scaling(1.2, 0.9, (149.5, 149.5))
    out = tr.warp_image(img, m, out_hw)
    assert out.dtype == np.uint8
    for q in tr.apply_to_points(m, pts):
        assert np.abs(centroid(out, q, 16) - q).max() < 0.05


def test_warp_uses_pixel_centre_convention() -> None:
    img = np.zeros((9, 9), np.float32)
    img[2, 6] = 1.0  # x = 6, y = 2
    m = tr.rotation(90.0, (4.0, 4.0))  # maps the pixel grid onto itself
    out = tr.warp_image(img, m, (9, 9))
    x, y = tr.apply_to_points(m, [[6.0, 2.0]])[0]
    assert (round(x), round(y)) == (6, 6)
    assert out[6, 6] == pytest.approx(1.0, abs=1e-6)
    assert out.sum() == pytest.approx(1.0, abs=1e-6)


def test_integer_shift_fast_path_matches_opencv() -> None:
    img = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    for tx, ty in [(5, -3), (-20, 10), (0, 0), (-100, 0)]:
        m = tr.translation(tx, ty)
        ref = cv2.warpAffine(img, m[:2], (60, 40), flags=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(tr.warp_image(img, m, (40, 60)), ref)


def test_wide_channel_stacks_are_warped_per_channel() -> None:
    img = np.random.default_rng(1).random((40, 50, 9), dtype=np.float32)
    m = tr.rotation(10.0, (20, 20)) @ tr.scaling(1.1, 1.1)
    out = tr.warp_image(img, m, (32, 48))
    assert out.shape == (32, 48, 9)
    for c in (0, 4, 8):
        np.testing.assert_allclose(
            out[:, :, c], tr.warp_image(img[:, :, c], m, (32, 48)), atol=1e-6
        )


def test_crop_pad_hand_cases() -> None:
    np.testing.assert_array_equal(tr.crop_pad_matrix((608, 608), (608, 608)), np.eye(3))
    assert tr.crop_pad_matrix((600, 801), (608, 608))[:2, 2].tolist() == [-96.0, 4.0]
    img = np.arange(5 * 8, dtype=np.uint8).reshape(5, 8)
    out = tr.warp_image(img, tr.crop_pad_matrix((5, 8), (7, 4)), (7, 4))
    np.testing.assert_array_equal(out[0], 0)
    np.testing.assert_array_equal(out[1:6], img[:, 2:6])


def test_letterbox_fits_longer_side() -> None:
    m = tr.letterbox_matrix((400, 800), (608, 608))
    assert m[0, 0] == m[1, 1] == pytest.approx(0.76)
    corners = tr.apply_to_points(m, [[-0.5, -0.5], [799.5, 399.5]])
    np.testing.assert_allclose(corners, [[-0.5, 151.5], [607.5, 455.5]])


def test_inverse_round_trip() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        m = tr.random_affine(rng, (608, 608), AugmentConfig()) @ tr.letterbox_matrix(
            (480, 640), (608, 608)
        )
        pts = rng.uniform(0, 640, (10, 2))
        back = tr.apply_to_points(tr.invert(m), tr.apply_to_points(m, pts))
        np.testing.assert_allclose(back, pts, atol=1e-9)
        np.testing.assert_allclose(tr.invert(m) @ m, np.eye(3), atol=1e-12)


def test_no_flips_anywhere() -> None:
    rng = np.random.default_rng(9)
    wild = AugmentConfig(log_scale=2.0, log_aspect=1.0, rotate_deg=180.0, shear_deg=60.0)
    for cfg in (AugmentConfig(), wild):
        for _ in range(500):
            assert np.linalg.det(tr.random_affine(rng, (608, 608), cfg)[:2, :2]) > 0
    for mode in ResizeMode:
        assert np.linalg.det(tr.fit_matrix((300, 900), (608, 608), mode)[:2, :2]) > 0


def test_affine_ranges_follow_config() -> None:
    rng = np.random.default_rng(2)
    none = AugmentConfig(translate_frac=0, log_scale=0, log_aspect=0, rotate_deg=0, shear_deg=0)
    rot_only = AugmentConfig(translate_frac=0, log_scale=0, log_aspect=0, shear_deg=0)
    shift_only = AugmentConfig(log_scale=0, log_aspect=0, rotate_deg=0, shear_deg=0)
    centre = np.array([[303.5, 303.5]])
    angles, shifts = [], []
    for _ in range(300):
        np.testing.assert_allclose(tr.random_affine(rng, (608, 608), none), np.eye(3), atol=1e-12)
        m = tr.random_affine(rng, (608, 608), rot_only)
        np.testing.assert_allclose(tr.apply_to_points(m, centre), centre, atol=1e-9)
        angles.append(math.degrees(math.atan2(m[1, 0], m[0, 0])))
        shifts.append(tr.random_affine(rng, (608, 608), shift_only)[:2, 2])
    assert max(np.abs(angles)) <= 40 and max(np.abs(angles)) > 25
    assert np.abs(shifts).max() <= 0.125 * 608 and np.abs(shifts).max() > 60
    assert tr.random_affine(rng, (608, 608), AugmentConfig.none()).tolist() == np.eye(3).tolist()


def test_transform_labels_moves_points_and_curves() -> None:
    labels = {
        "p": Label.point(10.0, 20.0),
        "c": Label.curve([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]], straight=(True, False, False)),
        "o": Label.off(),
        "b": Label.blurred(),
    }
    m = tr.rotation(90.0) @ tr.translation(1, 2)
    out = tr.transform_labels(labels, m)
    np.testing.assert_allclose(out["p"].xy, [[-22.0, 11.0]], atol=1e-12)
    np.testing.assert_allclose(out["c"].xy, [[-2.0, 1.0], [-2.0, 11.0], [-12.0, 11.0]], atol=1e-12)
    assert out["c"].instances[0].straight == (True, False, False)
    assert out["c"].state is LabelState.CURVE
    assert out["o"] == labels["o"] and out["b"] == labels["b"]
    back = tr.transform_labels(out, tr.invert(m))
    np.testing.assert_allclose(back["c"].xy, labels["c"].xy, atol=1e-12)


def test_bad_matrices_are_refused() -> None:
    with pytest.raises(ConfigError):
        tr.check_affine(np.eye(2))
    with pytest.raises(ConfigError):
        tr.check_affine([[1, 0, 0], [0, 1, 0], [0.1, 0, 1]])
    with pytest.raises(ConfigError):
        tr.invert(np.diag([1.0, 0.0, 1.0]))


def test_intensity_and_erasing_draws() -> None:
    lut = tr.intensity_lut(gamma=0.5, gain=1.2, bias=-0.1)
    assert lut.dtype == np.uint8 and np.all(np.diff(lut.astype(int)) >= 0)
    assert tr.intensity_lut().tolist() == list(range(256))
    rng = np.random.default_rng(4)
    cfg = AugmentConfig(erase_p=1.0)
    for _ in range(200):
        box = tr.random_erase_box(rng, (100, 150), cfg)
        assert box is not None
        y0, y1, x0, x1 = box
        assert 0 <= y0 < y1 <= 100 and 0 <= x0 < x1 <= 150
        assert 0.04 <= (y1 - y0) * (x1 - x0) / 15000 <= 0.16
    assert tr.random_erase_box(rng, (100, 150), AugmentConfig(erase_p=0.0)) is None
    assert tr.random_intensity_lut(rng, AugmentConfig.none()) is None


def test_to_channels_grey_rgb_rgba() -> None:
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert tr.to_channels(grey, 1).shape == (2, 3, 1)
    np.testing.assert_array_equal(tr.to_channels(grey, 3)[:, :, 2], grey)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 255
    assert tr.to_channels(rgba, 3).shape == (2, 2, 3)
    assert tr.to_channels(rgba, 1).ravel().tolist() == [round(0.587 * 200)] * 4


def test_warp_frames_joint_and_separate_paths_agree() -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (9, 11, 1), dtype=np.uint8) for _ in range(3)]
    m = tr.rotation(7.0, (5.0, 4.0))
    joint = tr.warp_frames(frames, m, (8, 10), 1)  # 3 channels: one warp
    gap = tr.warp_frames([frames[0], None, frames[2]], m, (8, 10), 1)  # per frame
    np.testing.assert_array_equal(gap[:, :, [0, 2]], joint[:, :, [0, 2]])
    assert not gap[:, :, 1].any() and joint[:, :, 1].any()
