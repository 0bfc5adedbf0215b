import math

import pytest
import torch
import yaml

from echomark.data.config import ResizeMode
from echomark.errors import ConfigError
from echomark.models import output_strides
from echomark.train.config import (
    OptimizerName,
    ScheduleName,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    dump_config,
    load_config,
    to_dict,
)
from echomark.train.loss import heatmap_loss, masked_mse
from echomark.train.schedule import LrSchedule, cosine_factor


def test_yaml_and_overrides_build_a_typed_config(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "model: {variant: tiny}\n"
        "dataset: {input_hw: [256, 320], resize: letterbox}\n"
        "optim: {name: radam, lr: 0.002}\n"
        "epochs: 3\n"
    )
    cfg = load_config(
        path, ["optim.lr=5e-4", "dataset.codec.sigma_point=3", "data.channels=[a, b]"]
    )
    assert cfg.model.variant == "tiny"
    assert cfg.dataset.input_hw == (256, 320)
    assert cfg.dataset.resize is ResizeMode.LETTERBOX
    assert cfg.optim.name is OptimizerName.RADAM
    assert cfg.optim.lr == 5e-4
    assert cfg.dataset.codec.sigma_point == 3.0
    assert cfg.data.channels == ("a", "b")
    assert cfg.epochs == 3


def test_resolved_config_round_trips_through_yaml() -> None:
    cfg = load_config(None, ["optim.schedule=plateau", "loss.foreground_alpha=20"])
    data = yaml.safe_load(dump_config(cfg))
    again = config_from_dict(data)
    assert again == cfg
    assert again.optim.schedule is ScheduleName.PLATEAU
    assert to_dict(again) == data


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("optim.lrr=1", "optim.lrr"),
        ("nonsense=1", "nonsense"),
        ("epochs=ten", "epochs"),
        ("epochs=1.5", "epochs"),
        ("amp=maybe", "amp"),
        ("optim.name=sgd", "optim.name"),
        ("dataset.input_hw=[1, 2, 3]", "dataset.input_hw"),
        ("epochs.x=1", "epochs.x"),
        ("epochs=0", "epochs"),
        ("dataset.codec.strides=[4, 4]", "dataset.codec.strides"),
    ],
)
def test_bad_overrides_raise_config_error_naming_the_field(override: str, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert err.value.field is not None and err.value.field.startswith(field.split(".")[0])


def test_override_without_equals_and_unknown_file_key(tmp_path) -> None:
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["epochs"])
    path = tmp_path / "c.yaml"
    path.write_text("optim: {learning_rate: 1}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.file == str(path) and err.value.field == "optim.learning_rate"


def test_stride_weights_must_match_codec_strides() -> None:
    with pytest.raises(ConfigError, match="stride weights"):
        load_config(None, ["loss.stride_weights=[1.0]"])
    cfg = load_config(None, ["loss.stride_weights=[1.0, 2.0]"])
    assert isinstance(cfg, TrainConfig)


@pytest.mark.parametrize("strides", ["[8, 4]", "[4]", "[2, 4]", "[4, 2, 1]"])
def test_codec_strides_must_be_the_models_output_strides(strides: str) -> None:
    # HRNet outputs strides 4 and 2 whatever the variant: any other codec strides fail at
    # load time with one error naming the key, not at the first loss.
    n = len(strides.split(","))
    weights = f"loss.stride_weights=[{', '.join(['1.0'] * n)}]"
    with pytest.raises(ConfigError, match=r"outputs strides \[4, 2\]") as err:
        load_config(None, [f"dataset.codec.strides={strides}", weights, "model.variant=w18"])
    assert err.value.field == "dataset.codec.strides"
    assert load_config(None, ["dataset.codec.strides=[4, 2]"]).dataset.codec.strides == (4, 2)
    assert output_strides("tiny") == (4, 2)
    with pytest.raises(ConfigError) as err:
        load_config(None, ["model.variant=w99"])
    assert err.value.field == "model.variant"


def test_masked_mse_ignores_masked_channels_and_normalises_by_supervised_elements() -> None:
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.zeros(1, 2, 2, 2)
    target[0, 0, 0, 0] = 1.0  # one error of 1 in the supervised channel
    target[0, 1] = 1.0  # big errors in the masked channel
    w = torch.tensor([[1.0, 0.0]])
    num, den = masked_mse(pred, target, w)
    assert float(num) == 1.0 and float(den) == 4.0
    loss, parts = heatmap_loss([pred], [target], [w])
    assert parts == [0.25] and float(loss) == 0.25


def test_foreground_weighting_raises_the_weight_of_the_peak() -> None:
    pred = torch.zeros(1, 1, 1, 4)
    target = torch.tensor([[[[1.0, 0.0, 0.0, 0.0]]]])
    w = torch.ones(1, 1)
    plain = float(heatmap_loss([pred], [target], [w])[0])
    weighted = float(heatmap_loss([pred], [target], [w], foreground_alpha=9.0)[0])
    assert plain == pytest.approx(1 / 4)
    assert weighted == pytest.approx(10 / 13)  # (1 + 9) * 1 / (10 + 1 + 1 + 1)


def test_all_masked_batch_gives_zero_loss_not_nan() -> None:
    loss, _ = heatmap_loss([torch.ones(1, 1, 2, 2)], [torch.zeros(1, 1, 2, 2)], [torch.zeros(1, 1)])
    assert float(loss) == 0.0


def test_warmup_then_cosine_and_plateau_schedules() -> None:
    assert cosine_factor(0, 100, 10, 0.1, 0.0) == pytest.approx(0.1)
    assert cosine_factor(10, 100, 10, 0.1, 0.0) == pytest.approx(1.0)
    assert cosine_factor(100, 100, 10, 0.1, 0.0) == pytest.approx(0.0)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    cfg = load_config(None, ["optim.schedule=plateau", "optim.patience=1", "optim.warmup_epochs=0"])
    sched = LrSchedule(opt, cfg.optim, steps_per_epoch=2, epochs=10)
    assert opt.param_groups[0]["lr"] == pytest.approx(cfg.optim.lr)
    for metric in (1.0, 1.0, 1.0):
        sched.epoch_end(metric)
    assert opt.param_groups[0]["lr"] == pytest.approx(cfg.optim.lr * cfg.optim.factor)
    state = sched.state_dict()
    other = LrSchedule(opt, cfg.optim, 2, 10)
    other.load_state_dict(state)
    assert other.lr == pytest.approx(sched.lr)
    assert not math.isnan(other.lr)


def test_train_cli_prints_resolved_config_and_rejects_bad_keys(capsys, tmp_path) -> None:
    from echomark.cli.main import main

    assert (
        main(["train", "--print-config", "--set", "model.variant=tiny", "--out", str(tmp_path)])
        == 0
    )
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["variant"] == "tiny" and printed["out_dir"] == str(tmp_path)
    assert main(["train", "--print-config", "--set", "optim.lr=fast"]) == 2
    assert "optim.lr" in capsys.readouterr().err
    assert main(["train", "--set", "data.images=/nonexistent", "--set", "data.labels=/x"]) == 2
