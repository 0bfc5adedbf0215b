"""Learning-rate schedule: linear warm-up, then cosine, plateau or constant."""

from __future__ import annotations

import math
from typing import Any

import torch

from echomark.train.config import OptimConfig, ScheduleName


def cosine_factor(
    step: int, total_steps: int, warmup_steps: int, start: float, end: float
) -> float:
    """LR multiplier at ``step``: linear ``start -> 1`` over the warm-up, then cosine to ``end``.

    >>> [round(cosine_factor(s, 10, 2, 0.0, 0.0), 3) for s in (0, 1, 2, 6, 10)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    if step < warmup_steps:
        return start + (1.0 - start) * step / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    t = min(max(step - warmup_steps, 0) / span, 1.0)
    return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * t))


class LrSchedule:
    """Sets the optimiser's learning rate every step; plateau decay is decided per epoch.

    Args:
        optimizer: Optimiser whose param groups get ``lr``.
        config: Optimiser settings (peak lr, warm-up, schedule).
        steps_per_epoch: Optimiser steps in one epoch.
        epochs: Total epochs.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        config: OptimConfig,
        steps_per_epoch: int,
        epochs: int,
    ) -> None:
        self.optimizer = optimizer
        self.config = config
        self.total_steps = max(steps_per_epoch * epochs, 1)
        self.warmup_steps = round(config.warmup_epochs * steps_per_epoch)
        self.step_count = 0
        self.plateau_scale = 1.0
        self.best: float | None = None
        self.bad_epochs = 0
        self._apply()

    @property
    def lr(self) -> float:
        """Current learning rate."""
        c = self.config
        if c.schedule is ScheduleName.COSINE:
            f = cosine_factor(
                self.step_count, self.total_steps, self.warmup_steps, c.warmup_start, c.min_lr_ratio
            )
        elif self.step_count < self.warmup_steps:
            f = c.warmup_start + (1 - c.warmup_start) * self.step_count / self.warmup_steps
        else:
            f = 1.0
        return c.lr * f * self.plateau_scale

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def step(self) -> None:
        """Advance one optimiser step."""
        self.step_count += 1
        self._apply()

    def epoch_end(self, metric: float | None) -> None:
        """Feed the epoch's tune loss (plateau schedule only; None: no evaluation)."""
        c = self.config
        if c.schedule is not ScheduleName.PLATEAU or metric is None or not math.isfinite(metric):
            return
        if self.best is None or metric < self.best * (1.0 - c.threshold):
            self.best = metric
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > c.patience:
                self.plateau_scale *= c.factor
                self.bad_epochs = 0
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        """Resumable state."""
        return {
            "step_count": self.step_count,
            "plateau_scale": self.plateau_scale,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.step_count = int(state["step_count"])
        self.plateau_scale = float(state["plateau_scale"])
        self.best = None if state["best"] is None else float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        self._apply()
