"""A tiny in-memory dataset with EchoDataset's item contract, for training-loop tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from echomark.data.config import AugmentConfig, DataConfig
from echomark.heatmaps import CodecConfig, encode
from echomark.labels.registry import LabelKind
from echomark.labels.schema import ImageLabels, Label
from echomark.train import TrainData

CHANNELS = ["dot", "line"]
KINDS = [LabelKind.POINT, LabelKind.CURVE]


def fake_data_config(size: int = 64) -> DataConfig:
    return DataConfig(
        input_hw=(size, size), in_channels=1, augment=AugmentConfig.none(), codec=CodecConfig()
    )


class FakeDataset(torch.utils.data.Dataset):
    """``n`` grey images of a bright dot and a bright line, labelled; source = input px.

    When ``train`` is set, each item gets noise drawn from torch's global generator, so the
    loop's reseeding is exercised (an unseeded loop would not reproduce).
    """

    def __init__(self, n: int = 4, size: int = 64, seed: int = 0, train: bool = True) -> None:
        self.size = size
        self.train = train
        self.channels = list(CHANNELS)
        self.kinds = list(KINDS)
        self.config = fake_data_config(size)
        rng = np.random.default_rng(seed)
        self.items: list[tuple[np.ndarray, ImageLabels, str]] = []
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
        for i in range(n):
            px, py = rng.uniform(12, size - 12, 2)
            img = 0.8 * np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * 2.0**2))
            labels: ImageLabels = {"dot": Label.point(px, py)}
            if i % 2 == 0:
                y0 = rng.uniform(8, size - 8)
                img += 0.6 * np.exp(-((yy - y0) ** 2) / (2 * 1.5**2)) * (xx > 8) * (xx < size - 8)
                labels["line"] = Label.curve([[8.0, y0], [size / 2, y0], [size - 8.0, y0]])
            else:
                labels["line"] = Label.off()
            self.items.append((np.clip(img, 0, 1).astype(np.float32), labels, f"fake-{i:04d}.png"))

    def __len__(self) -> int:
        return len(self.items)

    def labels_of(self, index: int) -> ImageLabels:
        return self.items[index][1]

    def __getitem__(self, index: int) -> dict[str, Any]:
        img, labels, key = self.items[index]
        image = torch.from_numpy(img - 0.5)[None].clone()
        if self.train:
            image += 0.05 * torch.randn_like(image)
        enc = encode(
            labels, self.channels, self.kinds, np.eye(3), (self.size, self.size), self.config.codec
        )
        return {
            "image": image,
            "heatmaps": [torch.from_numpy(np.asarray(e.heatmaps, np.float32)) for e in enc],
            "weights": [torch.from_numpy(np.asarray(e.weights, np.float32)) for e in enc],
            "matrix": torch.from_numpy(np.eye(3)),
            "key": key,
        }


def fake_config_dict(out_dir: str, *, epochs: int = 2, size: int = 64) -> dict[str, Any]:
    """Plain config data for a tiny CPU run on :class:`FakeDataset`."""
    return {
        "dataset": {"input_hw": [size, size], "in_channels": 1},
        "model": {"variant": "tiny"},
        "optim": {"lr": 3e-3, "warmup_epochs": 0.5},
        "epochs": epochs,
        "batch_size": 2,
        "workers": 0,
        "device": "cpu",
        "threads": 1,
        "seed": 3,
        "out_dir": out_dir,
    }


def fake_train_data() -> TrainData:
    """Four training items and two tune items of :class:`FakeDataset`."""
    return TrainData(FakeDataset(4), FakeDataset(2, seed=1, train=False))


class StopError(Exception):
    """Raised by :func:`stop_after_first_epoch` to interrupt a run."""


def stop_after_first_epoch(row: dict[str, float]) -> None:
    """An ``on_epoch_end`` hook that interrupts the run after its first epoch."""
    if row["epoch"] == 1:
        raise StopError
