"""``echomark models``: the named models (shipped, or on ECHOMARK_MODEL_PATH) and their cards."""

from __future__ import annotations

import argparse
import json

COMMAND = "models"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``echomark models``."""
    p = subparsers.add_parser(
        COMMAND,
        help="list the named models (--model NAME, train --init NAME) with their card summary",
        description="List the models that --model NAME (predict, measure, serve) and train "
        "--init NAME accept: model folders (model.safetensors + model.json, as `echomark "
        "export --model-dir` writes them) in each folder of ECHOMARK_MODEL_PATH (os.pathsep-"
        "separated, searched first) and those shipped with echomark. A name found twice is "
        "the first one's. `echomark model-info NAME` prints one card in full.",
    )
    p.add_argument("--json", action="store_true", help="print JSON (name, path, source, card)")
    p.set_defaults(func=run, requires=("torch",))


def run(args: argparse.Namespace) -> int:
    """Print one line per model (or JSON); exit 0, also when there is none."""
    from echomark.models.zoo import ENV_VAR, list_models

    entries = list_models()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": e.name,
                        "path": str(e.path),
                        "source": e.source,
                        "summary": e.summary,
                        "card": e.card.to_dict(),
                    }
                    for e in entries
                ],
                indent=1,
            )
        )
        return 0
    if not entries:
        print(f"no named models (none shipped here; add folders of model folders to {ENV_VAR})")
        return 0
    width = max(len(e.name) for e in entries)
    for e in entries:
        print(f"{e.name:<{width}}  {e.summary}")
        metrics = [
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in e.card.metrics.items()
            if k not in _TRAINING_ROW
        ]
        if metrics:
            print(f"{'':<{width}}  metrics: {', '.join(metrics)}")
        where = "shipped with echomark" if e.source == "package" else f"from {e.source}"
        print(f"{'':<{width}}  {where}: {e.path}")
    return 0


#: Bookkeeping columns of the exported epoch's metrics row, not worth a line.
_TRAINING_ROW = frozenset({"epoch", "step", "lr", "epoch_s", "n_points", "n_curves", "n_presence"})
