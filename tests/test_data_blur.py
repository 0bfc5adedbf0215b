"""Blur augmentation: optional, label-safe, and silent (no random draws) when off."""

from __future__ import annotations

import numpy as np
import pytest

from echomark.data import transforms as tr
from echomark.data.config import AugmentConfig
from echomark.errors import ConfigError


def test_blur_spreads_a_dot_and_keeps_shape_and_mean() -> None:
    img = np.zeros((31, 31, 2), np.uint8)
    img[15, 15] = 255
    out = tr.random_blur(img, np.random.default_rng(1), AugmentConfig(blur_p=1.0, blur_sigma=2.0))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert out[15, 15, 0] < 255 and out[15, 17, 0] > 0
    assert out[..., 0].sum() == pytest.approx(img[..., 0].sum(), rel=0.05)


def test_blur_off_draws_nothing_from_the_generator() -> None:
    img = np.full((8, 8, 1), 7, np.uint8)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert tr.random_blur(img, a, AugmentConfig()) is img  # blur_p defaults to 0
    assert a.random() == b.random()


def test_blur_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="blur_sigma"):
        AugmentConfig(blur_sigma=0.1)
    with pytest.raises(ConfigError):
        AugmentConfig(blur_p=1.5)
