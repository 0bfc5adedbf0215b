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
        "file or the name of one shipped with echomark (demo, w32-gpu, synthetic-transfer, "
        "synthetic-transfer-gpu); "
        "--set a.b=value overrides single keys. The resolved config, metrics.csv, last.pt and "
        "best.pt go to out_dir, each checkpoint with the quality-gate thresholds calibrated on "
        "its tune pass (last.qc.json, best.qc.json; echomark measure uses them); --set "
        "save_every=N also keeps epoch-NNN.pt every N epochs. --init NAME "
        "starts from the weights of a trained model instead of random ones. For several "
        "GPUs or hosts start it with torchrun (e.g. torchrun --standalone --nproc_per_node=4 -m echomark train ...).",
    )
    p.add_argument(
        "--config",
        "-c",
        help="YAML config file, or a shipped config name (demo, w32-gpu, synthetic-transfer, "
        "synthetic-transfer-gpu)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set optim.lr=3e-4 or --set dataset.input_hw=256,256 "
        "(repeatable; --list-keys shows them all)",
    )
    p.add_argument("--out", help="run folder (same as --set out_dir=...)")
    p.add_argument("--resume", metavar="CKPT", help="continue from a last.pt checkpoint")
    p.add_argument(
        "--init",
        metavar="NAME_OR_PATH",
        help="start from the weights of a named model (`echomark models`), a model folder or a "
        "checkpoint (same as --set init=...): same variant and input channels; with another "
        "label list the trunk and the heads' shared labels are loaded, the rest starts fresh "
        "(one log line says what); the optimiser and schedule start fresh (not with --resume)",
    )
    p.add_argument(
        "--new-schedule",
        action="store_true",
        help="with --resume: accept changed epochs/optim settings (the LR schedule changes)",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument(
        "--list-keys",
        action="store_true",
        help="list every --set key with its type and default, and exit",
    )
    p.set_defaults(func=run, requires=("torch",))


def run(args: argparse.Namespace) -> int:
    """Resolve the config and train; exit 0 when training finished."""
    from echomark.train.config import dump_config, list_keys, load_config

    if args.list_keys:
        rows = list_keys()
        width = max(len(k) for k, _, _ in rows)
        for key, tp, default in rows:
            print(f"{key:<{width}}  {tp:<24}  {default}")
        return 0
    overrides = list(args.overrides)
    if args.init:
        overrides.append(f"init={args.init}")
    if args.resume and any(o.partition("=")[0].strip() == "init" for o in overrides):
        from echomark.errors import ConfigError

        raise ConfigError(
            "--init starts a new run from other weights and --resume continues a run: give "
            "one of them"
        )
    if args.out:
        overrides.append(f"out_dir={args.out}")
    config = load_config(args.config, overrides)
    if args.print_config:
        sys.stdout.write(dump_config(config))
        return 0
    import contextlib
    import os

    from echomark.fileio import folder_lock
    from echomark.train.loop import run_training

    # One run per folder: a second train (or resume) into it fails at once. Under torchrun
    # only rank 0 writes files, so only it takes the lock.
    first_rank = os.environ.get("RANK", "0") == "0"
    with folder_lock(config.out_dir) if first_rank else contextlib.nullcontext():
        result = run_training(
            config, resume=args.resume, progress=not args.quiet, new_schedule=args.new_schedule
        )
    if result.last_path is not None:
        last = result.history[-1] if result.history else {}
        span = (
            f" (epochs {result.start_epoch + 1}..{result.start_epoch + result.epochs_run})"
            if result.epochs_run
            else ""
        )
        print(
            f"trained {result.epochs_run} epoch(s) this run{span}; metrics: "
            f"{result.out_dir / 'metrics.csv'}"
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
