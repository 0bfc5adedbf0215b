"""Safe model files: no code runs from a checkpoint; safetensors + card round trip; mismatches."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from echomark.cli.main import main
from echomark.errors import ConfigError
from echomark.models import build_model
from echomark.models.modelfile import CARD_FILE, WEIGHTS_FILE, load_weights, read_model_dir
from echomark.train.checkpoint import load_checkpoint
from predict_helpers import CHANNELS, tiny_checkpoint


class _Payload:
    """Unpickling this calls os.system: what a hostile shared checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def _evil_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    good = torch.load(tiny_checkpoint(tmp_path / "good.pt"), weights_only=True)
    good["config"] = _Payload(marker)
    torch.save(good, path)
    # Sanity: the payload really would run under the unrestricted unpickler.
    assert pickle.dumps(_Payload(marker))
    return path, marker


def test_a_pickled_payload_in_a_checkpoint_never_runs(tmp_path, capsys) -> None:
    path, marker = _evil_checkpoint(tmp_path)
    with pytest.raises(ConfigError, match="never loads"):
        load_checkpoint(path)
    assert not marker.exists()
    img = tmp_path / "a.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(img), np.zeros((32, 32), np.uint8))
    rc = main(["predict", "--checkpoint", str(path), str(img), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "evil.pt" in err[0]
    assert not marker.exists() and not (tmp_path / "o").exists()
    rc = main(["export", "--checkpoint", str(path), "--model-dir", str(tmp_path / "m")])
    assert rc == 2 and not marker.exists() and not (tmp_path / "m").exists()


def test_export_model_dir_predicts_like_the_checkpoint(tmp_path, capsys) -> None:
    ckpt = tiny_checkpoint(tmp_path / "c.pt", head_bias=0.5, head_std=0.05)
    assert main(["export", "--checkpoint", str(ckpt), "--model-dir", str(tmp_path / "m")]) == 0
    card = json.loads((tmp_path / "m" / CARD_FILE).read_text())
    assert card["format"] == "echomark-model" and card["variant"] == "tiny"
    assert card["channels"] == list(CHANNELS) and card["input_size"] == [64, 64]
    assert {"codec", "training", "metrics", "config", "kinds", "in_channels"} <= set(card)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "m" / WEIGHTS_FILE), "pt") as f:
        assert len(list(f.keys())) > 10
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "a.png"), rng.integers(0, 255, (48, 56), np.uint8))
    for name, model in (("p1", ckpt), ("p2", tmp_path / "m")):
        argv = ["predict", "--checkpoint", str(model), str(tmp_path / "a.png")]
        assert main([*argv, "--out", str(tmp_path / name)]) == 0
    a = json.loads((tmp_path / "p1" / "predictions.json").read_text())
    b = json.loads((tmp_path / "p2" / "predictions.json").read_text())
    assert a == b
    # A second export into the same folder is refused unless --overwrite.
    argv = ["export", "--checkpoint", str(ckpt), "--model-dir", str(tmp_path / "m")]
    assert main(argv) == 2
    assert main([*argv, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(variant="w18"), "not those of an HRNet w18"),
        (
            lambda c: c.update(channels=c["channels"][:2], kinds=c["kinds"][:2]),
            "3 label channels, the model 2",
        ),
        (lambda c: c.update(in_channels=3), "1 input channels, the model 3"),
        (lambda c: c.update(format="other"), "not an echomark model card"),
        (lambda c: c.update(version=99), "version 99 is not supported"),
        (lambda c: c.pop("variant"), "missing field 'variant'"),
    ],
)
def test_a_model_of_another_variant_or_channel_list_is_one_line(
    tmp_path, capsys, edit, message
) -> None:
    ckpt = tiny_checkpoint(tmp_path / "c.pt")
    assert main(["export", "--checkpoint", str(ckpt), "--model-dir", str(tmp_path / "m")]) == 0
    card_path = tmp_path / "m" / CARD_FILE
    card = json.loads(card_path.read_text())
    edit(card)
    card_path.write_text(json.dumps(card))
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((40, 40), np.uint8))
    capsys.readouterr()
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(tmp_path / "m"),
            str(tmp_path / "a.png"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o").exists()


def test_a_file_that_is_not_a_model_is_one_line(tmp_path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / CARD_FILE).write_text("{}")
    (folder / WEIGHTS_FILE).write_text("hello")
    with pytest.raises(ConfigError, match="not an echomark model card"):
        read_model_dir(folder)
    (folder / CARD_FILE).write_text("not json")
    with pytest.raises(ConfigError, match="not JSON"):
        read_model_dir(folder)
    ckpt = tiny_checkpoint(tmp_path / "c.pt")
    assert main(["export", "--checkpoint", str(ckpt), "--model-dir", str(tmp_path / "ok")]) == 0
    (tmp_path / "ok" / WEIGHTS_FILE).write_bytes(b"\x00" * 64)
    with pytest.raises(ConfigError, match="not a safetensors"):
        read_model_dir(tmp_path / "ok")


def test_checkpoint_weights_of_another_channel_list_name_the_difference(tmp_path) -> None:
    state = build_model("tiny", 1, 5).state_dict()
    with pytest.raises(ConfigError, match="predicts 5 label channels, the model 3"):
        load_weights(build_model("tiny", 1, 3), state, file="x.pt", variant="tiny")


def test_measure_reads_a_model_folder(tmp_path, capsys) -> None:
    from echomark.synth.dicom import write_us_dicom

    ckpt = tiny_checkpoint(tmp_path / "c.pt", head_bias=0.5, head_std=0.05)
    assert main(["export", "--checkpoint", str(ckpt), "--model-dir", str(tmp_path / "m")]) == 0
    dcm = write_us_dicom(tmp_path / "a.dcm", rows=64, cols=80, frames=2)
    argv = [
        "measure",
        str(dcm),
        "--checkpoint",
        str(tmp_path / "m"),
        "--no-ocr",
        "--out",
        str(tmp_path / "o"),
    ]
    rc = main(argv)
    assert rc in (0, 1), capsys.readouterr().err  # 1: the random model finds no LV landmarks
    assert json.loads((tmp_path / "o" / "predictions.json").read_text())


def test_a_shared_model_names_no_folder_of_the_training_machine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ckpt = tiny_checkpoint(
        tmp_path / "c.pt",
        data_paths=("/home/ann.smith/st-marys/png-cache.zip", "/home/ann.smith/labels.zip"),
    )
    assert main(["export", "--checkpoint", str(ckpt), "--model-dir", str(tmp_path / "m")]) == 0
    text = (tmp_path / "m" / CARD_FILE).read_text()
    assert "ann.smith" not in text and "st-marys" not in text
    card = json.loads(text)
    assert card["config"]["data"]["images"] == "png-cache.zip"
    assert card["config"]["data"]["labels"] == "labels.zip"
