"""Shared helpers for the predict / export tests: a tiny random-weight checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from echomark.data.config import DataConfig, ResizeMode
from echomark.models import build_model
from echomark.train.checkpoint import Checkpoint, save_checkpoint
from echomark.train.config import DataPaths, ModelConfig, TrainConfig, to_dict

CHANNELS = ("lv-apex-endo", "mv-ant-hinge", "curve-lv-endo")
KINDS = ("point", "point", "curve")


def tiny_checkpoint(
    path: Path,
    *,
    input_hw: tuple[int, int] = (64, 64),
    resize: ResizeMode = ResizeMode.LETTERBOX,
    seed: int = 0,
    head_bias: float | None = None,
    head_std: float = 0.0,
    data_paths: tuple[str, str] = ("", ""),
) -> Path:
    """Write a checkpoint of the tiny HRNet with random weights and three channels.

    ``head_bias`` / ``head_std`` reset the output heads so the random net "sees" something
    (the default head bias makes every heatmap ~0.01, i.e. everything ``off``).
    """
    torch.manual_seed(seed)
    cfg = TrainConfig(
        data=DataPaths(images=data_paths[0], labels=data_paths[1], channels=CHANNELS),
        dataset=DataConfig(input_hw=input_hw, resize=resize),
        model=ModelConfig("tiny"),
        epochs=1,
    )
    model = build_model("tiny", 1, len(CHANNELS))
    if head_bias is not None:
        with torch.no_grad():
            for head in (model.head4, model.head2):  # type: ignore[union-attr]
                head.bias.fill_(head_bias)
                head.weight.normal_(0.0, head_std)
    ckpt = Checkpoint(
        model_state=model.state_dict(),
        config=to_dict(cfg),
        channels=list(CHANNELS),
        kind_names=list(KINDS),
        variant="tiny",
        in_channels=1,
        input_size=input_hw,
    )
    return save_checkpoint(ckpt, path)
