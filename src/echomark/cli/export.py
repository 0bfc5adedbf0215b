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
        "variant, channels, input size, codec, training data, metrics, and the quality-gate "
        "thresholds saved beside the checkpoint); `echomark predict --checkpoint DIR` and "
        "`echomark measure --checkpoint DIR` read it, and --model NAME once the folder is "
        "named (a folder on ECHOMARK_MODEL_PATH, or shipped in echomark/models/zoo/). --onnx writes an "
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
    card = p.add_argument_group(
        "model card (--model-dir)",
        "what a user of the model folder should know; the card already carries the variant, "
        "labels, input size, codec, training config and the tune metrics of the exported epoch",
    )
    card.add_argument(
        "--training-data",
        metavar="TEXT",
        help='what the model was trained on, e.g. "synthetic only (echomark synth --look bmode)"',
    )
    card.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a metric to record (a number, or text such as 118/120); repeatable; replaces a "
        "tune metric of the same name",
    )
    card.add_argument("--notes", metavar="TEXT", help="intended use, limits, known failures")
    card.add_argument(
        "--card-json",
        metavar="FILE",
        help="a JSON object with any of training_data, notes, metrics (merged) and training "
        "(merged); the options above win over it",
    )
    card.add_argument(
        "--qc",
        metavar="FILE",
        help="quality-gate thresholds for the card, e.g. qc.json from `echomark measure "
        "--calibrate-qc` on tune predictions made with the model's own decoding (default: "
        "the ones training saved beside the checkpoint, CKPT.qc.json)",
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
    extra = card_extra(args)
    if (extra or args.qc) and not args.model_dir:
        raise InputError(
            "--training-data, --metric, --notes, --card-json and --qc need --model-dir"
        )
    if args.model_dir:
        folder = export_model_dir(
            args.checkpoint,
            args.model_dir,
            overwrite=args.overwrite,
            card_extra=extra,
            qc_file=args.qc,
        )
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


def card_extra(args: argparse.Namespace) -> dict[str, Any]:
    """The card fields given by --card-json, --training-data, --notes and --metric.

    Raises:
        InputError: Unreadable --card-json, or a --metric that is not KEY=VALUE.
        ConfigError: A --card-json key or value the card does not take.
    """
    import json
    from pathlib import Path

    from echomark.predict.export import check_card_extra

    extra: dict[str, Any] = {}
    if args.card_json:
        try:
            raw = json.loads(Path(args.card_json).read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read card JSON: {exc}", file=args.card_json) from None
        extra = check_card_extra(raw, file=args.card_json)
    if args.training_data is not None:
        extra["training_data"] = args.training_data
    if args.notes is not None:
        extra["notes"] = args.notes
    metrics = dict(extra.get("metrics", {}))
    for item in args.metric:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"--metric must be KEY=VALUE, got {item!r}")
        metrics[key.strip()] = _metric_value(value.strip())
    if metrics:
        extra["metrics"] = metrics
    return extra


def _metric_value(text: str) -> float | str:
    """A finite number when ``text`` is one, else the text.

    >>> _metric_value("0.93"), _metric_value("118/120"), _metric_value("nan")
    (0.93, '118/120', 'nan')
    """
    import math

    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text
