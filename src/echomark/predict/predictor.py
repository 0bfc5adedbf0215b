"""Batched prediction: frames -> network input (training geometry) -> heatmaps -> source labels.

Preprocessing follows the checkpoint's data config exactly as training does without
augmentation: the same crop/pad or letterbox matrix (:func:`echomark.data.transforms.fit_matrix`),
the same grey/RGB handling and ``x / 255 - 0.5`` normalisation. Heatmaps are decoded by
:func:`echomark.data.spec.decode_one` (network-input pixels, mapped back to source pixels with
the inverse matrix).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from echomark.data.config import DataConfig
from echomark.data.spec import Matrix, ModelSpec, decode_one
from echomark.data.transforms import fit_matrix, to_channels, to_input, warp_frames
from echomark.errors import InputError
from echomark.labels.schema import ImageLabels
from echomark.predict.engine import Engine, Float32Array, ShiftTtaEngine
from echomark.predict.inputs import InputFrame, UInt8Array


def prepare_input(
    frame: InputFrame, data: DataConfig
) -> tuple[Float32Array, Matrix, tuple[int, int]]:
    """Load a frame (and its neighbours for multi-frame models) as a network input.

    Exactly as training builds an unaugmented input: :func:`to_channels`, then
    :func:`~echomark.data.transforms.warp_frames` with zeros for missing neighbours.

    Returns:
        The input float32 (C, H, W) in ``x / 255 - 0.5``, the source -> input matrix, and
        the source size (rows, cols).

    Raises:
        InputError: A neighbour frame differs in size from the frame (as training raises
            ``CacheError``); :func:`predict_frames` reports and skips such a frame.
    """
    centre = to_channels(frame.load(), data.in_channels)
    src_hw = (int(centre.shape[0]), int(centre.shape[1]))
    matrix = fit_matrix(src_hw, data.input_hw, data.resize)
    stack: list[UInt8Array | None] = []
    for off in data.frame_offsets:
        img = centre if off == 0 else (frame.neighbour(off) if frame.neighbour else None)
        if img is not None and off != 0:
            img = to_channels(img, data.in_channels)
            if img.shape != centre.shape:
                raise InputError(
                    f"neighbour frame {off:+d} is {img.shape[:2]}, the frame {src_hw}",
                    key=frame.key,
                )
        stack.append(img)
    warped = warp_frames(stack, matrix, data.input_hw, data.in_channels)
    return to_input(warped), matrix, src_hw


@dataclass
class Progress:
    """Minimal progress line on a stream (no dependency on a terminal)."""

    total: int
    stream: TextIO | None = sys.stderr
    label: str = "predict"
    every_s: float = 2.0

    def __post_init__(self) -> None:
        self.start = time.monotonic()
        self.last = -1e9
        self.done = 0

    def update(self, n: int) -> None:
        """Add ``n`` finished items and print when due."""
        self.done += n
        now = time.monotonic()
        if self.stream is not None and (now - self.last >= self.every_s or self.done >= self.total):
            rate = self.done / max(now - self.start, 1e-9)
            print(
                f"{self.label}: {self.done}/{self.total} frames ({rate:.1f}/s)",
                file=self.stream,
                flush=True,
            )
            self.last = now


def _batches(items: Sequence[InputFrame], size: int) -> Iterator[Sequence[InputFrame]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def predict_frames(
    frames: Sequence[InputFrame],
    engine: Engine,
    spec: ModelSpec,
    *,
    batch_size: int = 8,
    workers: int = 2,
    on_error: Callable[[InputFrame, Exception], None] | None = None,
    progress: Progress | None = None,
) -> dict[str, ImageLabels]:
    """Predict labels for frames in batches.

    Loading and preprocessing run in a small thread pool (they release the GIL in
    OpenCV/zlib) while the engine works on the previous batch. A model whose config sets
    ``tta_shift_px`` runs behind :class:`~echomark.predict.engine.ShiftTtaEngine`.

    Args:
        frames: Frames to predict.
        engine: Torch or ONNX engine.
        spec: Channels, kinds and data config of the model.
        batch_size: Frames per forward pass.
        workers: Preprocessing threads.
        on_error: Called for a frame that cannot be loaded (it is then skipped); when None,
            the error propagates.
        progress: Optional progress reporter.

    Returns:
        Image key -> labels in source pixels (with ``conf``), in input order.
    """
    if batch_size < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}")
    if spec.data.tta_shift_px:
        engine = ShiftTtaEngine(engine, spec.data.tta_shift_px, tuple(spec.codec.strides))
    out: dict[str, ImageLabels] = {}

    def prep(f: InputFrame) -> tuple[Float32Array, Matrix, tuple[int, int]] | Exception:
        try:
            return prepare_input(f, spec.data)
        except (InputError, OSError, ValueError) as exc:
            if on_error is None:
                raise
            return exc

    with ThreadPoolExecutor(max(1, workers)) as pool:
        batches = list(_batches(frames, batch_size))
        pending = pool.map(prep, batches[0]) if batches else iter(())
        for b, batch in enumerate(batches):
            prepared = list(pending)
            if b + 1 < len(batches):
                pending = pool.map(prep, batches[b + 1])
            ok = []
            for f, res in zip(batch, prepared, strict=True):
                if isinstance(res, Exception):
                    assert on_error is not None
                    on_error(f, res)
                else:
                    ok.append((f, res))
            if ok:
                x = np.stack([r[0] for _, r in ok])
                heat = engine(x)
                jobs = []
                for i, (f, r) in enumerate(ok):
                    maps = [h[i] for h in heat]
                    if all(bool(np.isfinite(m).all()) for m in maps):
                        jobs.append((f, maps, r[1]))
                        continue
                    # A NaN would otherwise vanish in decoding as an "absent" label.
                    exc = InputError(
                        "the model's output is not finite (NaN or inf): a diverged or broken "
                        "model; nothing was predicted for this frame",
                        key=f.key,
                    )
                    if on_error is None:
                        raise exc
                    on_error(f, exc)
                decoded = pool.map(lambda job: decode_one(job[1], spec, job[2]), jobs)
                for (f, _, _), labels in zip(jobs, decoded, strict=True):
                    out[f.key] = labels
            if progress is not None:
                progress.update(len(batch))
    return out
