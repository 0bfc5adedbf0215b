"""Overlay pictures of predictions: one PNG per frame and an animated GIF per cine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image

from echomark.evaluate.draw import draw_labels, png_bytes, to_rgb
from echomark.fileio import atomic_path, atomic_write_bytes
from echomark.labels.schema import ImageLabels
from echomark.predict.inputs import UInt8Array


def overlay_image(
    image: UInt8Array,
    labels: ImageLabels,
    colours: Mapping[str, str],
    *,
    min_conf: float = 0.0,
) -> Image.Image:
    """The frame in RGB with its predicted labels drawn in their registry colours."""
    return draw_labels(to_rgb(image), labels, colours=colours, min_conf=min_conf)


def write_overlay_png(path: Path, image: Image.Image) -> None:
    """Write one overlay PNG atomically."""
    atomic_write_bytes(path, png_bytes(image))


def write_animation(path: Path, frames: Sequence[Image.Image], frame_ms: float = 40.0) -> None:
    """Write an animated GIF (``.gif``) or APNG (``.png``) of overlay frames, looping.

    Args:
        path: Destination; the suffix picks the format.
        frames: RGB frames of equal size.
        frame_ms: Display time per frame in ms.
    """
    if not frames:
        return
    fmt = "PNG" if path.suffix.lower() == ".png" else "GIF"
    with atomic_path(path) as tmp:
        first, rest = frames[0], list(frames[1:])
        if fmt == "GIF":
            first = first.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
            rest = [f.quantize(palette=first) for f in rest]
        first.save(
            tmp,
            format=fmt,
            save_all=True,
            append_images=rest,
            duration=max(10, round(frame_ms)),
            loop=0,
        )
