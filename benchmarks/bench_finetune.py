"""Fine-tuning from a trained model vs training from scratch, on a small labelled set.

Both arms run the init model's own training config (variant, input size, codec, labels,
augmentation, optimiser) on the same data with the same seed and epochs; only the starting
weights differ (``train --init`` vs random). Tune-split median point error (px) and presence
accuracy are recorded after every epoch (the run's ``metrics.csv`` columns).

Without ``--data`` a small synthetic release is made first (classic look; 10 videos: 6 train,
3 tune, 1 ival; 4 labelled frames each; the init's views).

.venv/bin/python benchmarks/bench_finetune.py --init synthetic-v1 --epochs 8 --out /tmp/ft
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from echomark.synth.config import DatasetConfig
from echomark.synth.dataset import write_dataset
from echomark.train import load_config, run_training
from echomark.train.config import TrainConfig
from echomark.train.init import read_init

#: metrics.csv columns recorded per epoch.
COLUMNS = ("point_error_px", "curve_distance_px", "presence_accuracy", "tune_loss", "train_loss")


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.partition("x")
    return int(h), int(w)


def make_data(out: Path, views: tuple[str, ...], args: argparse.Namespace) -> Path:
    """A small synthetic release in ``out`` (6 train, 3 tune, 1 ival video)."""
    cfg = DatasetConfig(
        n_videos=10,
        n_external=0,
        frames_per_video=max(args.labelled, 8),
        labelled_per_video=args.labelled,
        seed=args.data_seed,
        size=_size(args.size),
        split_fractions=(0.6, 0.3, 0.1),
        views=views,
        look=args.look,
    )
    write_dataset(out, cfg)
    return out


def arm_config(
    base: dict[str, Any], data: Path, out: Path, init: str, args: argparse.Namespace
) -> TrainConfig:
    """The init's training config on ``data``, ``args.epochs`` epochs, tune every epoch."""
    cfg = json.loads(json.dumps(base))
    cfg["data"] = {
        **cfg.get("data", {}),
        "images": str(data / "png-cache.zip"),
        "labels": str(data / "labels.zip"),
        "train_split": "train",
        "tune_split": "tune",
        "max_tune_images": 0,
    }
    cfg.update(
        epochs=args.epochs,
        tune_every=1,
        seed=args.seed,
        out_dir=str(out),
        device=args.device,
        workers=0,
        threads=args.threads,
        init=init,
    )
    if args.lr is not None:
        cfg.setdefault("optim", {})["lr"] = args.lr
    return load_config(base=cfg)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--init", default="synthetic-v1", help="named model, model folder or checkpoint")
    p.add_argument("--data", help="a synthetic (or release-layout) folder; default: make one")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0, help="training seed of both arms")
    p.add_argument("--lr", type=float, help="peak learning rate of both arms (default: init's)")
    p.add_argument(
        "--at-epoch", type=int, help="epoch the BENCH ratio is taken at (default: the last)"
    )
    p.add_argument("--labelled", type=int, default=4, help="labelled frames per made video")
    p.add_argument("--size", default="240x320", help="made frames HxW")
    p.add_argument("--look", default="classic", help="made frames: classic or bmode")
    p.add_argument("--data-seed", type=int, default=101)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="folder for runs, finetune_vs_scratch.csv and .png")
    a = p.parse_args()

    src = read_init(a.init)
    base = src.config
    # Train the init's own labels so every tensor loads (the heads included).
    base.setdefault("data", {})["channels"] = list(src.channels)
    base["data"]["views"] = []
    views = tuple(src.config.get("data", {}).get("views") or ("PLAX", "A4C"))
    work = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    work.mkdir(parents=True, exist_ok=True)
    if a.data:
        data = Path(a.data)
    else:
        t0 = time.perf_counter()
        data = make_data(work / "data", views, a)
        print(
            f"made {data} ({a.look} look, views {', '.join(views)}) in {time.perf_counter() - t0:.0f} s"
        )

    histories: dict[str, list[dict[str, float]]] = {}
    seconds: dict[str, float] = {}
    for arm, init in (("init", a.init), ("scratch", "")):
        config = arm_config(base, data, work / f"run-{arm}", init, a)
        t0 = time.perf_counter()
        result = run_training(config, progress=False)
        seconds[arm] = time.perf_counter() - t0
        histories[arm] = result.history

    print(f"init {a.init} ({src.variant}, {len(src.channels)} labels); {a.epochs} epochs each")
    print(
        f"{'epoch':>5}  {'init px':>8}  {'scratch px':>10}  {'init pres':>9}  {'scratch pres':>12}"
    )
    rows = []
    for i in range(a.epochs):
        r_i, r_s = histories["init"][i], histories["scratch"][i]
        print(
            f"{i + 1:>5}  {_px(r_i):>8}  {_px(r_s):>10}  "
            f"{r_i.get('presence_accuracy', math.nan):9.1%}  "
            f"{r_s.get('presence_accuracy', math.nan):12.1%}"
        )
        for arm, r in (("init", r_i), ("scratch", r_s)):
            rows.append({"arm": arm, "epoch": i + 1, **{c: r.get(c, math.nan) for c in COLUMNS}})
    print("(-: no point found present on the tune split, so no point error)")
    print(f"training time: init {seconds['init']:.0f} s, scratch {seconds['scratch']:.0f} s")

    if a.out:
        with open(work / "finetune_vs_scratch.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["arm", "epoch", *COLUMNS])
            writer.writeheader()
            writer.writerows(rows)
        _plot(histories, work / "finetune_vs_scratch.png", a.init)
        print(f"wrote {work / 'finetune_vs_scratch.csv'} and .png")

    at = min(max(a.at_epoch or a.epochs, 1), a.epochs)
    e_init = histories["init"][at - 1].get("point_error_px", math.nan)
    e_scratch = histories["scratch"][at - 1].get("point_error_px", math.nan)
    ratio = e_scratch / e_init if e_init > 0 else math.nan
    print(
        "BENCH "
        + json.dumps(
            {
                "name": "finetune_vs_scratch",
                "value": round(ratio, 3) if math.isfinite(ratio) else None,
                "unit": f"x (scratch / fine-tuned tune median point error at epoch {at}; "
                "null: an arm found no point)",
            }
        )
    )


def _px(row: dict[str, float]) -> str:
    value = row.get("point_error_px", math.nan)
    return f"{value:.2f}" if math.isfinite(value) else "-"


def _plot(histories: dict[str, list[dict[str, float]]], path: Path, init: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for arm, style in (("init", "-o"), ("scratch", "--s")):
        h = histories[arm]
        epochs = [r["epoch"] for r in h]
        label = f"from {init}" if arm == "init" else "from scratch"
        axes[0].plot(epochs, [r.get("point_error_px", math.nan) for r in h], style, label=label)
        axes[1].plot(
            epochs, [100 * r.get("presence_accuracy", math.nan) for r in h], style, label=label
        )
    axes[0].set(xlabel="epoch", ylabel="tune median point error (px)", yscale="log")
    axes[1].set(xlabel="epoch", ylabel="tune presence accuracy (%)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
