"""Packaging: torch-free verbs run without torch, torch verbs say which extra, configs ship."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from echomark.errors import ConfigError
from echomark.train.config import config_path, load_config, shipped_configs

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

#: Runs ``echomark ARGS...`` in a fresh interpreter in which ``import torch`` fails exactly as
#: it does where torch is not installed (ModuleNotFoundError, nothing left in sys.modules).
NO_TORCH_MAIN = """
import os, sys
BLOCKED = set(os.environ.get("ECHOMARK_TEST_BLOCK", "torch").split(","))
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoTorch())
from echomark.cli.main import main
code = main(sys.argv[1:])
assert "torch" not in sys.modules, "torch was imported"
sys.exit(code)
"""


def echomark_without_torch(
    *args: str, cwd: Path, block: str = "torch"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "ECHOMARK_TEST_BLOCK": block}
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH_MAIN, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_torch_free_verbs_run_without_torch(tmp_path: Path) -> None:
    def ok(*args: str) -> str:
        res = echomark_without_torch(*args, cwd=tmp_path)
        assert res.returncode == 0, f"echomark {' '.join(args)}:\n{res.stderr}"
        return res.stdout + res.stderr

    ok("synth", "--out", "s", "--videos", "2", "--external", "1", "--frames", "4",
       "--labelled", "2", "--size", "120x160", "--quiet")  # fmt: skip
    assert (tmp_path / "s" / "labels.zip").is_file()
    assert "0 error(s)" in ok("labels", "validate", "s/labels.zip", "--images", "s/png-cache.zip")
    assert "train" in ok("labels", "stats", "s/labels.zip")
    assert "0 errors" in ok("cache", "verify", "s/png-cache.zip", "--labels", "s/labels.zip")
    assert "3 videos, 12 frames" in ok("cache", "ls", "s/png-cache.zip")
    ok("labels", "convert", "s/labels.zip", "--split", "train", "--to", "v2", "pred.json")
    ok("evaluate", "--labels", "s/labels.zip", "--split", "train", "--predictions", "pred.json",
       "--images", "s/png-cache.zip", "--calibration", "s/01_database_physical.csv",
       "--out", "e")  # fmt: skip
    assert (tmp_path / "e" / "metrics.json").is_file()
    out = ok("curate", get_testdata_file("US1_UNCR.dcm"), "--class", "01", "--out", "c",
             "--no-ocr")  # fmt: skip
    assert "1 written" in out
    assert (tmp_path / "c" / "01_database_physical.csv").is_file()
    ok("measure", "s/labels.zip", "--split", "all", "--calibration", "s/01_database_physical.csv",
       "--views", "s/view_index.csv", "--out", "m")  # fmt: skip
    assert ",frame,LVID," in (tmp_path / "m" / "measurements.csv").read_text()


@pytest.mark.parametrize(
    "args",
    [
        ("train", "--config", "demo"),
        ("demo", "--quick", "--out", "d"),
        ("model-info",),
        ("export", "--checkpoint", "x.pt", "--onnx", "x.onnx"),
        ("predict", "--checkpoint", "x.pt", "in.png", "--out", "p"),
        ("predict", "--model", "synthetic-v1", "in.png", "--out", "p"),
        ("models",),
    ],
)
def test_torch_verbs_say_which_extra_in_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "x.pt").write_bytes(b"not read")
    res = echomark_without_torch(*args, cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines == [
        f"echomark {args[0]}: error: needs torch, which is not installed: "
        "pip install 'echomark[torch]'"
    ]
    assert not (tmp_path / "d").exists()


def test_serve_without_the_web_extra_says_so(tmp_path: Path) -> None:
    res = echomark_without_torch(
        "serve", "--images", "x.zip", "--labels", "l.json", cwd=tmp_path, block="starlette"
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "echomark serve: error: needs starlette, which is not installed: "
        "pip install 'echomark[web]'"
    ]


def test_python_api_without_torch_names_the_extra(tmp_path: Path) -> None:
    code = NO_TORCH_MAIN.split("from echomark.cli.main")[0] + (
        "import echomark\n"
        "cine = echomark.make_cine('A4C', 1, n_frames=2, size=(64, 80))\n"
        "try:\n"
        "    echomark.Predictor('x.pt')\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert res.stdout.strip() == (
        "Predictor needs torch, which is not installed: pip install 'echomark[torch]'"
    )


def test_shipped_configs_by_name_or_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert {"demo", "w32-gpu"} <= set(shipped_configs())
    # `echomark train --help` names every shipped config
    import re

    from echomark.cli.main import main as cli_main

    assert cli_main(["train", "--help"]) == 0
    text = re.sub(r"\s+", " ", re.sub(r"-\n\s*", "-", capsys.readouterr().out))
    for name in shipped_configs():
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), name
    assert config_path("w32-gpu") == config_path("w32-gpu.yaml")
    assert load_config("w32-gpu").model.variant == "w32"
    assert load_config("demo").model.variant == "tiny"
    monkeypatch.chdir(tmp_path)
    own = tmp_path / "mine.yaml"
    own.write_text("epochs: 3\n")
    assert load_config("mine.yaml").epochs == 3
    with pytest.raises(ConfigError, match=r"shipped: demo, .*w32-gpu"):
        config_path("no-such-config")
    with pytest.raises(ConfigError):
        config_path("sub/demo")


def test_the_gpu_transfer_recipe_trains_what_the_cpu_one_does() -> None:
    """Only scale differs: the augmentation, targets, decoding and labels are the same."""
    cpu, gpu = load_config("synthetic-transfer"), load_config("synthetic-transfer-gpu")
    assert gpu.model.variant == "w18" and gpu.amp and gpu.channels_last
    assert gpu.dataset.augment == cpu.dataset.augment
    assert gpu.dataset.codec == cpu.dataset.codec
    assert gpu.dataset.codec.points_on_curves == {"lv-apex-endo": "curve-lv-endo"}
    assert gpu.data.views == cpu.data.views and gpu.loss == cpu.loss
    # the same test-time shift as a fraction of the input (16 px at 256 = 24 px at 384)
    assert (
        gpu.dataset.tta_shift_px / gpu.dataset.input_hw[0]
        == cpu.dataset.tta_shift_px / cpu.dataset.input_hw[0]
    )


def test_core_dependencies_leave_torch_to_an_extra_and_pins_to_constraints() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = meta["project"]
    names = [d.split(">")[0].split("=")[0].split("<")[0].strip() for d in project["dependencies"]]
    assert "torch" not in names and "onnxruntime" not in names
    assert not [d for d in project["dependencies"] if "==" in d], "exact pins go to constraints"
    extras = project["optional-dependencies"]
    assert extras["torch"] == ["torch>=2.4,<3"]
    named = {"torch", "onnx", "ocr", "gdcm", "pacs", "dask", "sr", "web"}
    assert named | {"all", "dev"} <= set(extras)
    (everything,) = extras["all"]
    assert set(everything.removeprefix("echomark[").removesuffix("]").split(",")) == set(extras) - {
        "all",
        "dev",
    }
    data = meta["tool"]["setuptools"]["package-data"]["echomark"]
    assert "configs/*.yaml" in data
    assert "models/zoo/*/*" in data  # shipped named models: model.safetensors + model.json
    pins = (ROOT / "constraints.txt").read_text().split()
    assert "torch==2.13.0" in pins
    script = (ROOT / "scripts" / "make-venv.sh").read_text()
    assert script.count('-c "$CONSTRAINTS"') == 2
    assert "constraints.txt" in (ROOT / "Makefile").read_text()
