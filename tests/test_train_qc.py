"""Training saves quality-gate thresholds calibrated on the tune split beside each checkpoint."""

import json

import pytest
import torch

from _train_fakes import FakeDataset, fake_config_dict
from echomark.measure.qc import QcConfig, qc_beside, read_qc_config
from echomark.train import TrainData, load_checkpoint, load_config, run_training
from echomark.train.distributed import DistInfo
from echomark.train.loop import calibrate_qc, tune_pass
from echomark.workflows.measure import find_qc_config

EPOCHS = 8  # enough for the toy model to draw labels on the tune images


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("qc") / "run"
    data = TrainData(FakeDataset(4), FakeDataset(3, seed=1, train=False))
    cfg = load_config(
        base=fake_config_dict(str(out), epochs=EPOCHS),
        overrides=["optim.lr=0.01", "loss.foreground_alpha=10"],
    )
    result = run_training(cfg, data=data, progress=False)
    return result, data


def test_each_checkpoint_gets_thresholds_from_its_own_tune_predictions(run) -> None:
    result, data = run
    for ckpt in (result.best_path, result.last_path):
        path = qc_beside(ckpt)
        assert path.name == ckpt.stem + ".qc.json"
        saved = read_qc_config(path)
        assert saved.source.startswith("tune split, epoch ") and saved.source.endswith(
            f"({ckpt.name})"
        )
        # the same calibration from a fresh tune pass of the saved weights
        ck = load_checkpoint(ckpt)
        cfg = ck.train_config()
        model = ck.build_model()
        parts = tune_pass(
            model, data.tune, cfg, torch.device("cpu"), DistInfo(),
            channels=ck.channels, kinds=data.tune.kinds,
        )  # fmt: skip
        again = calibrate_qc(parts, "x")
        assert dict(saved.conf_thresholds) == pytest.approx(dict(again.conf_thresholds))
        assert saved.input_peak_low == pytest.approx(again.input_peak_low)
        assert set(saved.conf_thresholds) <= {"dot", "line"}
        assert f"epoch {ck.epoch} " in saved.source
    # the last epoch's model draws labels, so its thresholds are calibrated, not defaults
    last = read_qc_config(qc_beside(result.last_path))
    assert last.conf_thresholds and "defaults" not in last.source


def test_a_run_without_a_tune_split_leaves_no_stale_thresholds(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    stale = out / "last.qc.json"
    stale.write_text(QcConfig(source="old run").to_json())
    run_training(
        load_config(base=fake_config_dict(str(out), epochs=1)),
        data=TrainData(FakeDataset(4), None),
        progress=False,
    )
    assert (out / "last.pt").is_file()
    assert not stale.exists() and not (out / "best.qc.json").exists()


def test_measure_finds_thresholds_in_documented_order(tmp_path) -> None:
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"")
    assert find_qc_config(None, ckpt).source == "echomark defaults"
    assert find_qc_config(None, None).source == "echomark defaults"
    qc_beside(ckpt).write_text(QcConfig({"a": 0.7}, source="trained").to_json())
    assert find_qc_config(None, ckpt).source == "trained"  # saved with the model
    (tmp_path / "qc.json").write_text(QcConfig(source="user").to_json())
    assert find_qc_config(None, ckpt).source == "user"  # the user's own calibration wins
    given = tmp_path / "given.json"
    given.write_text(json.dumps({"conf_thresholds": {"a": 0.2}, "source": "flag"}))
    assert find_qc_config(str(given), ckpt).source == "flag"  # --qc wins over both
