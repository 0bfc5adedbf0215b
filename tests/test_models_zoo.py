"""Named models (zoo), card fields, --model on the verbs, and train --init from a model's weights."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from _train_fakes import CHANNELS as FAKE_CHANNELS
from _train_fakes import FakeDataset, fake_config_dict
from echomark.cli.main import main
from echomark.errors import ConfigError
from echomark.models import VARIANTS, build_model
from echomark.models.modelfile import CARD_FILE, read_card, read_model_dir
from echomark.models.zoo import ENV_VAR, list_models, resolve_model
from echomark.train import TrainData, load_checkpoint, load_config, run_training
from echomark.train.init import LABEL_TENSORS, apply_init, read_init
from predict_helpers import tiny_checkpoint

NAME = "tiny-zoo"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for ECHOMARK_MODEL_PATH holding one model, ``tiny-zoo``, with card fields."""
    root = tmp_path_factory.mktemp("zoo")
    ck = tiny_checkpoint(root.parent / f"{root.name}-tiny.pt", head_bias=0.5, head_std=0.05)
    argv = ["-q", "export", "--checkpoint", str(ck), "--model-dir", str(root / "models" / NAME)]
    argv += ["--training-data", "synthetic only (test)", "--notes", "random weights"]
    argv += ["--metric", "ival_point_error_px=0.93", "--metric", "real_cine=118/120 frames"]
    assert main(argv) == 0
    return root / "models"


def test_a_name_resolves_from_the_model_path_and_paths_pass_through(
    zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second folder earlier on the path with the same name wins; an empty entry is skipped.
    first = tmp_path / "first"
    (first / NAME).mkdir(parents=True)
    for f in (zoo / NAME).iterdir():
        (first / NAME / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv(ENV_VAR, str(zoo))
    assert resolve_model(NAME) == zoo / NAME
    monkeypatch.setenv(ENV_VAR, f"{first}{os.pathsep}{zoo}")
    assert resolve_model(NAME) == first / NAME
    entries = {e.name: e for e in list_models()}
    assert entries[NAME].path == first / NAME and entries[NAME].source == str(first)
    assert entries[NAME].summary == (
        "HRNet tiny, 1 x 64x64 in, 3 labels (2 points, 1 curves); trained on synthetic only (test)"
    )
    # Existing paths come back as they are, names or not.
    assert resolve_model(zoo / NAME) == zoo / NAME
    pt = tmp_path / "a.pt"
    pt.write_bytes(b"x")
    assert resolve_model(str(pt)) == pt


def test_an_unknown_name_lists_the_known_ones(zoo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(zoo))
    with pytest.raises(ConfigError, match=f"no model named 'tiny-zo' \\(known models: .*{NAME}"):
        resolve_model("tiny-zo")
    with pytest.raises(ConfigError, match="model not found"):
        resolve_model("runs/none/best.pt")
    with pytest.raises(ConfigError, match="not a model folder"):
        resolve_model(zoo)


def test_the_card_carries_training_data_notes_and_text_metrics(zoo: Path, tmp_path: Path) -> None:
    card = read_card(zoo / NAME)
    assert card.training_data == "synthetic only (test)" and card.notes == "random weights"
    assert card.metrics["ival_point_error_px"] == 0.93
    assert card.metrics["real_cine"] == "118/120 frames"
    # A card written before these fields existed still reads; a bad metric is named.
    raw = json.loads((zoo / NAME / CARD_FILE).read_text())
    old = {k: v for k, v in raw.items() if k not in ("training_data", "notes")}
    old["metrics"] = {"point_error_px": 1.5}
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / CARD_FILE).write_text(json.dumps(old))
    assert read_card(folder).training_data == "" and read_card(folder).metrics == {
        "point_error_px": 1.5
    }
    (folder / CARD_FILE).write_text(json.dumps({**old, "metrics": {"x": [1]}}))
    with pytest.raises(ConfigError, match="metric 'x' must be a number or a string"):
        read_card(folder)
    (folder / CARD_FILE).write_text(json.dumps({**old, "notes": 3}))
    with pytest.raises(ConfigError, match="'notes' must be a string"):
        read_card(folder)


def test_card_json_merges_and_the_options_win(zoo: Path, tmp_path: Path) -> None:
    extra = tmp_path / "card.json"
    extra.write_text(
        json.dumps({"training_data": "from json", "metrics": {"a": 1, "b": "two"}, "notes": "n"})
    )
    ck = tiny_checkpoint(tmp_path / "c.pt")
    argv = ["-q", "export", "--checkpoint", str(ck), "--model-dir", str(tmp_path / "m")]
    argv += ["--card-json", str(extra), "--training-data", "from option", "--metric", "a=3"]
    assert main(argv) == 0
    card = read_card(tmp_path / "m")
    assert card.training_data == "from option" and card.notes == "n"
    assert card.metrics["a"] == 3.0 and card.metrics["b"] == "two"
    assert card.training["epochs"] == 0  # the checkpoint's own training record stays


def test_predict_with_model_name_equals_checkpoint_dir(
    zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(zoo))
    rng = np.random.default_rng(0)
    png = tmp_path / "a.png"
    cv2.imwrite(str(png), rng.integers(0, 255, (48, 56), np.uint8))
    assert main(["-q", "predict", "--model", NAME, str(png), "--out", str(tmp_path / "a")]) == 0
    argv = ["-q", "predict", "--checkpoint", str(zoo / NAME), str(png)]
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "predictions.json").read_text())
    b = json.loads((tmp_path / "b" / "predictions.json").read_text())
    assert a == b and len(json.dumps(a)) > 200
    import echomark

    assert echomark.Predictor(NAME).checkpoint == zoo / NAME


def test_models_and_model_info_print_the_cards(
    zoo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_VAR, str(zoo))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^{NAME} +HRNet tiny, 1 x 64x64 in, 3 labels", out, re.M), out
    assert re.search(r"^synthetic-v1 +HRNet tiny, 1 x 256x256 in, 34 labels", out, re.M), out
    assert "ival_point_error_px 0.93, real_cine 118/120 frames" in out
    assert main(["models", "--json"]) == 0
    (entry,) = [e for e in json.loads(capsys.readouterr().out) if e["name"] == NAME]
    assert entry["card"]["training_data"] == "synthetic only (test)"
    assert main(["model-info", NAME]) == 0
    out = capsys.readouterr().out
    assert "trained on   synthetic only (test)" in out and "curves       1: curve-lv-endo" in out
    assert "input        1 x 64 x 64" in out  # cost at the model's own input size


def test_a_broken_card_on_the_model_path_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / CARD_FILE).write_text("{not json")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert main(["models"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("echomark models: error: ") and "bad/model.json" in line


# --------------------------------------------------------------------------- train --init


def _fake_model_dir(tmp_path: Path, channels: list[str], variant: str = "tiny") -> Path:
    """A model folder of a tiny net with ``channels``, made from a seeded random checkpoint."""
    from echomark.train.checkpoint import Checkpoint, save_checkpoint

    torch.manual_seed(11)
    cfg = load_config(
        base={**fake_config_dict(str(tmp_path / "unused")), "model": {"variant": variant}}
    )
    from echomark.train.config import to_dict

    model = build_model(variant, 1, len(channels))
    with torch.no_grad():  # not the fresh init: a loaded tensor must be told apart from one
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    ck = Checkpoint(
        model_state=model.state_dict(),
        config=to_dict(cfg),
        channels=channels,
        kind_names=["point"] * len(channels),
        variant=variant,
        in_channels=1,
        input_size=(64, 64),
    )
    path = save_checkpoint(ck, tmp_path / f"src-{len(channels)}.pt")
    out = tmp_path / f"model-{len(channels)}"
    assert main(["-q", "export", "--checkpoint", str(path), "--model-dir", str(out)]) == 0
    return out


def test_init_with_the_same_labels_loads_every_tensor(tmp_path: Path) -> None:
    folder = _fake_model_dir(tmp_path, list(FAKE_CHANNELS))
    _, state = read_model_dir(folder)
    model = build_model("tiny", 1, len(FAKE_CHANNELS))
    assert not torch.equal(model.state_dict()["head4.weight"], state["head4.weight"])
    report = apply_init(
        model, read_init(folder), variant="tiny", in_channels=1, channels=FAKE_CHANNELS
    )
    own = model.state_dict()
    assert all(torch.equal(own[k], state[k]) for k in own)
    assert report.loaded == report.total == len(own)
    assert report.line().startswith(f"init from {folder}: all {len(own)} tensors loaded")


def test_init_with_other_labels_loads_the_trunk_and_shared_label_slices(tmp_path: Path) -> None:
    folder = _fake_model_dir(tmp_path, ["a", "b", "c"])
    _, state = read_model_dir(folder)
    torch.manual_seed(0)
    model = build_model("tiny", 1, 2)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    report = apply_init(
        model, read_init(folder), variant="tiny", in_channels=1, channels=["c", "z"]
    )
    own = model.state_dict()
    trunk = [k for k in own if k not in LABEL_TENSORS]
    assert trunk and all(torch.equal(own[k], state[k]) for k in trunk)
    for name in ("head4.weight", "head4.bias", "head2.weight", "head2.bias"):
        assert torch.equal(own[name][0], state[name][2])  # label c: slice 2 of the source
        assert torch.equal(own[name][1], fresh[name][1])  # label z starts fresh
    up = "up.0.weight"  # input channels: 16 features, then the stride-4 logits per label
    assert torch.equal(own[up][:16], state[up][:16])
    assert torch.equal(own[up][16], state[up][18]) and torch.equal(own[up][17], fresh[up][17])
    assert (report.loaded, report.by_rows, report.total) == (len(trunk), 5, len(own))
    assert report.head_copied == ["c"] and report.head_fresh == ["z"]
    assert (
        f"{len(trunk)} of {len(own)} tensors loaded whole, 5 label-dependent tensors label by "
        "label, 0 fresh; output heads: 1 labels copied by name, 1 start fresh (z)"
    ) in report.line()


def test_label_tensors_are_exactly_those_whose_shape_follows_the_label_count() -> None:
    for variant in VARIANTS:
        with torch.device("meta"):
            a = build_model(variant, 1, 2).state_dict()
            b = build_model(variant, 1, 3).state_dict()
        assert {k for k in a if a[k].shape != b[k].shape} == LABEL_TENSORS, variant


def test_init_refuses_another_variant_in_one_line(tmp_path: Path) -> None:
    folder = _fake_model_dir(tmp_path, list(FAKE_CHANNELS))
    model = build_model("w18", 1, 2)
    with pytest.raises(ConfigError, match="is an HRNet tiny, this run trains an HRNet w18"):
        apply_init(model, read_init(folder), variant="w18", in_channels=1, channels=FAKE_CHANNELS)
    with pytest.raises(ConfigError, match="takes 1 input channel"):
        apply_init(model, read_init(folder), variant="tiny", in_channels=3, channels=FAKE_CHANNELS)


def test_run_training_from_init_logs_records_and_resume_keeps_the_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _fake_model_dir(tmp_path, ["dot", "other"])
    cfg = load_config(
        base={**fake_config_dict(str(tmp_path / "run"), epochs=1), "init": str(folder)}
    )
    data = TrainData(FakeDataset(2), None)
    with caplog.at_level(logging.INFO, logger="echomark"):
        result = run_training(cfg, data=data, progress=False)
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("init from")]
    assert "1 labels copied by name, 1 start fresh (line)" in line
    ck = load_checkpoint(result.last_path)
    assert ck.config["init"] == str(folder)
    assert ck.init["source"] == str(folder) and len(ck.init["sha256"]) == 64
    assert ck.init["head_labels_fresh"] == ["line"]
    # A resumed run starts from its checkpoint (the init is not reapplied) and keeps the record.
    cfg2 = load_config(
        base={**fake_config_dict(str(tmp_path / "run"), epochs=2), "init": str(folder)}
    )
    resumed = run_training(
        cfg2, data=data, progress=False, resume=result.last_path, new_schedule=True
    )
    assert load_checkpoint(resumed.last_path).init == ck.init
    # export shows where the weights came from (the last path part only)
    assert (
        main(
            [
                "-q",
                "export",
                "--checkpoint",
                str(resumed.last_path),
                "--model-dir",
                str(tmp_path / "e"),
            ]
        )
        == 0
    )
    assert read_card(tmp_path / "e").training["init"]["source"] == folder.name


def test_the_quality_gate_thresholds_travel_in_the_card(tmp_path: Path) -> None:
    from echomark.measure.qc import QcConfig, qc_beside
    from echomark.predict.export import export_model_dir
    from echomark.workflows.measure import find_qc_config

    ck = tiny_checkpoint(tmp_path / "best.pt")
    qc = QcConfig({"lv-apex-endo": 0.42}, 0.2, 0.25, "tune split, epoch 3 (best.pt)")
    qc_beside(ck).write_text(qc.to_json())
    folder = export_model_dir(ck, tmp_path / "m")
    assert read_card(folder).qc["conf_thresholds"] == {"lv-apex-endo": 0.42}
    got = find_qc_config(None, folder)
    assert (got.threshold("lv-apex-endo"), got.default_conf, got.input_peak_low) == (
        0.42,
        0.2,
        0.25,
    )
    assert find_qc_config(None, folder / "model.safetensors").threshold("lv-apex-endo") == 0.42
    # the user's own qc.json in the folder wins; a folder without either gets the defaults
    (folder / "qc.json").write_text(QcConfig({}, 0.5).to_json())
    assert find_qc_config(None, folder).default_conf == 0.5
    plain = export_model_dir(tiny_checkpoint(tmp_path / "other.pt"), tmp_path / "m2")
    assert read_card(plain).qc == {} and find_qc_config(None, plain) == QcConfig()


def test_export_qc_puts_a_recalibration_in_the_card_instead_of_trainings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from echomark.measure.qc import QcConfig, qc_beside

    ck = tiny_checkpoint(tmp_path / "best.pt")
    qc_beside(ck).write_text(QcConfig({"lv-apex-endo": 0.42}, source="training").to_json())
    recal = tmp_path / "qc.json"
    recal.write_text(QcConfig({"lv-apex-endo": 1.0}, 0.5, 0.68, "tune, as shipped").to_json())
    args = ["export", "--checkpoint", str(ck), "--model-dir", str(tmp_path / "m")]
    assert main([*args, "--qc", str(recal)]) == 0
    card = read_card(tmp_path / "m").qc
    assert card["conf_thresholds"] == {"lv-apex-endo": 1.0}
    assert (card["input_peak_low"], card["source"]) == (0.68, "tune, as shipped")
    capsys.readouterr()
    # a missing file is an input error, not a silent fall-back to training's thresholds
    assert main([*args[:3], "--model-dir", str(tmp_path / "n"), "--qc", "nope.json"]) == 2
    assert "nope.json" in capsys.readouterr().err and not (tmp_path / "n").exists()
    assert main(["export", "--checkpoint", str(ck), "--onnx", "x.onnx", "--qc", str(recal)]) == 2


def test_every_shipped_model_reads_loads_and_says_what_it_was_trained_on() -> None:
    from echomark.models.modelfile import load_weights
    from echomark.models.zoo import package_zoo

    assert (package_zoo() / "README.md").is_file()  # the folder ships even before a model does
    shipped = [f for f in package_zoo().iterdir() if (f / CARD_FILE).is_file()]
    for folder in shipped:
        card, state = read_model_dir(folder)
        assert card.training_data, f"{folder.name}: the card must say what it was trained on"
        load_weights(build_model(card.variant, card.in_channels, len(card.channels)), state)
        assert resolve_model(folder.name) == folder or ENV_VAR in os.environ
