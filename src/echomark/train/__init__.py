"""Training: typed config, loop, checkpoints, DDP (torch)."""

from echomark.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from echomark.train.config import (
    BestMetric,
    DataPaths,
    LossConfig,
    ModelConfig,
    OptimConfig,
    OptimizerName,
    ScheduleName,
    TrainConfig,
    config_from_dict,
    dump_config,
    load_config,
)
from echomark.train.loop import TrainData, TrainResult, run_training

__all__ = [
    "BestMetric",
    "Checkpoint",
    "DataPaths",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "OptimizerName",
    "ScheduleName",
    "TrainConfig",
    "TrainData",
    "TrainResult",
    "config_from_dict",
    "dump_config",
    "load_checkpoint",
    "load_config",
    "run_training",
    "save_checkpoint",
]
