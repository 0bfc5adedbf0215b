"""Make docs/contact-sheet.png: synthetic PLAX and A4C frames (ED, ES) with their labels.

Usage: ``.venv/bin/python docs/make_contact_sheet.py [OUT.png] [--seed S]``; the B-mode
sheet: ``... docs/contact-sheet-bmode.png --look bmode --varied --views PLAX,A4C,A2C,A3C``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from echomark.geometry.curves import sample_curve
from echomark.labels.registry import load_registry
from echomark.labels.schema import ImageLabels, LabelState
from echomark.synth.cine import CURVE_NODES, make_cine

TILE_W = 480
TILE_H = 420


def draw_labels(grey: np.ndarray, labels: ImageLabels, scale: float) -> Image.Image:
    """The frame as RGB (resized by ``scale``) with points as dots and curves as splines."""
    reg = load_registry()
    h, w = grey.shape
    img = Image.fromarray(grey).convert("RGB")
    img = img.resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    for name, label in labels.items():
        spec = reg.get(name)
        if spec is None or spec.derived or not label.state.drawn:
            continue
        xy = label.xy * scale  # pixel centres at integers scale about the origin
        if label.state is LabelState.CURVE:
            dense = sample_curve(xy, spacing=1.0)
            draw.line([tuple(p) for p in dense], fill=spec.colour, width=2)
            for x, y in xy:
                draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], outline=spec.colour)
        else:
            x, y = xy[0]
            draw.ellipse([x - 3.5, y - 3.5, x + 3.5, y + 3.5], fill=spec.colour)
    return img


def _complete_seeds(view: str, start: int, n: int, varied: bool = False) -> list[int]:
    """The first n seeds from ``start`` whose ED and ES frames have every curve drawn."""
    reg = load_registry()
    wanted = [c for c in CURVE_NODES if view in {v.value for v in reg[c].views}]
    out: list[int] = []
    seed = start
    while len(out) < n:
        probe = make_cine(view, seed, n_frames=30, render=False, label_frames=[], varied=varied)
        frames = [probe.ed_frame, probe.es_frame]
        labels = make_cine(
            view, seed, n_frames=30, render=False, label_frames=frames, varied=varied
        ).labels
        if all(lab[c].state is LabelState.CURVE for lab in labels.values() for c in wanted):
            out.append(seed)
        seed += 1
    return out


def main() -> None:
    """Render the sheet."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "out", nargs="?", default=str(Path(__file__).with_name("contact-sheet.png"))
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-view", type=int, default=2, help="videos per view")
    parser.add_argument("--views", default="PLAX,A4C", help="comma list of views (rows)")
    parser.add_argument("--look", default="classic", help="classic or bmode")
    parser.add_argument("--varied", action="store_true", help="wide anatomy and scan ranges")
    args = parser.parse_args()
    tiles: list[list[Image.Image]] = []
    for v_i, view in enumerate(args.views.split(",")):
        row: list[Image.Image] = []
        seeds = _complete_seeds(view, args.seed * 100 + 10 * v_i, args.per_view, args.varied)
        for seed in seeds:
            cine = make_cine(view, seed, n_frames=30, look=args.look, varied=args.varied)
            for phase, f in (("ED", cine.ed_frame), ("ES", cine.es_frame)):
                grey = cine.frames[f]
                scale = TILE_W / grey.shape[1]
                tile = Image.new("RGB", (TILE_W, TILE_H), "#000000")
                tile.paste(draw_labels(grey, cine.labels[f], scale), (0, 0))
                d = ImageDraw.Draw(tile)
                truth = ", ".join(f"{m} {v:.1f} {u}" for m, (v, u) in cine.truth[f].items())
                d.text((6, 4), f"{view} {phase} frame {f}", fill="#ffffff")
                d.text((6, tile.height - 14), truth, fill="#ffffff")
                row.append(tile)
        tiles.append(row)
    tile_h = TILE_H
    sheet = Image.new(
        "RGB",
        (
            TILE_W * len(tiles[0]) + 4 * (len(tiles[0]) - 1),
            tile_h * len(tiles) + 4 * (len(tiles) - 1),
        ),
        "#202020",
    )
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            sheet.paste(tile, (c * (TILE_W + 4), r * (tile_h + 4)))
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
