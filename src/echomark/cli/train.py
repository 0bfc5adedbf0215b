"""``echomark train``: train a heatmap network from a YAML config (torchrun for DDP)."""

from __future__ import annotations

import argparse
import sys

COMMAND = "train"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``train`` sub-command."""
    p = subparsers.add_parser(
        COMMAND,
        help="train a keypoint/curve heatmap network",
        description="Train an HRNet on png-cache images and label JSON. The config is a YAML "
        "file or the name of one shipped with echomark (demo, w32-gpu); --set a.b=value "
        "overrides single keys. The resolved config, metrics.csv, last.pt and best.pt go to "
        "out_dir. For several GPUs or hosts start it with torchrun (e.g. torchrun --standalone --nproc_per_node=4 -m echomark train ...).",
    )
    p.add_argument(
        "--config", "-c", help="YAML config file, or a shipped config name (demo, w32-gpu)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set optim.lr=3e-4 (repeatable)",
    )
    p.add_argument("--out", help="run folder (same as --set out_dir=...)")
    p.add_argument("--resume", metavar="CKPT", help="continue from a last.pt checkpoint")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or epoch lines")
    p.set_defaults(func=run, requires=("torch",))


def run(args: argparse.Namespace) -> int:
    """Resolve the config and train; exit 0 when training finished."""
    from echomark.train.config import dump_config, load_config

    overrides = list(args.overrides)
    if args.out:
        overrides.append(f"out_dir={args.out}")
    config = load_config(args.config, overrides)
    if args.print_config:
        sys.stdout.write(dump_config(config))
        return 0
    from echomark.train.loop import run_training

    result = run_training(config, resume=args.resume, progress=not args.quiet)
    if result.last_path is not None:
        last = result.history[-1] if result.history else {}
        print(
            f"trained {len(result.history)} epoch(s) this run; metrics: {result.out_dir / 'metrics.csv'}"
        )
        if "point_error_px" in last:
            print(
                f"last epoch: point error {last['point_error_px']:.2f} px, curve distance "
                f"{last.get('curve_distance_px', float('nan')):.2f} px, presence "
                f"{last.get('presence_accuracy', float('nan')):.1%}"
            )
        print(f"best: {result.best_path}")
        print(f"last: {result.last_path}")
    return 0
