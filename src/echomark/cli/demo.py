"""``echomark demo``: synthetic data -> train on the CPU -> predict -> evaluate -> report."""

from __future__ import annotations

import argparse
from typing import Any

COMMAND = "demo"


def add_parser(subparsers: Any) -> None:
    """Register ``echomark demo``."""
    p = subparsers.add_parser(
        COMMAND,
        help="run the whole pipeline on synthetic echoes and write an HTML report",
        description="Generate a synthetic PLAX + A4C dataset with exact truth, train a small "
        "network on the CPU, predict the internal-validation split and the class-02 external "
        "set, evaluate both, compare measurements with the synthetic truth, and write "
        "OUT/report.html and OUT/metrics.json (a few minutes on 2 cores).",
    )
    p.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    p.add_argument("--quick", action="store_true", help="tiny smoke run (<1 min, no accuracy)")
    p.add_argument("--seed", type=int, default=0, help="seed of data and training")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument(
        "--config", help="training config: a YAML file or a shipped config name (default: demo)"
    )
    p.add_argument("--videos", type=int, help="synthetic videos (default: the generator's)")
    p.add_argument("--epochs", type=int, help="training epochs (default: 44; 1 with --quick)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="training config override"
    )
    p.set_defaults(func=run, requires=("torch",))


def run(args: argparse.Namespace) -> int:
    """Run the demo; the last line says where the report is."""
    import sys
    from dataclasses import replace

    from echomark.predict.api import resolve_device
    from echomark.workflows.demo import DEFAULT, QUICK, demo_headline, run_demo

    size = QUICK if args.quick else DEFAULT
    size = replace(
        size,
        n_videos=args.videos if args.videos is not None else size.n_videos,
        epochs=args.epochs if args.epochs is not None else size.epochs,
        overrides=(*size.overrides, *args.set),
    )
    res = run_demo(
        args.out, size=size, seed=args.seed, device=resolve_device(args.device),
        config=args.config, stream=sys.stderr,
    )  # fmt: skip
    for line in demo_headline(res.metrics):
        print(line)
    print(f"metrics: {res.metrics_path}")
    print(f"report: {res.report_path}")
    return 0
