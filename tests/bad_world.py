"""A small read-only world of good inputs that the bad-input corpus corrupts copies of."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echomark.cli.main import main
from echomark.synth.config import DatasetConfig
from echomark.synth.dataset import write_dataset
from echomark.synth.dicom import write_us_dicom
from predict_helpers import tiny_checkpoint


@dataclass(frozen=True)
class World:
    """Paths of the good inputs (never modified by a case)."""

    root: Path
    ds: Path  # synthetic dataset folder (png-cache.zip, labels.zip, CSVs)
    cache: Path  # png-cache.zip
    labels: Path  # labels.zip
    labels_json: Path  # labels-all.json (plain file)
    calib: Path  # 01_database_physical.csv
    ck: Path  # tiny checkpoint .pt
    model: Path  # model folder from export --model-dir
    dcm: Path  # synthetic ultrasound cine
    png: Path  # a plain grey PNG
    pred: Path  # predictions.json of the tiny model on the dataset
    config: Path  # a training config YAML that works on the dataset

    def fill(self, text: str, tmp: Path, **extra: str) -> str:
        """Replace ``{name}`` placeholders with world paths (``{t}``: the case folder)."""
        names = {k: str(getattr(self, k)) for k in self.__dataclass_fields__}
        return text.format(t=str(tmp), **names, **extra)


def build_world(root: Path) -> World:
    """Write the world once (a few seconds)."""
    import zipfile

    ds = root / "ds"
    write_dataset(
        ds,
        DatasetConfig(
            n_videos=2, n_external=1, frames_per_video=4, labelled_per_video=2, size=(96, 128)
        ),
    )
    with zipfile.ZipFile(ds / "labels.zip") as zf:
        member = next(n for n in zf.namelist() if n.endswith("labels-all.json"))
        labels_json = root / "labels-all.json"
        labels_json.write_bytes(zf.read(member))
    ck = tiny_checkpoint(root / "tiny.pt")
    model = root / "model"
    assert main(["-q", "export", "--checkpoint", str(ck), "--model-dir", str(model)]) == 0
    dcm = write_us_dicom(root / "cine.dcm", rows=96, cols=128, frames=3)
    import cv2

    png = root / "grey.png"
    cv2.imwrite(str(png), np.full((40, 50), 90, np.uint8))
    pred_dir = root / "pred"
    rc = main(
        [
            "-q",
            "predict",
            "--checkpoint",
            str(ck),
            str(ds / "png-cache.zip"),
            "--out",
            str(pred_dir),
        ]
    )
    assert rc == 0
    config = root / "train.yaml"
    config.write_text(
        json.dumps(
            {
                "data": {"images": str(ds / "png-cache.zip"), "labels": str(ds / "labels.zip")},
                "dataset": {"input_hw": [64, 64]},
                "model": {"variant": "tiny"},
                "epochs": 1,
                "batch_size": 2,
                "workers": 0,
                "device": "cpu",
            }
        )
    )
    return World(
        root=root,
        ds=ds,
        cache=ds / "png-cache.zip",
        labels=ds / "labels.zip",
        labels_json=labels_json,
        calib=ds / "01_database_physical.csv",
        ck=ck,
        model=model,
        dcm=dcm,
        png=png,
        pred=pred_dir / "predictions.json",
        config=config,
    )


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and mtime (to prove nothing was written)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }
