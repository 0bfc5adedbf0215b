"""``echomark serve``: browse, view and label a png-cache in the browser."""

from __future__ import annotations

import argparse
import getpass
import os
from typing import Any

from echomark.cli._model import add_model_args, model_path
from echomark.cli._types import bounded_int
from echomark.errors import InputError

COMMAND = "serve"


def add_parser(subparsers: Any) -> None:
    """Register ``echomark serve``."""
    p = subparsers.add_parser(
        COMMAND,
        help="web viewer and annotator for a png-cache, labels and predictions",
        description="Start a local web app to browse frames, view labels and predictions, "
        "and edit labels. Every edit is saved at once (atomic write) to --labels in the v2 "
        "instance form with user and time. Needs the 'web' extra (pip install echomark[web]).",
    )
    p.add_argument(
        "--images", required=True, help="png-cache.zip or png-cache folder (read in place)"
    )
    p.add_argument(
        "--labels", required=True, help="the v2 label JSON this rater edits (created if missing)"
    )
    p.add_argument("--predictions", help="predictions JSON to overlay (with conf and error lines)")
    p.add_argument(
        "--layer",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a read-only label layer (another rater's file, the release labels.zip); repeatable",
    )
    p.add_argument("--splits", help="labels.zip or folder with labels-<split> files (split filter)")
    add_model_args(
        p,
        required=False,
        checkpoint_help="model for 'predict this frame' (.pt, model folder or .onnx)",
    )
    p.add_argument("--device", default="cpu", help="device for --checkpoint/--model (default: cpu)")
    p.add_argument("--user", help="rater name stamped on saved labels (default: login name)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument(
        "--port", type=bounded_int(0, 65535), default=8765, help="TCP port (default: 8765)"
    )
    p.add_argument(
        "--token",
        default=os.environ.get("ECHOMARK_TOKEN"),
        help="secret every request must carry (env ECHOMARK_TOKEN); required for a "
        "non-loopback --host",
    )
    p.set_defaults(func=run, requires=("starlette", "uvicorn"))


def _layers(specs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--layer must be NAME=PATH, got {spec!r}")
        if name in out:
            raise InputError(f"--layer name {name!r} given twice")
        out[name] = path
    return out


def run(args: argparse.Namespace) -> int:
    """Open the workspace and serve it until interrupted."""
    try:
        from echomark.serve.app import check_bind
        from echomark.serve.server import serve
        from echomark.serve.workspace import open_workspace
    except ImportError as exc:
        raise InputError(
            f"echomark serve needs the web extra: pip install 'echomark[web]' ({exc})"
        ) from None
    check_bind(args.host, args.token)
    ws = open_workspace(
        args.images,
        args.labels,
        user=args.user or getpass.getuser(),
        layers=_layers(args.layer),
        predictions=args.predictions,
        splits=args.splits,
        checkpoint=model_path(args),
    )
    serve(ws, host=args.host, port=args.port, token=args.token, device=args.device)
    return 0
