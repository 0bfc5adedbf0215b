"""Masked heatmap MSE normalised by the number of supervised elements (torch)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def masked_mse(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    foreground_alpha: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted squared error of one stride: numerator and denominator.

    Args:
        pred: Predicted heatmaps, shape [B, K, h, w].
        target: Target heatmaps, shape [B, K, h, w], values in [0, 1].
        weight: Per-channel mask, shape [B, K] (or broadcastable to [B, K, h, w]);
            1 supervised (point, curve, off), 0 masked (blurred).
        foreground_alpha: Element weight ``1 + alpha * target`` on top of the mask.

    Returns:
        ``(sum((pred - target)^2 * w), sum(w))`` over all elements, as float32 scalars;
        ``w = mask * (1 + alpha * target)``. Kept separate so they can be summed across
        batches and processes before dividing.

    >>> p = torch.zeros(1, 2, 2, 2); t = torch.ones(1, 2, 2, 2)
    >>> num, den = masked_mse(p, t, torch.tensor([[1.0, 0.0]]))
    >>> float(num), float(den)
    (4.0, 4.0)
    """
    pred = pred.float()
    target = target.float()
    w = weight.float()
    if w.dim() == 2:
        w = w[:, :, None, None]
    w = w.expand_as(target)
    if foreground_alpha:
        w = w * (1.0 + foreground_alpha * target)
    return ((pred - target) ** 2 * w).sum(), w.sum()


def heatmap_loss(
    preds: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor],
    weights: Sequence[torch.Tensor],
    *,
    foreground_alpha: float = 0.0,
    stride_weights: Sequence[float] | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """Sum over strides of the normalised masked MSE.

    Each stride contributes ``sum((p - t)^2 * w) / max(sum(w), eps)``, so a batch whose labels
    are all blurred contributes 0 rather than NaN.

    Returns:
        ``(loss, per_stride)``: the differentiable total and each stride's value as floats.

    >>> p = [torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 4, 4)]
    >>> t = [torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 4, 4)]
    >>> w = [torch.ones(1, 1), torch.ones(1, 1)]
    >>> float(heatmap_loss(p, t, w)[0])
    1.0
    """
    if not len(preds) == len(targets) == len(weights):
        raise ValueError(f"{len(preds)} outputs, {len(targets)} targets, {len(weights)} weights")
    sw = list(stride_weights) if stride_weights is not None else [1.0] * len(preds)
    total = preds[0].new_zeros((), dtype=torch.float32)
    parts = []
    for p, t, w, s in zip(preds, targets, weights, sw, strict=True):
        if p.shape != t.shape:
            raise ValueError(f"prediction {tuple(p.shape)} vs target {tuple(t.shape)}")
        num, den = masked_mse(p, t, w, foreground_alpha)
        value = num / den.clamp_min(1e-8)
        parts.append(float(value.detach()))
        total = total + s * value
    return total, parts
