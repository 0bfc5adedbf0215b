"""``echomark model-info``: parameters and GFLOPs of a network variant."""

from __future__ import annotations

import argparse
import json

COMMAND = "model-info"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``model-info`` sub-command."""
    p = subparsers.add_parser(
        COMMAND,
        help="print parameters and GFLOPs of an HRNet variant",
        description="Build an HRNet variant and print its parameter count and forward cost. "
        "GFLOPs count 2 x multiply-accumulates of convolutions (torch FlopCounterMode).",
    )
    p.add_argument("--variant", default="w32", help="network variant (default: w32)")
    p.add_argument("--channels", type=int, default=1, help="input channels (default: 1)")
    p.add_argument("--outputs", type=int, default=40, help="heatmap channels K (default: 40)")
    p.add_argument("--size", type=int, default=608, help="square input size in px (default: 608)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run, requires=("torch",))


def run(args: argparse.Namespace) -> int:
    """Print the model summary; exit 0."""
    from echomark.errors import ConfigError
    from echomark.models import model_info

    if args.size < 4 or args.size % 4:
        raise ConfigError(f"--size must be a positive multiple of 4, got {args.size}", field="size")
    info = model_info(args.variant, args.channels, args.outputs, (args.size, args.size))
    if args.json:
        print(
            json.dumps(
                {
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
    print(f"variant      {info.variant}")
    print(f"input        {info.in_channels} x {h} x {w}")
    print(
        f"outputs      K = {info.num_outputs}: "
        + ", ".join("x".join(str(d) for d in s[1:]) for s in info.output_shapes)
    )
    print(f"parameters   {info.params:,} ({info.params / 1e6:.2f} M)")
    print(f"GFLOPs       {info.gflops:.2f} at {h}x{w} (2 x MACs; {info.gflops / 2:.2f} GMAC)")
    return 0
