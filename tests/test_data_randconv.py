"""Random-network augmentation: optional, label-free, black stays black, silent when off."""

from __future__ import annotations

import numpy as np
import pytest

from echomark.data import transforms as tr
from echomark.data.config import AugmentConfig
from echomark.errors import ConfigError

ON = AugmentConfig(randconv_p=1.0)


def _frame() -> np.ndarray:
    """A bright ring (wall) round a dark disc (cavity) on black, like a cavity in a sector."""
    yy, xx = np.mgrid[:48, :48]
    r = np.hypot(yy - 24, xx - 24)
    img = np.zeros((48, 48, 1), np.uint8)
    img[r < 16] = 30
    img[(r >= 10) & (r < 16)] = 180
    return img


def test_off_returns_the_input_and_draws_nothing() -> None:
    img = _frame()
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert tr.random_conv(img, a, AugmentConfig()) is img  # randconv_p defaults to 0
    assert a.random() == b.random()


def test_on_changes_the_greys_but_not_the_black_or_the_energy_scale() -> None:
    img = _frame()
    outs = [tr.random_conv(img, np.random.default_rng(s), ON) for s in range(20)]
    for out in outs:
        assert out.shape == img.shape and out.dtype == np.uint8
        # a 4-layer 3x3 network reaches 4 px: black farther from the object stays black
        assert out[:2].max() == 0 and out[:, :2].max() == 0
    changed = [not np.array_equal(o, img) for o in outs]
    assert sum(changed) >= 18
    # the draws differ from one another (textures, not one fixed filter)
    assert len({o.tobytes() for o in outs}) == len(outs)
    # energy scaled to the input's: the mix never blows the image up or wipes it out
    norms = np.array([np.linalg.norm(o.astype(float)) for o in outs]) / np.linalg.norm(img)
    assert norms.min() > 0.2 and norms.max() < 1.5


def test_every_channel_goes_through_the_same_network() -> None:
    img = np.concatenate([_frame()] * 3, axis=2)
    out = tr.random_conv(img, np.random.default_rng(5), ON)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    single = tr.random_conv(_frame(), np.random.default_rng(5), ON)
    assert np.array_equal(out[..., :1], single)


def test_probability_is_validated() -> None:
    with pytest.raises(ConfigError, match="randconv_p"):
        AugmentConfig(randconv_p=1.5)
