"""Test-time shift averaging and points put on their curves: the decoding a transfer model uses."""

from __future__ import annotations

import numpy as np
import pytest

from echomark.data.config import DataConfig, ResizeMode
from echomark.data.spec import ModelSpec
from echomark.errors import ConfigError, InputError
from echomark.geometry import sample_curve
from echomark.heatmaps import CodecConfig, decode, encode
from echomark.labels.schema import Label, LabelState
from echomark.predict.engine import ShiftTtaEngine
from echomark.predict.inputs import InputFrame
from echomark.predict.predictor import predict_frames

EYE = np.eye(3)


class PoolEngine:
    """A translation-equivariant 'network': each output pixel is the input's block mean."""

    name = "pool"

    def __init__(self, strides: tuple[int, ...] = (4, 2)) -> None:
        self.strides = strides
        self.calls = 0

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        self.calls += 1
        b, c, h, w = batch.shape
        return [
            batch.reshape(b, c, h // s, s, w // s, s).mean(axis=(3, 5)).astype(np.float32)
            for s in self.strides
        ]


class FixedEngine:
    """A 'network' that always answers 1 at one heatmap pixel, whatever the input."""

    name = "fixed"

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        out = np.zeros((batch.shape[0], 1, 8, 8), np.float32)
        out[:, 0, 4, 4] = 1.0
        return [out]


def test_shift_averaging_leaves_a_translation_equivariant_model_unchanged() -> None:
    rng = np.random.default_rng(0)
    x = np.full((2, 1, 64, 64), -0.5, np.float32)
    x[:, :, 16:48, 16:48] = rng.random((2, 1, 32, 32), dtype=np.float32) - 0.5
    plain = PoolEngine()(x)
    tta = ShiftTtaEngine(PoolEngine(), 8, (4, 2))
    got = tta(x)
    assert tta.engine.calls == 9 and tta.name == "pool+shift8"  # type: ignore[attr-defined]
    for a, b in zip(plain, got, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype == np.float32
        assert np.allclose(a, b, atol=1e-6)


def test_shift_averaging_spreads_an_answer_tied_to_the_input_position() -> None:
    # The answer at (4, 4) moves with each shift (8 px = 1 output px at stride 8): the mean
    # is 1/9 on the centre pixel and each of its 8 neighbours, counted where each was seen.
    got = ShiftTtaEngine(FixedEngine(), 8, (8,))(np.zeros((1, 1, 64, 64), np.float32))[0][0, 0]
    assert np.isclose(got[4, 4], 1 / 9) and np.isclose(got[3, 5], 1 / 9)
    assert np.isclose(got.sum(), 1.0) and got[2, 4] == 0.0


@pytest.mark.parametrize("shift", [0, -8, 6])
def test_a_shift_must_be_a_positive_multiple_of_every_stride(shift: int) -> None:
    with pytest.raises(InputError, match="multiple of every stride"):
        ShiftTtaEngine(PoolEngine(), shift, (4, 2))


def test_the_model_config_says_whether_to_shift() -> None:
    assert DataConfig().tta_shift_px == 0
    assert DataConfig(tta_shift_px=16).tta_shift_px == 16
    for bad in (-4, 6):
        with pytest.raises(ConfigError) as err:
            DataConfig(tta_shift_px=bad)
        assert err.value.field == "tta_shift_px"


def test_prediction_runs_nine_passes_only_when_the_model_asks() -> None:
    img = np.zeros((64, 64), np.uint8)
    img[20:44, 20:44] = 200
    frame = InputFrame("00-" + "a" * 64 + "-0000.png", "a" * 64, 0, lambda: img)
    for shift, calls in ((0, 1), (16, 9)):
        data = DataConfig(input_hw=(64, 64), resize=ResizeMode.LETTERBOX, tta_shift_px=shift)
        engine = PoolEngine()
        spec = ModelSpec(("p",), ("point",), data)
        out = predict_frames([frame], engine, spec, batch_size=1, workers=1)
        assert engine.calls == calls and list(out) == [frame.key]


def _lv_labels(apex_offset: float) -> tuple[dict[str, Label], np.ndarray]:
    theta = np.linspace(0.15 * np.pi, 1.85 * np.pi, 11)
    lv = np.stack([130 + 60 * np.sin(theta), 60 + 140 * (1 - np.cos(theta)) / 2], axis=1)
    lv = lv[::-1] * [1, -1] + [0, 300]  # apex at the top (smallest y)
    dense = sample_curve(lv, spacing=0.5)
    top = dense[np.argmin(dense[:, 1])]
    labels = {
        "mv-ant-hinge": Label.point(*lv[0]),
        "lv-apex-endo": Label.point(top[0], top[1] - apex_offset),
        "mv-post-hinge": Label.point(*lv[-1]),
        "curve-lv-endo": Label.curve(lv),
    }
    return labels, top


NAMES = ["mv-ant-hinge", "lv-apex-endo", "mv-post-hinge", "curve-lv-endo"]
KINDS = ["point", "point", "point", "curve"]


def test_a_point_off_its_curve_is_put_on_the_curve() -> None:
    # the apex point 8 px above the curve's top (as a transfer model puts it on real frames)
    labels, top = _lv_labels(8.0)
    enc = encode(labels, NAMES, KINDS, EYE, (320, 260))[1]
    cfg = CodecConfig(strides=(2,))
    plain = decode([enc.heatmaps], NAMES, KINDS, cfg)
    assert np.allclose(plain["lv-apex-endo"].xy[0], top - [0, 8.0], atol=0.1)
    joint = CodecConfig(strides=(2,), points_on_curves={"lv-apex-endo": "curve-lv-endo"})
    got = decode([enc.heatmaps], NAMES, KINDS, joint)
    apex = got["lv-apex-endo"]
    assert apex.state is LabelState.POINT
    assert np.hypot(*(apex.xy[0] - top)) < 1.0  # on the curve's top, not 8 px above it
    curve = sample_curve(got["curve-lv-endo"].xy, spacing=0.25)
    assert np.min(np.hypot(*(curve - apex.xy[0]).T)) < 0.2
    assert apex.instances[0].conf == plain["lv-apex-endo"].instances[0].conf
    # everything else decodes as before
    for name in ("mv-ant-hinge", "mv-post-hinge", "curve-lv-endo"):
        assert np.array_equal(got[name].xy, plain[name].xy)


def test_a_point_stays_when_its_curve_is_not_decoded() -> None:
    labels, _ = _lv_labels(8.0)
    labels["curve-lv-endo"] = Label.off()
    enc = encode(labels, NAMES, KINDS, EYE, (320, 260))[1]
    joint = CodecConfig(strides=(2,), points_on_curves={"lv-apex-endo": "curve-lv-endo"})
    got = decode([enc.heatmaps], NAMES, KINDS, joint)
    assert got["curve-lv-endo"].state is LabelState.OFF
    plain = decode([enc.heatmaps], NAMES, KINDS, CodecConfig(strides=(2,)))
    assert np.array_equal(got["lv-apex-endo"].xy, plain["lv-apex-endo"].xy)


def test_points_on_curves_must_name_a_point_and_a_curve_of_the_model() -> None:
    labels, _ = _lv_labels(0.0)
    enc = encode(labels, NAMES, KINDS, EYE, (320, 260))[1]
    for pair in ({"curve-lv-endo": "lv-apex-endo"}, {"lv-apex-epi": "curve-lv-endo"}):
        with pytest.raises(ValueError, match="points_on_curves"):
            decode([enc.heatmaps], NAMES, KINDS, CodecConfig(strides=(2,), points_on_curves=pair))
    with pytest.raises(ConfigError):
        CodecConfig(points_on_curves={"lv-apex-endo": 3})  # type: ignore[dict-item]


def test_the_transfer_recipes_space_the_outline_points_evenly() -> None:
    # keep_anchors off: control points evenly spaced from hinge to hinge, apex or not (the
    # decoding synthetic-v1 was measured with on the real cine); on by default
    from importlib import resources

    import yaml

    from echomark.models.zoo import resolve_model
    from echomark.predict.api import load_engine

    labels, _ = _lv_labels(0.0)
    enc = encode(labels, NAMES, KINDS, EYE, (320, 260))[1]
    gaps = {}
    for keep in (True, False):
        cfg = CodecConfig(strides=(2,), keep_anchors=keep)
        nodes = decode([enc.heatmaps], NAMES, KINDS, cfg)["curve-lv-endo"].xy
        gaps[keep] = np.hypot(*np.diff(nodes, axis=0).T)
    assert np.ptp(gaps[False]) < 0.5 < np.ptp(gaps[True])
    assert CodecConfig().keep_anchors
    for name in ("synthetic-transfer.yaml", "synthetic-transfer-gpu.yaml"):
        raw = yaml.safe_load(resources.files("echomark.configs").joinpath(name).read_text())
        assert raw["dataset"]["codec"]["keep_anchors"] is False, name
    _, spec = load_engine(resolve_model("synthetic-v1"))
    assert spec.codec.keep_anchors is False
