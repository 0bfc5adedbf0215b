"""Codec settings: strides, Gaussian widths, window size, presence threshold."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from echomark.errors import ConfigError


class StrideCombine(str, Enum):
    """How :func:`echomark.heatmaps.decode` combines point estimates from several strides."""

    FINEST = "finest"
    """Use only the finest stride (smallest ``s``) that was given."""

    MEAN = "mean"
    """Average the input-pixel estimates of every stride whose peak passes the threshold."""


@dataclass(frozen=True)
class CodecConfig:
    """Everything the heatmap encoder and decoder need to agree on.

    Sigmas and spacings are in **target pixels** (pixels of the heatmap at that stride), so
    a point Gaussian of ``sigma_point = 4`` is 16 input px wide at stride 4 and 8 at stride 2
    (the 2020 reference values).

    Attributes:
        strides: Heatmap strides, coarsest first to match the model's output order; heatmap
            pixel ``i`` at stride ``s`` is input pixel ``s * i``.
        sigma_point: Gaussian sigma of point targets (target px).
        sigma_curve: Gaussian sigma of the distance-to-curve targets (target px).
        window_k: Gaussians are evaluated within ``window_k * sigma`` of the label (point
            windows are that square, curve bands at least that wide); beyond it the
            target is 0. The default 3.75 gives a truncation error
            ``exp(-k**2 / 2) = 8.8e-4 < 1e-3``.
        curve_spacing: Spacing of the dense polyline that stands for a curve (target px at
            each stride). The renderer corrects the distance for the spline's bulge off
            each chord (second order), so 0.5 keeps targets within ~1e-3 of the exact
            spline distance for radii of curvature above ~5 target px.
        presence_threshold: A point whose peak, or a curve whose heatmap maximum, is below
            this is reported as ``off`` (a drawn curve's conf, the mean along its path,
            can be lower).
        path_cost_exponent: Curve tracing follows the cheapest 8-connected path with pixel
            cost ``(1 - heat) ** e + 1e-3``.
        decoded_node_spacing_px: Target spacing of decoded curve control points, input px.
        decoded_nodes_min: Fewest control points of a decoded curve.
        decoded_nodes_max: Most control points of a decoded curve.
        keep_anchors: A curve traced through anchor points keeps each interior one (the
            LV apex between the mitral hinges) as a control point, and an interior anchor
            off the ridge moves on to its crest. False spaces the control points evenly
            from end to end, which cuts a tight apex (by up to 5 px on exact LV targets):
            the decoding of models made before 2026-12-06 that rely on it.
        combine: How point estimates from several strides are combined when decoding.
        points_on_curves: Point label -> curve label it lies on by definition (e.g.
            ``{"lv-apex-endo": "curve-lv-endo"}``): after both are decoded, the point is
            moved to the nearest point of its curve. Empty (the default) decodes every
            point from its own peak. Worth it where a model finds the curve more reliably
            than the point (measured on real frames: see docs/synthetic-data.md).
    """

    strides: tuple[int, ...] = (4, 2)
    sigma_point: float = 4.0
    sigma_curve: float = 2.0
    window_k: float = 3.75
    curve_spacing: float = 0.5
    presence_threshold: float = 0.1
    path_cost_exponent: float = 4.0
    decoded_node_spacing_px: float = 24.0
    decoded_nodes_min: int = 5
    decoded_nodes_max: int = 21
    keep_anchors: bool = True
    combine: StrideCombine = StrideCombine.FINEST
    points_on_curves: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        strides = tuple(int(s) for s in self.strides)
        object.__setattr__(self, "strides", strides)
        object.__setattr__(self, "combine", StrideCombine(self.combine))
        if not strides or any(s < 1 for s in strides):
            raise ConfigError(
                f"strides must be positive integers, got {self.strides}", field="strides"
            )
        if len(set(strides)) != len(strides):
            raise ConfigError(f"strides must be distinct, got {self.strides}", field="strides")
        for name in ("sigma_point", "sigma_curve", "window_k", "curve_spacing"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be positive, got {value}", field=name)
        if math.exp(-0.5 * self.window_k**2) >= 1e-3:
            raise ConfigError(
                f"window_k={self.window_k} truncates Gaussians above 1e-3 (need k >= 3.72)",
                field="window_k",
            )
        if not 0.0 < self.presence_threshold < 1.0:
            raise ConfigError(
                f"presence_threshold must be in (0, 1), got {self.presence_threshold}",
                field="presence_threshold",
            )
        pairs = dict(self.points_on_curves)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs.items()):
            raise ConfigError(
                f"points_on_curves maps point names to curve names, got {pairs!r}",
                field="points_on_curves",
            )
        object.__setattr__(self, "points_on_curves", pairs)
        if not 3 <= self.decoded_nodes_min <= self.decoded_nodes_max:
            raise ConfigError(
                "need 3 <= decoded_nodes_min <= decoded_nodes_max", field="decoded_nodes_min"
            )

    def target_hw(self, input_hw: tuple[int, int], stride: int) -> tuple[int, int]:
        """Heatmap size ``(ceil(H / s), ceil(W / s))`` of an input of size ``input_hw``.

        >>> CodecConfig().target_hw((608, 601), 4)
        (152, 151)
        """
        h, w = input_hw
        return (-(-int(h) // stride), -(-int(w) // stride))
