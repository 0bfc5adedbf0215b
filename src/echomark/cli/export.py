"""``echomark export``: write a checkpoint as an ONNX model (opset 17, dynamic batch)."""

from __future__ import annotations

import argparse
from typing import Any

COMMAND = "export"


def add_parser(subparsers: Any) -> None:
    """Register ``echomark export``."""
    p = subparsers.add_parser(
        COMMAND,
        help="export a checkpoint to ONNX for onnxruntime",
        description="Export a checkpoint to ONNX (TorchScript exporter, dynamic batch axis). "
        "Input 'images' (B, C, H, W) in x/255-0.5; outputs 'heatmaps_s4' and 'heatmaps_s2'. "
        "Channels, kinds and the training config are stored as ONNX metadata, so "
        "`echomark predict --checkpoint model.onnx` works on its own.",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint .pt")
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument(
        "--check", action="store_true", help="compare onnxruntime with PyTorch on a random input"
    )
    p.set_defaults(func=run, requires=("torch",))


def run(args: argparse.Namespace) -> int:
    """Export; with --check, exit 1 if onnxruntime differs from PyTorch by more than 1e-4."""
    from echomark.predict.export import export_onnx, parity_check

    path = export_onnx(args.checkpoint, args.onnx, opset=args.opset)
    if args.check:
        diff = parity_check(args.checkpoint, path)
        print(f"max |onnxruntime - torch| = {diff:.2e}")
        if diff > 1e-4:
            print(f"onnx: {path} (parity check FAILED)")
            return 1
    print(f"onnx: {path}")
    return 0
