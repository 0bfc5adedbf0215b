"""``echomark evaluate``: compare predictions with labels; write metrics.json and report.html."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

COMMAND = "evaluate"


def add_parser(subparsers: Any) -> None:
    """Register ``echomark evaluate``."""
    p = subparsers.add_parser(
        COMMAND,
        help="score predictions against labels (presence, point/curve error, mm) + HTML report",
        description="Score a predictions JSON against expert labels: presence sensitivity and "
        "specificity (blurred truth excluded), point error (median, mean, p90, PCK at 2/4/8 px), "
        "curve mean / Hausdorff distance and length error, in px and, with --calibration, mm. "
        "Writes DIR/metrics.json and a self-contained DIR/report.html.",
    )
    p.add_argument("--labels", required=True, help="labels.zip, a labels folder or a label JSON")
    p.add_argument("--predictions", required=True, help="predictions JSON from echomark predict")
    p.add_argument("--split", help="split of --labels to score (all, train, tune, ival)")
    p.add_argument(
        "--calibration", help="CSV FileHash,PhysicalDeltaX,PhysicalDeltaY (cm/px) for mm metrics"
    )
    p.add_argument("--images", help="png-cache.zip or folder: draw worst cases in the report")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty --out folder whole"
    )
    p.set_defaults(func=run)


def _f(v: Any, unit: str = "", pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{100 * v:.1f} %" if pct else f"{v:.2f}{unit}"


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the headline numbers; the last line says where the report is."""
    from echomark.evaluate.evaluation import json_safe
    from echomark.evaluate.runner import evaluate_predictions

    res = evaluate_predictions(
        labels=args.labels,
        predictions=args.predictions,
        out=args.out,
        split=args.split,
        calibration=args.calibration,
        images=args.images,
        overwrite=args.overwrite,
    )
    s = res.metrics["summary"]
    if args.json:
        print(json.dumps(json_safe(s), indent=2))
    else:
        print(
            f"images {s['n_images']}  labels compared {s['n_labels_compared']}  "
            f"missing predictions {s['n_missing_predictions']}"
        )
        print(
            f"presence accuracy {_f(s['presence_accuracy'], pct=True)}  "
            f"sensitivity {_f(s['presence_sensitivity'], pct=True)}  "
            f"specificity {_f(s['presence_specificity'], pct=True)}"
        )
        print(
            f"point error median {_f(s['median_point_error_px'], ' px')}  "
            f"p90 {_f(s['p90_point_error_px'], ' px')}  PCK@4px {_f(s['pck_4px'], pct=True)}"
            f"  median {_f(s['median_point_error_mm'], ' mm')}"
        )
        print(
            f"curve distance median {_f(s['median_curve_distance_px'], ' px')}  "
            f"Hausdorff median {_f(s['median_curve_hausdorff_px'], ' px')}"
            f"  median {_f(s['median_curve_distance_mm'], ' mm')}"
        )
        print(f"metrics: {res.metrics_path}")
        print(f"report: {res.report_path}")
    return 0
