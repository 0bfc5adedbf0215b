"""How close are a model's single-frame LV volumes to the truth on a synthetic split?

Predicts one split of an ``echomark synth`` data set (``--images png-cache.zip --labels
labels.zip``, as a user with the release would pass them) with a model decoded as its config
or card says, and compares each apical frame's single-plane method-of-disks volume, cavity
area and LV length (:func:`echomark.measure.a4c.lv_apical_frame`) with the same measurements
of the truth labels. Beside it, the codec floor: the truth labels encoded as training targets
and decoded with the model's codec, so what the decoding alone loses. Errors are relative
(predicted / truth - 1), so the pixel spacing cancels. Prints percentiles per view and
overall; the last line is the share of frames whose volume is within 10 % of the truth.

Why it matters: the quality gate (:mod:`echomark.measure.qc`) can only pass a volume whose
labels are reliably right on the tune split; a model whose in-distribution volumes are loose
has every real volume flagged, rightly.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/bench_synth_volumes.py --model synthetic-v1 \
    --images D/png-cache.zip --labels D/labels.zip [--split tune] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from echomark.cache.store import open_store
from echomark.calibration import Calibration
from echomark.data.spec import ModelSpec, decode_one
from echomark.data.transforms import fit_matrix
from echomark.fileio import atomic_write_text
from echomark.heatmaps import encode
from echomark.labels.schema import ImageLabels
from echomark.labels.splits import read_split
from echomark.measure.a4c import lv_apical_frame
from echomark.models.zoo import resolve_model
from echomark.predict.api import load_engine, run_prediction
from echomark.workflows.measure import read_views_csv

#: Any isotropic spacing: the errors are ratios.
UNIT = Calibration(1.0, 1.0)
PERCENTILES = (10, 25, 50, 75, 90)
WITHIN = 0.10


def relative_errors(pred: ImageLabels, truth: ImageLabels) -> tuple[float, float, float] | None:
    """(volume, area, length) as predicted / truth - 1; None where either has no volume."""
    t = lv_apical_frame(truth, UNIT)
    p = lv_apical_frame(pred, UNIT, min_conf=0.0)
    if not (math.isfinite(t.volume_ml) and math.isfinite(p.volume_ml)):
        return None
    return (
        p.volume_ml / t.volume_ml - 1.0,
        p.area_cm2 / t.area_cm2 - 1.0,
        p.length_mm / t.length_mm - 1.0,
    )


def codec_round_trip(truth: ImageLabels, spec: ModelSpec, src_hw: tuple[int, int]) -> ImageLabels:
    """The truth labels encoded as targets and decoded with the model's codec."""
    matrix = fit_matrix(src_hw, spec.data.input_hw, spec.data.resize)
    enc = encode(
        truth, list(spec.channels), list(spec.kinds), matrix, spec.data.input_hw, spec.codec
    )
    return decode_one([e.heatmaps for e in enc], spec, matrix)


def views_of(images: Path) -> dict[str, str]:
    """Video -> view from the ``view_index.csv`` beside the images (empty when there is none)."""
    path = images.parent / "view_index.csv"
    return read_views_csv(str(path)) if path.is_file() else {}


@dataclass(frozen=True)
class Summary:
    """Percentiles (as fractions) of each relative error, and the share of close volumes."""

    n: int
    volume: tuple[float, ...]
    area: tuple[float, ...]
    length: tuple[float, ...]
    volume_within_10pct: float

    def line(self, name: str) -> str:
        """One terminal line."""

        def pct(v: tuple[float, ...]) -> str:
            return " / ".join(f"{100 * x:+.1f}" for x in v)

        return (
            f"{name:12s} n {self.n:4d}  volume within 10 %: {100 * self.volume_within_10pct:5.1f} %"
            f"  volume {pct(self.volume)} %  area {pct(self.area)} %  length {pct(self.length)} %"
        )


def summarise(rows: list[tuple[float, float, float]]) -> Summary:
    """Percentiles of each error and the share of volumes within 10 %.

    >>> summarise([(0.05, 0.0, 0.0), (-0.2, 0.0, 0.1)]).volume_within_10pct
    0.5
    """
    a = np.asarray(rows, dtype=np.float64).reshape(-1, 3)

    def pcts(i: int) -> tuple[float, ...]:
        return tuple(round(float(np.percentile(a[:, i], q)), 4) for q in PERCENTILES)

    share = round(float(np.mean(np.abs(a[:, 0]) <= WITHIN)), 4)
    return Summary(len(a), pcts(0), pcts(1), pcts(2), share)


def main() -> None:
    """Predict the split, compare with the truth, print per-view lines and a BENCH line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model = ap.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="named model (e.g. synthetic-v1) or model folder")
    model.add_argument("--checkpoint", help="training checkpoint (.pt)")
    ap.add_argument("--images", type=Path, required=True, help="png-cache.zip of the data set")
    ap.add_argument("--labels", type=Path, required=True, help="labels.zip of the data set")
    ap.add_argument("--split", default="tune", help="split to score (default tune)")
    ap.add_argument("--json", type=Path, help="write the summaries here")
    args = ap.parse_args()
    ckpt = resolve_model(args.model) if args.model else Path(args.checkpoint)
    truth = read_split(args.labels, args.split).images
    keys = sorted(truth)
    with tempfile.TemporaryDirectory() as tmp:
        res = run_prediction(
            [args.images], checkpoint=ckpt, out=Path(tmp) / "pred", keys=keys, stream=None
        )
    _, spec = load_engine(ckpt)
    view = views_of(args.images)
    by_view: dict[str, list[tuple[float, float, float]]] = {}
    floor: list[tuple[float, float, float]] = []
    store = open_store(args.images)
    for key in keys:
        pred = res.labels.get(key)
        if pred is None:
            continue
        err = relative_errors(pred, truth[key])
        if err is None:
            continue
        by_view.setdefault(view.get(key.rsplit("-", 1)[0], "?"), []).append(err)
        src_hw = store.read(key).shape[:2]
        rt = relative_errors(codec_round_trip(truth[key], spec, (src_hw[0], src_hw[1])), truth[key])
        if rt is not None:
            floor.append(rt)
    if not by_view:
        raise SystemExit(f"no apical frame with an LV volume in split {args.split!r}")
    every = [e for rows in by_view.values() for e in rows]
    out = {v: summarise(r) for v, r in sorted(by_view.items())}
    out["all"] = summarise(every)
    out["codec floor"] = summarise(floor)
    print(f"{ckpt}: split {args.split}, relative errors at percentiles {PERCENTILES}")
    for name, s in out.items():
        print(s.line(name))
    if args.json:
        atomic_write_text(args.json, json.dumps({k: asdict(v) for k, v in out.items()}, indent=1))
    bench = {"name": "synth_volume_within_10pct", "value": out["all"].volume_within_10pct}
    sys.stdout.write("BENCH " + json.dumps({**bench, "unit": "fraction of frames"}) + "\n")


if __name__ == "__main__":
    main()
