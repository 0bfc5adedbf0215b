"""Overlay pictures of predictions: one PNG per frame and an animated GIF per cine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image

from echomark.evaluate.draw import draw_labels, png_bytes, to_rgb, with_legend
from echomark.fileio import atomic_path, atomic_write_bytes
from echomark.labels.schema import ImageLabels
from echomark.predict.inputs import UInt8Array


def overlay_image(
    image: UInt8Array,
    labels: ImageLabels,
    colours: Mapping[str, str],
    *,
    min_conf: float = 0.0,
    title: str = "",
) -> Image.Image:
    """The frame in RGB with its predicted labels in their registry colours, and a legend.

    The legend panel on the right names every drawn label with its confidence (points as
    rings, curves as lines), under ``title`` (e.g. the frame number).
    """
    canvas = draw_labels(to_rgb(image), labels, colours=colours, min_conf=min_conf)
    rows = []
    for name, label in sorted(labels.items()):
        shown = [i for i in label.instances if i.conf is None or i.conf >= min_conf]
        if not label.state.drawn or not shown:
            continue
        conf = max((i.conf for i in shown if i.conf is not None), default=None)
        marker = "ring" if label.state.value == "point" else "line"
        text = name if conf is None else f"{name} {conf:.2f}"
        rows.append((colours.get(name, "#ffd400"), marker, text))
    return with_legend(canvas, rows, title=title)


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
