"""Training checkpoints: atomic save, device-independent load, model rebuild."""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from echomark.errors import ConfigError
from echomark.fileio import atomic_path

if TYPE_CHECKING:
    from echomark.heatmaps import CodecConfig
    from echomark.labels.registry import LabelKind
    from echomark.train.config import TrainConfig

#: Format marker stored in every checkpoint.
FORMAT = "echomark-checkpoint"
#: Bumped when the stored layout changes incompatibly.
VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        model_state: Network weights (``module.`` prefixes removed), tensors on the load device:
            the moving average of the weights when the run keeps one (``optim.ema_decay``),
            which is what prediction, export and ``train --init`` use.
        config: The fully resolved training config as plain data (``to_dict`` form).
        channels: Label names in output-channel order.
        kind_names: ``"point"`` / ``"curve"`` per channel.
        variant: Network variant.
        in_channels: Network input channels.
        input_size: Network input (H, W) in px.
        epoch: Epochs completed.
        global_step: Optimiser steps completed.
        metrics: Tune metrics of this epoch (may be empty).
        optimizer_state: Optimiser state (None in weights-only files).
        scheduler_state: LR schedule state.
        rng_state: RNG states (python, numpy, torch, cuda) and the data-order state.
        best_value: Best tune metric so far.
        history: Metrics of every epoch so far.
        init: Where the run's first weights came from (``train --init``): ``source`` as
            given, the ``sha256`` of its weights file, tensors ``loaded`` and left ``fresh``;
            empty for a run started from random weights.
        raw_model_state: The weights being trained, when ``model_state`` holds their moving
            average (needed to resume such a run); None otherwise.
        ema_updates: Optimiser steps folded into the moving average.
        path: Where it was read from.
    """

    model_state: dict[str, torch.Tensor]
    config: dict[str, Any]
    channels: list[str]
    kind_names: list[str]
    variant: str
    in_channels: int
    input_size: tuple[int, int]
    epoch: int = 0
    global_step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    rng_state: dict[str, Any] | None = None
    best_value: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    init: dict[str, Any] = field(default_factory=dict)
    raw_model_state: dict[str, torch.Tensor] | None = None
    ema_updates: int = 0
    path: str = ""

    @property
    def kinds(self) -> list[LabelKind]:
        """Label kind per channel."""
        from echomark.labels.registry import LabelKind

        return [LabelKind(k) for k in self.kind_names]

    @property
    def num_outputs(self) -> int:
        """Heatmap channels K."""
        return len(self.channels)

    def train_config(self) -> TrainConfig:
        """The stored config as a typed :class:`~echomark.train.config.TrainConfig`."""
        from echomark.train.config import config_from_dict

        return config_from_dict(self.config)

    @property
    def codec(self) -> CodecConfig:
        """The heatmap codec settings the model was trained with."""
        return self.train_config().dataset.codec

    def build_model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The network with these weights, in eval mode, on ``device``."""
        from echomark.models import build_model
        from echomark.models.modelfile import load_weights

        model = build_model(self.variant, self.in_channels, self.num_outputs)
        load_weights(model, self.model_state, file=self.path, variant=self.variant)
        return model.to(device).eval()

    def to_payload(self) -> dict[str, Any]:
        """The dict written by :func:`save_checkpoint`."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "model_state": self.model_state,
            "config": self.config,
            "channels": list(self.channels),
            "kinds": list(self.kind_names),
            "variant": self.variant,
            "in_channels": self.in_channels,
            "input_size": list(self.input_size),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "metrics": dict(self.metrics),
            "optimizer_state": self.optimizer_state,
            "scheduler_state": self.scheduler_state,
            "rng_state": self.rng_state,
            "best_value": self.best_value,
            "history": [dict(r) for r in self.history],
            "init": dict(self.init),
            "raw_model_state": self.raw_model_state,
            "ema_updates": self.ema_updates,
        }


def strip_module_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the ``module.`` (DDP/DataParallel) and ``_orig_mod.`` (torch.compile) prefixes.

    >>> list(strip_module_prefix({"module.a.weight": torch.zeros(1)}))
    ['a.weight']
    """
    out = {}
    for key, value in state.items():
        k = key
        changed = True
        while changed:
            changed = False
            for prefix in ("module.", "_orig_mod."):
                if k.startswith(prefix):
                    k = k[len(prefix) :]
                    changed = True
        out[k] = value
    return out


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write ``checkpoint`` atomically (temp file in the same folder, then ``os.replace``).

    Tensors are moved to the CPU first so the file loads anywhere.
    """
    path = Path(path)
    payload = _to_cpu(checkpoint.to_payload())
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def _to_cpu(obj: Any) -> Any:
    """Tensors on the CPU and numpy values as tensors or Python scalars.

    The result holds only what ``torch.load(weights_only=True)`` accepts, so reading a
    checkpoint never needs the unrestricted unpickler.
    """
    import numpy as np

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_cpu(v) for v in obj)
    return obj


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written on any device.

    ``module.`` prefixes (DDP) in the stored weights are removed. Plain reference
    ``weights-N.pt`` files lack channels and config and are rejected with a clear error.

    Args:
        path: ``last.pt``, ``best.pt`` or any file written by :func:`save_checkpoint`.
        map_location: Where tensors go (``"cpu"`` by default).

    Raises:
        ConfigError: Missing or unreadable file, or not an echomark checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError("checkpoint not found", file=str(p))
    try:
        # weights_only: tensors and plain containers only; a pickled object in a shared
        # file is refused instead of run.
        with warnings.catch_warnings():
            # torch warns about the pickle protocol of files it then refuses; the refusal
            # below is the message.
            warnings.simplefilter("ignore")
            payload = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" not in str(exc).lower():
            raise ConfigError(
                "cannot read checkpoint (not a file written by torch.save); is it a file "
                "written by `echomark train`?",
                file=str(p),
            ) from None
        raise ConfigError(
            "not an echomark checkpoint: it holds Python objects other than tensors and "
            "plain data, which echomark never loads (they could run code); ask for a "
            "checkpoint written by `echomark train` or a model folder from `echomark export`",
            file=str(p),
        ) from None
    except Exception as exc:  # torch raises many types for corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot read checkpoint ({first}); is it a file written by `echomark train`?",
            file=str(p),
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ConfigError(
            "not an echomark checkpoint (no model metadata: channels, config)", file=str(p)
        )
    if int(payload.get("version", 0)) > VERSION:
        raise ConfigError(
            f"checkpoint version {payload['version']} is newer than {VERSION}", file=str(p)
        )
    try:
        return Checkpoint(
            model_state=strip_module_prefix(payload["model_state"]),
            config=dict(payload["config"]),
            channels=[str(c) for c in payload["channels"]],
            kind_names=[str(k) for k in payload["kinds"]],
            variant=str(payload["variant"]),
            in_channels=int(payload["in_channels"]),
            input_size=(int(payload["input_size"][0]), int(payload["input_size"][1])),
            epoch=int(payload.get("epoch", 0)),
            global_step=int(payload.get("global_step", 0)),
            metrics=dict(payload.get("metrics") or {}),
            optimizer_state=payload.get("optimizer_state"),
            scheduler_state=payload.get("scheduler_state"),
            rng_state=payload.get("rng_state"),
            best_value=payload.get("best_value"),
            history=list(payload.get("history") or []),
            init=dict(payload.get("init") or {}),
            raw_model_state=(
                None
                if payload.get("raw_model_state") is None
                else strip_module_prefix(payload["raw_model_state"])
            ),
            ema_updates=int(payload.get("ema_updates") or 0),
            path=str(p),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ConfigError(f"malformed checkpoint: {exc!r}", file=str(p)) from None
