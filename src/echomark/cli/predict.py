"""``echomark predict``: run a trained model on PNGs, png-caches or DICOM cines."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from echomark.cli._model import add_model_args, required_model_path
from echomark.cli._types import bounded_float, bounded_int

COMMAND = "predict"


def add_parser(subparsers: Any) -> None:
    """Register ``echomark predict``."""
    p = subparsers.add_parser(
        COMMAND,
        help="predict labels (points, curves, presence) for images, png-caches or DICOMs",
        description="Predict labels with a trained checkpoint, model folder, exported ONNX model "
        "or a named model (--model NAME, e.g. one shipped with echomark). INPUT "
        "may be PNG files, a folder of PNGs, a png-cache folder or png-cache.zip (optionally "
        "restricted with --list or --split/--labels), or DICOM files (all frames, or --frames; "
        "decoded and masked as 'echomark curate' writes them, burnt-in text blanked by OCR "
        "unless --no-ocr; a DICOM that is not ultrasound is refused unless --force). "
        "Writes OUT/predictions.json in the label schema (v2 instances with conf), coordinates "
        "in source-image pixels; --overlays adds overlay PNGs and an animation per cine.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="PNG, folder, zip or DICOM")
    add_model_args(
        p,
        required=True,
        checkpoint_help="checkpoint .pt, model folder (export --model-dir) or exported .onnx",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--engine", choices=("torch", "onnx"), default="torch", help="inference engine")
    p.add_argument("--onnx", help="exported model to run with --engine onnx and a .pt checkpoint")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto (default: cpu)")
    p.add_argument(
        "--batch-size", type=bounded_int(1, 4096), default=8, help="frames per forward pass"
    )
    p.add_argument(
        "--list", dest="list_spec", help="key list: labels.zip::labels-ival.txt or a .txt"
    )
    p.add_argument("--split", help="only images of this split of --labels (all/train/tune/ival)")
    p.add_argument("--labels", help="labels.zip, folder or .json for --split")
    p.add_argument("--frames", help="DICOM frames to predict, e.g. 0:4 or 1,5,9 (default all)")
    p.add_argument(
        "--no-ocr", action="store_true", help="DICOM inputs: skip blanking burnt-in text by OCR"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="DICOM inputs: accept a non-ultrasound image (CT, MR...) with a warning; it is "
        "masked the same way and its landmarks mean nothing clinically",
    )
    p.add_argument(
        "--overlays", action="store_true", help="write overlay PNGs and an animation per cine"
    )
    p.add_argument(
        "--animation", choices=("gif", "apng"), default="gif", help="cine overlay format"
    )
    p.add_argument(
        "--min-conf", type=bounded_float(0, 1), default=0.0, help="overlays hide lower confidence"
    )
    p.add_argument(
        "--presence-threshold",
        type=bounded_float(0, 1, low_open=True),
        help="peak height below which a label is 'off' (default: the checkpoint's codec value)",
    )
    p.add_argument(
        "--tta-shift",
        type=int,
        metavar="PX",
        help="average the heatmaps over the input moved on a 3x3 grid of PX network-input "
        "pixels (9 passes; a multiple of the strides); 0 turns it off (default: the model's "
        "dataset.tta_shift_px; synthetic-v1 uses 16)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty --out folder whole"
    )
    p.add_argument("--dask", metavar="ADDR",
                   help="predict a png-cache on Dask: local:N or tcp://HOST:PORT, in shards of "
                   "whole batches; a rerun predicts only missing shards (docs/scale-out.md)")  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Predict; exit 1 when some frames could not be read (they are listed)."""
    import sys

    from echomark.predict.api import run_prediction, select_keys

    keys = select_keys(list_spec=args.list_spec, split=args.split, labels=args.labels)
    checkpoint = required_model_path(args)
    if args.dask:
        from echomark.errors import InputError
        from echomark.workflows.distributed import predict_on_dask

        if (
            args.overlays
            or args.frames
            or args.engine != "torch"
            or args.presence_threshold is not None
            or args.tta_shift is not None
        ):
            raise InputError(
                "--dask predicts png-caches with the torch engine only "
                "(no --overlays, --frames, --engine onnx, --presence-threshold or --tta-shift)"
            )
        from echomark.fileio import folder_lock

        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise InputError("--out names an existing file; give a folder", file=args.out)
        with folder_lock(args.out):  # shards resume in place: one run per folder at a time
            path, failed, ran = predict_on_dask(
                list(args.inputs), checkpoint=checkpoint, out=args.out, dask=args.dask,
                keys=keys, device=args.device, batch_size=args.batch_size,
            )  # fmt: skip
        for key, reason in failed:
            print(f"predict: skipped {key}: {reason}", file=sys.stderr)
        print(f"predicted on Dask ({ran} shard(s) this run): {path}")
        return 1 if failed else 0
    res = run_prediction(
        args.inputs,
        checkpoint=checkpoint,
        out=args.out,
        engine=args.engine,
        onnx=args.onnx,
        device=args.device,
        keys=keys,
        frames=args.frames,
        ocr=not args.no_ocr,
        force=args.force,
        batch_size=args.batch_size,
        overlays=args.overlays,
        animation=args.animation,
        min_conf=args.min_conf,
        presence_threshold=args.presence_threshold,
        tta_shift_px=args.tta_shift,
        stream=None if args.quiet else sys.stderr,
        overwrite=args.overwrite,
    )
    if res.failed:
        print(
            f"predict: {len(res.failed)} input(s) or frame(s) failed and were skipped",
            file=sys.stderr,
        )
    if res.overlay_dir is not None:
        print(f"overlays: {res.overlay_dir}")
    print(f"predicted {len(res.labels)} frames: {res.json_path}")
    return 1 if res.failed else 0
