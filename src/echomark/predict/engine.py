"""Inference engines: a PyTorch module or an ONNX model behind one batch -> heatmaps call."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from echomark.errors import InputError

Float32Array = npt.NDArray[np.float32]

#: Names of the ONNX graph's input and outputs (one output per stride, finest last).
ONNX_INPUT = "images"


def onnx_output_name(stride: int) -> str:
    """Name of the ONNX output holding the heatmaps at ``stride``.

    >>> onnx_output_name(4)
    'heatmaps_s4'
    """
    return f"heatmaps_s{stride}"


class Engine(Protocol):
    """Runs the network on a normalised batch."""

    name: str

    def __call__(self, batch: Float32Array) -> list[Float32Array]:
        """Heatmaps per stride, each float32 (B, K, h, w), for a (B, C, H, W) batch."""
        ...


class TorchEngine:
    """A PyTorch model in eval mode on one device.

    Args:
        model: Module returning a list of per-stride heatmaps (sigmoid outputs).
        device: ``cpu``, ``cuda``, ``cuda:1``, ``mps``...
        amp: Autocast as training does (:mod:`echomark.models.precision`: bfloat16 on CUDA,
            float16 on GPUs without native bfloat16, float32 elsewhere); outputs are
            returned as float32.
    """

    name = "torch"

    def __init__(self, model: Any, device: str = "cpu", amp: bool = False) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.amp = amp

    def __call__(self, batch: Float32Array) -> list[Float32Array]:
        """Heatmaps per stride, float32 (B, K, h, w), for a (B, C, H, W) batch."""
        from echomark.models.precision import autocast

        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
            with autocast(self.device, self.amp, allow_fp16=True):
                outs = self.model(x)
            return [o.float().cpu().numpy() for o in outs]


class OnnxEngine:
    """An exported model run by onnxruntime (CPU, or CUDA when available and asked for).

    Args:
        path: The ``.onnx`` file written by ``echomark export``.
        device: ``cpu`` or ``cuda``.
        threads: Intra-op threads (0: onnxruntime's default).
    """

    name = "onnx"

    def __init__(self, path: str | os.PathLike[str], device: str = "cpu", threads: int = 0) -> None:
        import onnxruntime as ort

        p = Path(path)
        if not p.is_file():
            raise InputError("no such ONNX file", file=str(p))
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(p), opts, providers=providers)
        except Exception as exc:
            raise InputError(f"onnxruntime cannot load the model: {exc}", file=str(p)) from None
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, batch: Float32Array) -> list[Float32Array]:
        """Heatmaps per stride, float32 (B, K, h, w), for a (B, C, H, W) batch."""
        outs = self.session.run(self.output_names, {ONNX_INPUT: np.ascontiguousarray(batch)})
        return [np.asarray(o, dtype=np.float32) for o in outs]


def _shifted(a: Float32Array, dy: int, dx: int, fill: float) -> Float32Array:
    """``a`` (..., H, W) moved by ``(dy, dx)`` pixels; uncovered pixels get ``fill``."""
    out = np.full_like(a, fill)
    h, w = a.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = a[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


class ShiftTtaEngine:
    """Test-time augmentation: heatmaps averaged over the input moved on a 3 x 3 grid.

    The input is also run moved by ``shift_px`` up, down, left, right and diagonally (black
    fills the uncovered border, as letterboxing does); each output is moved back by
    ``shift_px / stride`` heatmap pixels, exactly, which is why ``shift_px`` must be a
    multiple of every stride. Each heatmap pixel is the mean of the runs that saw it. Nine
    forward passes per batch: a model whose answer depends on where the heart sits in the
    input gives one that does not (measured on a real cine in docs/synthetic-data.md).

    Args:
        engine: The engine to run.
        shift_px: Grid step in network-input pixels (> 0).
        strides: The model's output strides, in output order.
    """

    def __init__(self, engine: Engine, shift_px: int, strides: tuple[int, ...]) -> None:
        if shift_px <= 0 or any(shift_px % s for s in strides):
            raise InputError(
                f"a test-time shift must be a positive multiple of every stride {strides}, "
                f"got {shift_px} px"
            )
        self.engine = engine
        self.shift_px = shift_px
        self.strides = strides
        self.name = f"{engine.name}+shift{shift_px}"

    def __call__(self, batch: Float32Array) -> list[Float32Array]:
        """Heatmaps per stride, float32 (B, K, h, w), averaged over the nine shifts."""
        s = self.shift_px
        sums: list[Float32Array] | None = None
        counts: list[Float32Array] = []
        # Network inputs are x / 255 - 0.5, so -0.5 is black.
        for dy, dx in itertools.product((0, -s, s), repeat=2):
            outs = self.engine(_shifted(batch, dy, dx, -0.5) if dy or dx else batch)
            back = []
            seen = []
            for o, st in zip(outs, self.strides, strict=True):
                ry, rx = -dy // st, -dx // st
                back.append(_shifted(o, ry, rx, 0.0))
                seen.append(_shifted(np.ones(o.shape[-2:], np.float32), ry, rx, 0.0))
            if sums is None:
                sums, counts = back, seen
            else:
                sums = [a + b for a, b in zip(sums, back, strict=True)]
                counts = [a + b for a, b in zip(counts, seen, strict=True)]
        assert sums is not None
        return [
            (a / np.maximum(c, 1.0)).astype(np.float32) for a, c in zip(sums, counts, strict=True)
        ]
