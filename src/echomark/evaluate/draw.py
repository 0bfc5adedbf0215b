"""Draw labels over echo frames with Pillow (overlays for predictions and reports)."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from echomark.geometry.curves import sample_curve
from echomark.labels.schema import ImageLabels, Instance, Label, LabelState

#: Colour of labels without a registry colour.
DEFAULT_COLOUR = "#ffd400"
#: Point markers: a ring (truth, registry colours) or a cross (predictions in comparisons),
#: so the two differ by shape as well as colour (readable without colour vision).
MARKERS = ("ring", "cross")
#: Width of the legend panel added beside an overlay, px.
LEGEND_WIDTH_PX = 200


def to_rgb(image: npt.NDArray[np.uint8]) -> Image.Image:
    """A Pillow RGB image from a grey (H, W) or colour (H, W, 3|4) uint8 array."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        return Image.fromarray(arr, "L").convert("RGB")
    if arr.ndim == 3 and arr.shape[2] == 1:
        return Image.fromarray(arr[:, :, 0], "L").convert("RGB")
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return Image.fromarray(arr[:, :, :3].copy(), "RGB")
    raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {arr.shape}")


def draw_labels(
    canvas: Image.Image,
    labels: ImageLabels,
    *,
    colours: Mapping[str, str] | None = None,
    colour: str | None = None,
    radius: float = 4.0,
    width: int = 2,
    min_conf: float = 0.0,
    marker: str = "ring",
    dashed: bool = False,
) -> Image.Image:
    """Draw point and curve labels onto an RGB image in place.

    Points are drawn as a ring with a centre dot, curves as their dense spline (the same
    curve definition used for targets and metrics). Off and blurred labels draw nothing.

    Args:
        canvas: RGB image in the labels' pixel space (source pixels).
        labels: Label name -> label.
        colours: Label name -> ``#rrggbb`` (e.g. from the registry).
        colour: One colour for everything (overrides ``colours``), e.g. truth in green.
        radius: Point ring radius in px.
        width: Line width in px.
        min_conf: Instances with a confidence below this are skipped.
        marker: ``ring`` or ``cross`` for points (see :data:`MARKERS`).
        dashed: Draw curves dashed (the second layer of a comparison).

    Returns:
        The same image, for chaining.
    """
    draw = ImageDraw.Draw(canvas)
    for name, label in labels.items():
        if label.state not in (LabelState.POINT, LabelState.CURVE):
            continue
        col = colour or (colours or {}).get(name, DEFAULT_COLOUR)
        for inst in label.instances:
            if inst.conf is not None and inst.conf < min_conf:
                continue
            if label.state is LabelState.POINT or len(inst.xy) == 1:
                x, y = (float(v) for v in inst.xy[0])
                if marker == "cross":
                    r = radius + 1
                    draw.line([(x - r, y - r), (x + r, y + r)], fill=col, width=width)
                    draw.line([(x - r, y + r), (x + r, y - r)], fill=col, width=width)
                else:
                    draw.ellipse(
                        [x - radius, y - radius, x + radius, y + radius], outline=col, width=width
                    )
                    draw.ellipse([x - 1, y - 1, x + 1, y + 1], fill=col)
            else:
                dense = [
                    (float(x), float(y))
                    for x, y in sample_curve(inst.xy, inst.straight, spacing=2.0)
                ]
                if dashed:
                    for i in range(0, len(dense) - 1, 4):
                        draw.line(dense[i : i + 3], fill=col, width=width)
                else:
                    draw.line(dense, fill=col, width=width)
    return canvas


def with_legend(
    canvas: Image.Image,
    rows: list[tuple[str, str, str]],
    *,
    title: str = "",
    width: int = LEGEND_WIDTH_PX,
) -> Image.Image:
    """The picture with a legend panel on its right: a title line, then one row per entry.

    Args:
        canvas: The drawn picture.
        rows: ``(colour, marker, text)`` per entry; marker ``ring``, ``cross`` or ``line``.
        title: First line (e.g. the frame number).
        width: Panel width in px.

    >>> img = with_legend(Image.new("RGB", (50, 40)), [("#ff0000", "ring", "apex 0.93")], title="frame 3")
    >>> img.size
    (250, 40)
    """
    from PIL import ImageFont

    font = ImageFont.load_default()
    line_h = 13
    # The panel never changes the picture's height (frames of a cine stay one size): rows
    # that do not fit are summarised in a last line.
    height = canvas.height
    fit = max(0, (height - 8) // line_h - (2 if title else 1))
    if len(rows) > fit + 1:
        rows = [*rows[:fit], ("#888888", "none", f"... {len(rows) - fit} more")]
    out = Image.new("RGB", (canvas.width + width, height), (24, 24, 24))
    out.paste(canvas, (0, 0))
    draw = ImageDraw.Draw(out)
    x0 = canvas.width + 8
    y = 4
    if title:
        draw.text((x0, y), title, fill="#ffffff", font=font)
        y += line_h + 4
    for colour, marker, text in rows:
        cy = y + line_h // 2
        if marker == "cross":
            draw.line([(x0, cy - 4), (x0 + 8, cy + 4)], fill=colour, width=2)
            draw.line([(x0, cy + 4), (x0 + 8, cy - 4)], fill=colour, width=2)
        elif marker == "line":
            draw.line([(x0, cy), (x0 + 9, cy)], fill=colour, width=2)
        elif marker == "none":
            pass
        else:
            draw.ellipse([x0, cy - 4, x0 + 8, cy + 4], outline=colour, width=2)
        draw.text((x0 + 14, y), text, fill="#ffffff", font=font)
        y += line_h
    return out


def png_bytes(image: Image.Image) -> bytes:
    """Encode a Pillow image as PNG bytes (no metadata chunks)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def enlarge(
    canvas: Image.Image, labels: ImageLabels, min_side: int = 480
) -> tuple[Image.Image, ImageLabels]:
    """Upscale a small picture by an integer factor (nearest) and move the labels with it.

    With pixel centres at integers, source pixel ``x`` becomes ``k x + (k - 1) / 2``.

    >>> img, labs = enlarge(Image.new("RGB", (100, 50)), {"p": Label.point(0.0, 0.0)}, 200)
    >>> img.size, labs["p"].xy.tolist()
    ((200, 100), [[0.5, 0.5]])
    """
    k = -(-min_side // max(canvas.size))
    if k <= 1:
        return canvas, labels
    big = canvas.resize((canvas.width * k, canvas.height * k), Image.Resampling.NEAREST)
    moved: ImageLabels = {}
    for name, label in labels.items():
        moved[name] = Label(
            label.state,
            tuple(Instance(inst.xy * k + (k - 1) / 2.0, inst.straight, inst.conf)
                  for inst in label.instances),
        )  # fmt: skip
    return big, moved
