"""Exponential moving average of a network's weights during training (``optim.ema_decay``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn


def ema_decay_at(decay: float, updates: int) -> float:
    """The decay used for the ``updates``-th update (counted from 1).

    Early on the average would be dominated by the random initial weights, so the decay
    ramps up as ``(1 + n) / (10 + n)`` until it reaches ``decay``.

    >>> round(ema_decay_at(0.999, 1), 4)
    0.1818
    >>> ema_decay_at(0.999, 100000)
    0.999
    """
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightEma:
    """A moving average of a module's ``state_dict``.

    Floating-point entries (weights and batch-norm running statistics) are averaged, the
    rest (``num_batches_tracked``) copied.

    Args:
        model: The module being trained (unwrapped from DDP).
        decay: Target decay per update, in (0, 1).
        state: Averaged weights to start from (a resumed run); the model's own otherwise.
        updates: Updates already folded into ``state``.
    """

    def __init__(
        self,
        model: nn.Module,
        decay: float,
        *,
        state: Mapping[str, torch.Tensor] | None = None,
        updates: int = 0,
    ) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        own = model.state_dict()
        source = own if state is None else state
        missing = sorted(set(own) - set(source))
        if missing:
            raise KeyError(f"averaged weights lack {len(missing)} tensors, e.g. {missing[0]}")
        self.decay = decay
        self.updates = updates
        self.shadow = {
            k: source[k].detach().to(device=v.device, dtype=v.dtype).clone() for k, v in own.items()
        }
        self._eval: nn.Module | None = None

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current weights into the average."""
        self.updates += 1
        weight = 1.0 - ema_decay_at(self.decay, self.updates)
        for key, value in model.state_dict().items():
            avg = self.shadow[key]
            if avg.is_floating_point():
                avg.lerp_(value.detach(), weight)
            else:
                avg.copy_(value)

    def module(self, model: nn.Module) -> nn.Module:
        """A copy of ``model`` holding the averaged weights, in eval mode.

        The copy is made on the first call and refreshed on every call.
        """
        if self._eval is None:
            self._eval = copy.deepcopy(model)
        self._eval.load_state_dict(self.shadow)
        return self._eval.eval()
