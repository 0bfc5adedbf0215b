"""Evaluate a predictions file against labels: read inputs, compute metrics, write the outputs."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echomark.cache.physical import read_physical_csv
from echomark.cache.store import open_store
from echomark.errors import InputError
from echomark.evaluate.evaluation import LabelRecord, compare_labels, json_safe, summarise
from echomark.evaluate.report import Section, render_report
from echomark.fileio import atomic_write_text
from echomark.labels.io import read_labels
from echomark.labels.registry import load_registry
from echomark.labels.schema import ImageLabels, LabelFile
from echomark.labels.splits import read_split

PathLike = str | os.PathLike[str]


@dataclass
class EvaluationResult:
    """What :func:`evaluate_predictions` produced.

    Attributes:
        metrics: The ``metrics.json`` content.
        records: One record per (image, label).
        metrics_path: Where ``metrics.json`` was written.
        report_path: Where ``report.html`` was written.
    """

    metrics: dict[str, Any]
    records: list[LabelRecord]
    metrics_path: Path
    report_path: Path


def load_truth(labels: PathLike, split: str | None = None) -> LabelFile:
    """Ground truth from labels.zip / a labels folder (with a split) or one JSON file.

    A zip or folder without a split reads ``labels-all.json``.
    """
    p = Path(labels)
    if not p.exists():
        raise InputError("no such labels file or folder", file=str(p))
    return read_split(p, split)


def load_registry_info() -> tuple[dict[str, str], dict[str, list[str]], dict[str, str]]:
    """Label kinds, views and colours from the registry (name -> value)."""
    reg = load_registry()
    kinds = {n: s.kind.value for n, s in reg.items()}
    views = {n: [v.value for v in s.views] for n, s in reg.items()}
    colours = {n: s.colour for n, s in reg.items()}
    return kinds, views, colours


def load_spacing(calibration: PathLike | None) -> dict[str, tuple[float, float]]:
    """Video code -> ``(dx, dy)`` mm per pixel from a calibration CSV (cm per pixel)."""
    if calibration is None:
        return {}
    return {
        code: (cal.dx_mm_per_px, cal.dy_mm_per_px)
        for code, cal in read_physical_csv(calibration).items()
    }


def evaluate_labelsets(
    truth: Mapping[str, ImageLabels],
    pred: Mapping[str, ImageLabels],
    *,
    spacing_mm: Mapping[str, tuple[float, float]] | None = None,
    names: Sequence[str] | None = None,
) -> tuple[dict[str, Any], list[LabelRecord]]:
    """Metrics of predictions against truth (in memory), using registry kinds and views."""
    kinds, views, _ = load_registry_info()
    records, missing = compare_labels(truth, pred, names=names, kinds=kinds, spacing_mm=spacing_mm)
    if not records:
        raise InputError(
            "nothing to evaluate: no image has both labels and predictions "
            f"({len(truth)} labelled, {len(pred)} predicted)"
        )
    return summarise(records, views=views, missing=missing), records


def evaluate_predictions(
    *,
    labels: PathLike,
    predictions: PathLike,
    out: PathLike,
    split: str | None = None,
    calibration: PathLike | None = None,
    images: PathLike | None = None,
    title: str = "echomark evaluation",
    sections: Sequence[Section] = (),
    notes: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Evaluate a predictions JSON against labels and write ``metrics.json`` and ``report.html``.

    Args:
        labels: labels.zip, a labels folder or a label JSON.
        predictions: Predictions JSON (label schema, v1 or v2).
        out: Output folder.
        split: Split to evaluate (``ival``, ``tune``...); only images in it count.
        calibration: Optional calibration CSV (cm per pixel) for mm metrics.
        images: Optional png-cache (zip or folder) for worst-case pictures.
        title: Report title.
        sections: Extra report sections.
        notes: Lines under the report title.
        extra: Extra top-level entries for ``metrics.json``.

    Returns:
        The metrics and where they were written.
    """
    truth = load_truth(labels, split)
    pred = read_labels(Path(predictions))
    spacing = load_spacing(calibration)
    metrics, records = evaluate_labelsets(truth.images, pred.images, spacing_mm=spacing)
    metrics["inputs"] = {
        "labels": str(labels),
        "split": split,
        "predictions": str(predictions),
        "calibration": None if calibration is None else str(calibration),
        "n_calibrated_videos": len(spacing),
    }
    if extra:
        metrics.update(extra)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = out_dir / "metrics.json"
    atomic_write_text(metrics_path, json.dumps(json_safe(metrics), indent=2) + "\n")
    loader = None
    if images is not None:
        store = open_store(images)
        loader = store.read
    report_path = out_dir / "report.html"
    html = render_report(
        metrics,
        records,
        title=title,
        images=loader,
        truth=truth.images,
        pred=pred.images,
        sections=sections,
        notes=[f"labels: {labels} (split {split or 'all'}); predictions: {predictions}", *notes],
    )
    atomic_write_text(report_path, html)
    return EvaluationResult(metrics, records, metrics_path, report_path)
