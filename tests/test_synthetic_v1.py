"""The shipped synthetic-only model finds the heart in the real SonoSite A4C cine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from pydicom.data import get_testdata_file

from echomark.evaluate.reader_marks import (
    READER_POINTS,
    marks_at,
    read_reader_marks,
    score_frame,
)
from echomark.geometry import sample_curve
from echomark.models.zoo import resolve_model

MARKS = Path(__file__).parents[1] / "benchmarks" / "data" / "sonosite-a4c-reader-marks.json"
#: Every 10th frame: both cardiac phases of several beats, a few seconds of CPU.
FRAMES = tuple(range(0, 120, 10))
MM_PER_PX = 0.5104970559477806


@pytest.fixture(scope="module")
def real_predictions() -> dict[int, object]:
    from echomark.predict.session import Predictor

    model = Predictor("synthetic-v1")
    cine = get_testdata_file("color3d_jpeg_baseline.dcm")
    spec = ",".join(str(f) for f in FRAMES)
    out = model.predict(cine, frames=spec, ocr=False)
    by_frame = {int(key[-8:-4]): labels for key, labels in out.images.items()}
    assert sorted(by_frame) == list(FRAMES)
    return by_frame


def test_the_card_says_synthetic_only_and_carries_its_real_cine_result() -> None:
    card = json.loads((resolve_model("synthetic-v1") / "model.json").read_text())
    assert card["training_data"].startswith("synthetic only")
    assert any(k.startswith("real_cine") for k in card["metrics"])
    assert card["qc"], "the quality-gate thresholds travel with the model"
    assert card["config"]["data"]["images"] == "png-cache.zip"  # no training-machine folder
    # how it is meant to be decoded travels with it (docs/synthetic-data.md)
    assert card["config"]["dataset"]["tta_shift_px"] == 16
    assert card["config"]["dataset"]["codec"]["points_on_curves"] == {
        "lv-apex-endo": "curve-lv-endo"
    }


def test_apex_mitral_hinges_and_lv_outline_are_on_the_heart(real_predictions: dict) -> None:
    marks = read_reader_marks(MARKS)
    scores = [
        score_frame(f, labels, marks_at(marks.frames, f), MM_PER_PX, MM_PER_PX)
        for f, labels in sorted(real_predictions.items())
    ]
    on = {
        name: np.mean([s.labels[name].on_heart for s in scores])
        for name in (*READER_POINTS, "curve-lv-endo")
    }
    # measured on all 120 frames when the model was shipped (README, docs/synthetic-data.md);
    # the floors here leave room for the 12-frame sample, not for a worse model
    # (all four in 11 of these 12 frames, and in 90 % of the 120)
    for name in (*READER_POINTS, "curve-lv-endo"):
        assert on[name] >= 0.75, on
    assert np.mean([s.all_on_heart for s in scores]) >= 0.75
    # the apex point is read off the LV outline: it lies on it in every frame
    for f, labels in real_predictions.items():
        apex, curve = labels["lv-apex-endo"], labels["curve-lv-endo"]
        assert apex.instances and curve.instances, f
        dense = sample_curve(curve.instances[0].xy, spacing=0.5)
        assert np.min(np.hypot(*(dense - apex.instances[0].xy[0]).T)) < 1.0, f


def _volumes_at_traced_frames(phase: int) -> list[tuple[int, float, float]]:
    """(frame, model volume, traced volume) in mL at each traced ED (phase 0) or ES (1)."""
    from echomark.calibration import Calibration
    from echomark.evaluate.reader_marks import outline_labels, read_reader_outlines
    from echomark.measure.a4c import lv_apical_frame
    from echomark.predict.session import Predictor

    outlines = read_reader_outlines(MARKS.with_name("sonosite-a4c-reader-outlines.json"))
    frames = [beat[phase] for beat in outlines.beats]
    out = Predictor("synthetic-v1").predict(
        get_testdata_file("color3d_jpeg_baseline.dcm"), frames=",".join(map(str, frames)), ocr=False
    )
    by_frame = {int(key[-8:-4]): labels for key, labels in out.images.items()}
    cal = Calibration.isotropic(MM_PER_PX)
    return [
        (
            f,
            lv_apical_frame(by_frame[f], cal).volume_ml,
            lv_apical_frame(outline_labels(outlines.frames[f]), cal).volume_ml,
        )
        for f in frames
    ]


def test_end_systolic_volumes_agree_with_the_traced_ones() -> None:
    """At the traced ES frames the shipped model's LV volume is within 10 mL of the tracing
    (measured: at most 8.4 mL off)."""
    for es, model, traced in _volumes_at_traced_frames(1):
        assert abs(model - traced) <= 10.0, (es, model, traced)


def test_end_diastolic_volumes_reach_most_of_the_traced_ones() -> None:
    """At the traced ED frames the outlines still fall short, but by less than they did:
    63-93 % of the traced volume (measured), where the model shipped before gave 38-59 %
    (docs/synthetic-data.md, reference volumes)."""
    ratios = [model / traced for _, model, traced in _volumes_at_traced_frames(0)]
    assert min(ratios) >= 0.6, ratios
    assert max(ratios) <= 1.1, ratios  # not wider than the tracing either
