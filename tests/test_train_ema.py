"""The weights' moving average during training (``optim.ema_decay``)."""

import pytest
import torch
from torch import nn

from _train_fakes import (
    StopError,
    fake_config_dict,
    fake_train_data,
    stop_after_first_epoch,
)
from echomark.errors import ConfigError
from echomark.train import load_checkpoint, load_config, run_training
from echomark.train.averaging import WeightEma, ema_decay_at


def _config(out: str, epochs: int = 3, decay: float = 0.9) -> object:
    base = fake_config_dict(out, epochs=epochs)
    base["optim"] = {**base["optim"], "ema_decay": decay}
    return load_config(base=base)


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 1, bias=False)
        self.bn = nn.BatchNorm1d(1)


def _set(model: _Tiny, weight: float, mean: float, tracked: int) -> None:
    with torch.no_grad():
        model.lin.weight.fill_(weight)
        model.bn.running_mean.fill_(mean)
        model.bn.num_batches_tracked.fill_(tracked)


def test_average_of_known_weights_by_hand() -> None:
    model = _Tiny()
    _set(model, 1.0, 10.0, 0)
    ema = WeightEma(model, 0.5)
    _set(model, 3.0, 20.0, 7)
    ema.update(model)  # ramp: min(0.5, 2/11) = 2/11 of the old value stays
    d = 2 / 11
    assert ema.shadow["lin.weight"].item() == pytest.approx(d * 1 + (1 - d) * 3)
    assert ema.shadow["bn.running_mean"].item() == pytest.approx(d * 10 + (1 - d) * 20)
    assert ema.shadow["bn.num_batches_tracked"].item() == 7  # counters are copied
    _set(model, 5.0, 0.0, 8)
    before = ema.shadow["lin.weight"].item()
    ema.update(model)  # ramp: min(0.5, 3/12) = 0.25
    assert ema.shadow["lin.weight"].item() == pytest.approx(0.25 * before + 0.75 * 5)
    assert ema.updates == 2
    # the evaluation copy holds the average, and the trained model is left alone
    served = ema.module(model)
    assert served is not model and not served.training
    assert served.lin.weight.item() == pytest.approx(ema.shadow["lin.weight"].item())
    assert model.lin.weight.item() == 5.0
    assert ema_decay_at(0.5, 10**6) == 0.5


def test_resumed_average_must_cover_every_tensor() -> None:
    with pytest.raises(KeyError, match=r"lack 5 tensors, e\.g\. bn\.bias"):
        WeightEma(_Tiny(), 0.9, state={"lin.weight": torch.ones(1, 1)})


@pytest.mark.parametrize("decay", [1.0, -0.1])
def test_decay_outside_zero_one_is_refused(tmp_path, decay: float) -> None:
    with pytest.raises(ConfigError, match=r"optim\.ema_decay"):
        _config(str(tmp_path), decay=decay)


def test_average_is_saved_and_leaves_the_training_path_alone(tmp_path) -> None:
    plain = run_training(
        load_config(base=fake_config_dict(str(tmp_path / "plain"), epochs=3)),
        data=fake_train_data(),
        progress=False,
    )
    avg = run_training(_config(str(tmp_path / "avg")), data=fake_train_data(), progress=False)
    # keeping an average does not change what is trained
    assert avg.param_digest == plain.param_digest
    ck = load_checkpoint(avg.last_path)
    raw = load_checkpoint(plain.last_path).model_state
    assert ck.raw_model_state is not None and ck.ema_updates == ck.global_step == 6
    assert all(torch.equal(ck.raw_model_state[k], raw[k]) for k in raw)
    # what is saved for prediction is the average, and it differs from the last weights
    assert not all(torch.equal(ck.model_state[k], raw[k]) for k in raw)
    built = ck.build_model().state_dict()
    assert all(torch.equal(built[k], ck.model_state[k]) for k in built)
    # the tune metrics were measured on the average
    assert ck.metrics["tune_loss"] != load_checkpoint(plain.last_path).metrics["tune_loss"]


def test_interrupted_run_with_an_average_resumes_bit_identically(tmp_path) -> None:
    full = run_training(_config(str(tmp_path / "full")), data=fake_train_data(), progress=False)
    cfg = _config(str(tmp_path / "split"))
    with pytest.raises(StopError):
        run_training(
            cfg, data=fake_train_data(), progress=False, on_epoch_end=stop_after_first_epoch
        )
    resumed = run_training(
        cfg, data=fake_train_data(), progress=False, resume=tmp_path / "split/last.pt"
    )
    a, b = load_checkpoint(full.last_path), load_checkpoint(resumed.last_path)
    assert a.raw_model_state is not None and b.raw_model_state is not None
    assert a.ema_updates == b.ema_updates == 6
    for x, y in ((a.model_state, b.model_state), (a.raw_model_state, b.raw_model_state)):
        assert all(torch.equal(x[k], y[k]) for k in x)
