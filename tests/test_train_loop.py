import csv

import pytest
import torch

from _train_fakes import (
    FakeDataset,
    StopError,
    fake_config_dict,
    fake_train_data,
    stop_after_first_epoch,
)
from echomark.errors import ConfigError
from echomark.train import TrainData, load_checkpoint, load_config, run_training, save_checkpoint


def test_interrupted_run_resumes_bit_identically(tmp_path) -> None:
    full = run_training(
        load_config(base=fake_config_dict(str(tmp_path / "full"), epochs=3)),
        data=fake_train_data(),
        progress=False,
    )
    cfg = load_config(base=fake_config_dict(str(tmp_path / "split"), epochs=3))
    with pytest.raises(StopError):
        run_training(
            cfg, data=fake_train_data(), progress=False, on_epoch_end=stop_after_first_epoch
        )
    last = tmp_path / "split" / "last.pt"
    assert load_checkpoint(last).epoch == 1
    # guard: continuing from the same weights with a fresh optimiser ends elsewhere
    weights_only = load_checkpoint(last)
    weights_only.optimizer_state = None
    save_checkpoint(weights_only, tmp_path / "weights-only.pt")
    cfg_other = load_config(base=fake_config_dict(str(tmp_path / "other"), epochs=3))
    other = run_training(
        cfg_other, data=fake_train_data(), progress=False, resume=tmp_path / "weights-only.pt"
    )
    assert other.param_digest != full.param_digest
    resumed = run_training(cfg, data=fake_train_data(), progress=False, resume=last)
    assert resumed.param_digest == full.param_digest
    a = load_checkpoint(full.last_path).model_state
    b = load_checkpoint(resumed.last_path).model_state
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_checkpoint(last).epoch == 3
    # history carries over: the resumed run reports every epoch, identical to the full run
    assert [r["epoch"] for r in resumed.history] == [1.0, 2.0, 3.0]
    for key in ("train_loss", "tune_loss", "lr"):
        assert [r[key] for r in resumed.history] == [r[key] for r in full.history]
    with open(tmp_path / "split" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]


def test_run_writes_config_metrics_and_checkpoints(tmp_path) -> None:
    out = tmp_path / "run"
    result = run_training(
        load_config(base=fake_config_dict(str(out), epochs=1)),
        data=fake_train_data(),
        progress=False,
    )
    assert (out / "config.yaml").is_file() and (out / "metrics.csv").is_file()
    assert result.best_path == out / "best.pt" and result.best_path.is_file()
    ck = load_checkpoint(result.last_path)
    assert ck.channels == ["dot", "line"] and ck.kind_names == ["point", "curve"]
    assert ck.input_size == (64, 64) and ck.epoch == 1 and ck.global_step == 2
    assert ck.train_config().model.variant == "tiny"
    assert {"python", "numpy", "torch", "sampler"} <= set(ck.rng_state)
    row = result.history[0]
    for key in ("train_loss", "tune_loss", "point_error_px", "presence_accuracy"):
        assert key in row
    model = ck.build_model()
    assert not model.training
    with torch.no_grad():
        s4, s2 = model(torch.zeros(1, 1, 64, 64))
    assert s4.shape == (1, 2, 16, 16) and s2.shape == (1, 2, 32, 32)


def test_resume_rejects_a_checkpoint_of_another_model(tmp_path) -> None:
    first = run_training(
        load_config(base=fake_config_dict(str(tmp_path / "a"), epochs=1)),
        data=TrainData(FakeDataset(2)),
        progress=False,
    )
    cfg = load_config(
        base=fake_config_dict(str(tmp_path / "b"), epochs=2), overrides=["model.variant=small"]
    )
    with pytest.raises(ConfigError, match="differ"):
        run_training(cfg, data=TrainData(FakeDataset(2)), progress=False, resume=first.last_path)


def test_loss_falls_on_a_learnable_toy_problem(tmp_path) -> None:
    cfg = load_config(
        base=fake_config_dict(str(tmp_path / "fit"), epochs=6),
        overrides=["optim.lr=0.01", "loss.foreground_alpha=10"],
    )
    result = run_training(cfg, data=TrainData(FakeDataset(4)), progress=False)
    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < 0.5 * losses[0]


class _Oracle(torch.nn.Module):
    """Returns the targets of a one-image dataset, whatever the input."""

    def __init__(self, item: dict) -> None:
        super().__init__()
        self.maps = [h[None] for h in item["heatmaps"]]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [m.expand(x.shape[0], -1, -1, -1) for m in self.maps]


def test_tune_metrics_of_a_perfect_prediction_are_near_zero() -> None:
    from echomark.train.distributed import DistInfo
    from echomark.train.loop import evaluate

    ds = FakeDataset(1, seed=5, train=False)
    cfg = load_config(base=fake_config_dict("unused"))
    metrics = evaluate(
        _Oracle(ds[0]),
        ds,
        cfg,
        torch.device("cpu"),
        DistInfo(),
        channels=ds.channels,
        kinds=ds.kinds,
    )
    assert metrics["tune_loss"] == 0.0
    assert metrics["n_points"] == 1 and metrics["point_error_px"] < 0.1
    assert metrics["n_curves"] == 1 and metrics["curve_distance_px"] < 0.5
    assert metrics["presence_accuracy"] == 1.0


def test_persistent_tune_loader_gives_the_same_metrics_on_every_pass() -> None:
    from echomark.train.distributed import DistInfo
    from echomark.train.loop import evaluate, tune_loader

    ds = FakeDataset(3, seed=5, train=False)
    cfg = load_config(base={**fake_config_dict("unused"), "workers": 1})
    model = _Oracle(ds[0])  # right on image 0, wrong on the others: every metric finite
    kw = dict(channels=ds.channels, kinds=ds.kinds)
    fresh = evaluate(model, ds, cfg, torch.device("cpu"), DistInfo(), **kw)
    loader = tune_loader(ds, cfg, DistInfo(), persistent=True)
    assert loader.persistent_workers and loader.num_workers == 1
    passes = [
        evaluate(model, ds, cfg, torch.device("cpu"), DistInfo(), loader=loader, **kw)
        for _ in range(2)
    ]
    assert passes[0] == passes[1] == fresh
    assert fresh["n_points"] == 3 and fresh["tune_loss"] > 0 and fresh["point_error_px"] > 1
