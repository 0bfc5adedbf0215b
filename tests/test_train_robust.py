"""Training refuses bad data before the first step, says what it runs, and resumes honestly."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from echomark.cli.main import main
from echomark.synth.config import DatasetConfig
from echomark.synth.dataset import write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trainrobust") / "ds"
    write_dataset(
        out,
        DatasetConfig(
            n_videos=2, n_external=0, frames_per_video=3, labelled_per_video=2, size=(64, 80)
        ),
    )
    # A png-cache folder (not the zip) so single frames can be damaged.
    with zipfile.ZipFile(out / "png-cache.zip") as zf:
        zf.extractall(out / "cache")
    return out


def _config(tmp: Path, ds: Path, cache: Path, **extra: object) -> Path:
    cfg = {
        "data": {"images": str(cache), "labels": str(ds / "labels.zip"), "tune_split": "train"},
        "dataset": {"input_hw": [32, 32]},
        "model": {"variant": "tiny"},
        "epochs": 2,
        "batch_size": 2,
        "workers": 0,
        "device": "cpu",
        "tune_every": 100,
        **extra,
    }
    path = tmp / "c.yaml"
    path.write_text(json.dumps(cfg))
    return path


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_train_with_a_bad_frame_stops_before_the_first_step(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(dataset / "cache", cache)
    labelled = sorted(json.loads(zipfile.ZipFile(dataset / "labels.zip").read("labels-train.json")))
    victim = next(cache.rglob(labelled[0]))
    if damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:120])
    else:
        victim.unlink()
    out = tmp_path / "run"
    rc = main(["-q", "train", "-c", str(_config(tmp_path, dataset, cache)), "--out", str(out)])
    line = _one_error_line(capsys)
    assert rc == 2 and labelled[0] in line and "nothing was trained" in line
    assert not out.exists()  # no config.yaml, no checkpoint: stopped before the first step


def test_startup_summary_warmup_warning_resume_report_and_schedule_guard(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, dataset, dataset / "png-cache.zip", epochs=1)
    out = tmp_path / "run"
    assert main(["train", "-c", str(cfg), "--out", str(out), "--set", "optim.warmup_epochs=3"]) == 0
    err = capsys.readouterr().err
    assert "train: device cpu, model tiny, input 32x32" in err and "steps/epoch" in err
    assert "warmup_epochs=3 is not shorter than epochs=1" in err
    # Extending the run silently restarts the cosine schedule: refused unless asked.
    argv = ["train", "-c", str(cfg), "--out", str(out), "--resume", str(out / "last.pt")]
    assert main([*argv, "--set", "epochs=2", "--set", "optim.warmup_epochs=3"]) == 2
    line = _one_error_line(capsys)
    assert "epochs 1 -> 2" in line and "--new-schedule" in line
    assert (
        main([*argv, "--set", "epochs=2", "--set", "optim.warmup_epochs=3", "--new-schedule"]) == 0
    )
    captured = capsys.readouterr()
    assert "resumed" in captured.err and "1 of 2 epochs done" in captured.err
    assert "trained 1 epoch(s) this run (epochs 2..2)" in captured.out


def test_set_lists_list_keys_and_errors_blame_the_set(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, dataset, dataset / "png-cache.zip")
    argv = ["train", "-c", str(cfg), "--print-config", "--set", "dataset.input_hw=48,64"]
    assert main(argv) == 0
    assert "input_hw: [48, 64]" in capsys.readouterr().out
    assert main(["train", "-c", str(cfg), "--set", "epochs=ten"]) == 2
    line = _one_error_line(capsys)
    assert "--set epochs=ten" in line and str(cfg) not in line
    assert main(["train", "--list-keys"]) == 0
    out = capsys.readouterr().out
    assert "optim.lr" in out and "dataset.input_hw" in out and "[608, 608]" in out
    assert main(["train", "--set", "optim.lrr=1"]) == 2
    assert "--list-keys" in _one_error_line(capsys)


def test_save_every_keeps_a_snapshot_with_its_thresholds(dataset: Path, tmp_path: Path) -> None:
    # 3 epochs, tune on epoch 2 and the last: snapshots at 2 (with thresholds) only
    cfg = _config(tmp_path, dataset, dataset / "png-cache.zip", epochs=3, tune_every=2)
    out = tmp_path / "run"
    assert main(["-q", "train", "-c", str(cfg), "--out", str(out), "--set", "save_every=2"]) == 0
    assert sorted(p.name for p in out.glob("epoch-*")) == ["epoch-002.pt", "epoch-002.qc.json"]
    import torch

    snap = torch.load(out / "epoch-002.pt", map_location="cpu", weights_only=False)
    last = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert snap["epoch"] == 2 and last["epoch"] == 3
    assert "epoch 2" in json.loads((out / "epoch-002.qc.json").read_text())["source"]
    assert main(["-q", "train", "-c", str(cfg), "--out", str(tmp_path / "x"),
                 "--set", "save_every=-1"]) == 2  # fmt: skip
