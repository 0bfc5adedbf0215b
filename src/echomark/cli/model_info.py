"""``echomark model-info``: parameters and GFLOPs of a network variant, or a model's card."""

from __future__ import annotations

import argparse
import json
from typing import Any

COMMAND = "model-info"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``model-info`` sub-command."""
    p = subparsers.add_parser(
        COMMAND,
        help="print parameters and GFLOPs of an HRNet variant, or of a named model with its card",
        description="Build an HRNet variant and print its parameter count and forward cost. "
        "GFLOPs count 2 x multiply-accumulates of convolutions (torch FlopCounterMode). Given "
        "MODEL (a named model, a model folder or a checkpoint), print its card (labels, input "
        "size, codec, training data, metrics) and its cost at its own input size.",
    )
    p.add_argument(
        "model",
        nargs="?",
        metavar="MODEL",
        help="a named model (`echomark models`), model folder or checkpoint .pt",
    )
    p.add_argument("--variant", default="w32", help="network variant (default: w32)")
    p.add_argument("--channels", type=int, default=1, help="input channels (default: 1)")
    p.add_argument("--outputs", type=int, default=40, help="heatmap channels K (default: 40)")
    p.add_argument(
        "--size",
        type=int,
        help="square input size in px (default: 608, or MODEL's own input size)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run, requires=("torch",))


def run(args: argparse.Namespace) -> int:
    """Print the model summary; exit 0."""
    from echomark.errors import ConfigError
    from echomark.models import model_info

    card = _card(args.model) if args.model else None
    if args.size is not None and (args.size < 4 or args.size % 4):
        raise ConfigError(f"--size must be a positive multiple of 4, got {args.size}", field="size")
    if card is not None:
        hw = (args.size, args.size) if args.size else card.input_size
        info = model_info(card.variant, card.in_channels, len(card.channels), hw)
    else:
        size = args.size or 608
        info = model_info(args.variant, args.channels, args.outputs, (size, size))
    if args.json:
        print(
            json.dumps(
                {
                    **({"card": card.to_dict()} if card is not None else {}),
                    "variant": info.variant,
                    "in_channels": info.in_channels,
                    "num_outputs": info.num_outputs,
                    "input_hw": list(info.input_hw),
                    "params": info.params,
                    "gflops": round(info.gflops, 3),
                    "flops_convention": "2*MACs",
                    "output_shapes": [list(s) for s in info.output_shapes],
                }
            )
        )
        return 0
    h, w = info.input_hw
    if card is not None:
        _print_card(args.model, card)
    print(f"variant      {info.variant}")
    print(f"input        {info.in_channels} x {h} x {w}")
    print(
        f"outputs      K = {info.num_outputs}: "
        + ", ".join("x".join(str(d) for d in s[1:]) for s in info.output_shapes)
    )
    print(f"parameters   {info.params:,} ({info.params / 1e6:.2f} M)")
    print(f"GFLOPs       {info.gflops:.2f} at {h}x{w} (2 x MACs; {info.gflops / 2:.2f} GMAC)")
    return 0


def _card(model: str) -> Any:
    """The :class:`~echomark.models.modelfile.ModelCard` of a name, model folder or checkpoint."""
    from echomark.models.modelfile import is_model_dir, read_card
    from echomark.models.zoo import resolve_model

    path = resolve_model(model)
    if is_model_dir(path):
        return read_card(path)
    from echomark.predict.export import card_from_checkpoint
    from echomark.train.checkpoint import load_checkpoint

    return card_from_checkpoint(load_checkpoint(path, map_location="cpu"))


def _print_card(model: str, card: Any) -> None:
    """The card's fields, one per line."""
    points = [c for c, k in zip(card.channels, card.kinds, strict=True) if k == "point"]
    curves = [c for c, k in zip(card.channels, card.kinds, strict=True) if k == "curve"]
    print(f"model        {model}")
    if card.training_data:
        print(f"trained on   {card.training_data}")
    if card.training:
        print("training     " + ", ".join(f"{k} {v}" for k, v in card.training.items()))
    print(f"points       {len(points)}: {', '.join(points)}")
    print(f"curves       {len(curves)}: {', '.join(curves)}")
    if card.codec:
        codec = ", ".join(f"{k} {v}" for k, v in card.codec.items() if not isinstance(v, dict))
        print(f"codec        {codec}")
    if card.metrics:
        metrics = [
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in card.metrics.items()
        ]
        print("metrics      " + ", ".join(metrics))
    if card.notes:
        print(f"notes        {card.notes}")
