"""``echomark export``: write a checkpoint as a shareable model folder or an ONNX model."""

from __future__ import annotations

import argparse
from typing import Any

from echomark.errors import InputError

COMMAND = "export"

#: ONNX opsets the exporter is tested with; older ones lack operators HRNet needs.
MIN_OPSET, MAX_OPSET = 13, 20


def add_parser(subparsers: Any) -> None:
    """Register ``echomark export``."""
    p = subparsers.add_parser(
        COMMAND,
        help="export a checkpoint as a shareable model folder and/or ONNX",
        description="Export a training checkpoint. --model-dir writes the shareable form: "
        "model.safetensors (weights only; loading cannot run code) and model.json (card: "
        "variant, channels, input size, codec, training data, metrics); `echomark predict "
        "--checkpoint DIR` and `echomark measure --checkpoint DIR` read it. --onnx writes an "
        "ONNX model (TorchScript exporter, dynamic batch axis): input 'images' (B, C, H, W) "
        "in x/255-0.5; outputs 'heatmaps_s4' and 'heatmaps_s2'; channels, kinds and the "
        "training config are ONNX metadata, so `predict --checkpoint model.onnx` works alone.",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint .pt written by train")
    p.add_argument("--model-dir", help="output folder: model.safetensors + model.json")
    p.add_argument("--onnx", help="output .onnx file")
    p.add_argument(
        "--opset",
        type=int,
        default=17,
        help=f"ONNX opset, {MIN_OPSET}..{MAX_OPSET} (default 17)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty --model-dir folder"
    )
    p.add_argument(
        "--check", action="store_true", help="compare onnxruntime with PyTorch on a random input"
    )
    p.set_defaults(func=run, requires=("torch",))


def run(args: argparse.Namespace) -> int:
    """Export; with --check, exit 1 if onnxruntime differs from PyTorch by more than 1e-4."""
    from echomark.predict.export import export_model_dir, export_onnx, parity_check

    if not args.model_dir and not args.onnx:
        raise InputError("nothing to write: give --model-dir DIR and/or --onnx FILE")
    if args.onnx and not MIN_OPSET <= args.opset <= MAX_OPSET:
        raise InputError(
            f"--opset {args.opset} is not supported; use {MIN_OPSET}..{MAX_OPSET} (default 17)"
        )
    if args.model_dir:
        folder = export_model_dir(args.checkpoint, args.model_dir, overwrite=args.overwrite)
        print(f"model: {folder}")
    if not args.onnx:
        return 0
    path = export_onnx(args.checkpoint, args.onnx, opset=args.opset)
    if args.check:
        diff = parity_check(args.checkpoint, path)
        print(f"max |onnxruntime - torch| = {diff:.2e}")
        if diff > 1e-4:
            print(f"onnx: {path} (parity check FAILED)")
            return 1
    print(f"onnx: {path}")
    return 0
