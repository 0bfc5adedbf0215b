"""``echomark predict x.dcm`` and ``echomark measure x.dcm`` see the same frames and agree."""

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from echomark.cli.main import main
from echomark.labels.io import read_labels
from echomark.labels.schema import LabelState

pytest.importorskip("torch")

CINE = get_testdata_file("color3d_jpeg_baseline.dcm")  # SonoSite A4C cine, 120 frames
FRAMES = ["--frames", "0:120:20"]


def test_predict_and_measure_give_identical_keypoints(tmp_path: Path) -> None:
    from predict_helpers import tiny_checkpoint

    # a head that "sees" something, so the comparison covers real points and curves
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt", input_hw=(64, 96), head_bias=0.0, head_std=0.5)
    pred, meas = tmp_path / "pred", tmp_path / "meas"
    assert (
        main(["predict", CINE, "--checkpoint", str(ckpt), "--out", str(pred), "--quiet", *FRAMES])
        == 0
    )
    main(["measure", CINE, "--checkpoint", str(ckpt), "--out", str(meas), *FRAMES])
    by_predict = read_labels(pred / "predictions.json").images
    by_measure = read_labels(meas / "predictions.json").images
    assert sorted(by_predict) == sorted(by_measure) and len(by_predict) == 6
    found = [lab for labels in by_predict.values() for lab in labels.values() if lab.instances]
    assert {lab.state for lab in found} == {LabelState.POINT, LabelState.CURVE}
    assert by_measure == by_predict
