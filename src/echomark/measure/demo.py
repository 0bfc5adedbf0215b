"""Measurement agreement of predictions with a synthetic truth table (used by ``echomark demo``).

``truth.csv`` (written by ``echomark synth``) is long form: ``image, video, view, frame,
measurement, value, unit``. Rows with an image (or video + frame) are per-frame truths and are
compared with the same frame's measurement; rows without a frame are per-video truths and are
compared with the mean over the video's beats.
"""

from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from echomark.cache.keys import ImageKey
from echomark.cache.physical import calibration_from_mapping, read_physical_csv
from echomark.calibration import Calibration
from echomark.errors import ImageKeyError, InputError
from echomark.fileio import atomic_write_text
from echomark.labels.io import read_labels
from echomark.labels.schema import LabelFile
from echomark.labels.vocabulary import Measurement, Phase, parse, spec
from echomark.measure.agreement import agreement, bland_altman_plot
from echomark.measure.pipeline import MeasureResult, RowKind, measure_labels
from echomark.synth.dataset import TRUTH_DESCRIPTIONS

#: Factors to convert a truth unit into echomark's unit, keyed by (from, to).
_UNIT_FACTORS = {
    ("cm", "mm"): 10.0,
    ("m", "mm"): 1000.0,
    ("mm2", "cm2"): 0.01,
    ("mm^2", "cm2"): 0.01,
    ("cm^2", "cm2"): 1.0,
    ("ml", "ml"): 1.0,
    ("cm3", "ml"): 1.0,
    ("mm3", "ml"): 0.001,
    ("%", "%"): 1.0,
    ("pct", "%"): 1.0,
    ("bpm", "/min"): 1.0,
}


def convert_unit(value: float, unit: str, to: str) -> float:
    """Convert ``value`` from ``unit`` to ``to`` (length, area, volume, %).

    >>> convert_unit(1.2, "cm", "mm"), convert_unit(350.0, "mm2", "cm2")
    (12.0, 3.5)

    Raises:
        InputError: The units are not convertible.
    """
    u, t = unit.strip().lower(), to.strip().lower()
    if u == t or not u:
        return value
    f = _UNIT_FACTORS.get((u, t))
    if f is None:
        inv = _UNIT_FACTORS.get((t, u))
        if inv is None:
            raise InputError(f"cannot convert {unit!r} to {to!r}", field="unit")
        f = 1.0 / inv
    return value * f


@dataclass(frozen=True)
class TruthRow:
    """One row of ``truth.csv``."""

    image: str
    video: str
    view: str
    frame: int | None
    measurement: str
    value: float
    unit: str


def read_truth_csv(path: str | os.PathLike[str]) -> list[TruthRow]:
    """Read a long-form truth table (``image, video, view, frame, measurement, value, unit``).

    Raises:
        InputError: The file cannot be read or lacks a needed column or value.
    """
    src = os.fspath(path)
    try:
        with open(src, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            need = {"measurement", "value"}
            cols = set(reader.fieldnames or [])
            if not need <= cols or not ({"image", "video"} & cols):
                raise InputError("needs columns measurement, value and image or video", file=src)
            out = []
            for i, row in enumerate(reader, start=2):
                raw_value = (row.get("value") or "").strip()
                try:
                    value = float(raw_value) if raw_value else math.nan
                except ValueError:
                    raise InputError(f"line {i}: bad value {raw_value!r}", file=src) from None
                frame_s = (row.get("frame") or "").strip()
                out.append(
                    TruthRow(
                        image=(row.get("image") or "").strip(),
                        video=(row.get("video") or "").strip(),
                        view=(row.get("view") or "").strip(),
                        frame=int(float(frame_s)) if frame_s else None,
                        measurement=(row.get("measurement") or "").strip(),
                        value=value,
                        unit=(row.get("unit") or "").strip(),
                    )
                )
            return out
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=src) from None


def _key_name(text: str) -> str | None:
    try:
        return ImageKey.parse(text).name
    except ImageKeyError:
        return None


def _image_name(row: TruthRow) -> str | None:
    try:
        if row.image:
            return ImageKey.parse(row.image).name
        if row.video and row.frame is not None:
            v = row.video.split("-")
            return ImageKey(v[0], v[1], row.frame).name
    except (ImageKeyError, IndexError):
        return None
    return None


_BIPLANE = frozenset(
    {Measurement.LVEDV_biplane_disks, Measurement.LVESV_biplane_disks, Measurement.EF_biplane}
)


def match_truth(
    result: MeasureResult, truth: list[TruthRow], *, images: set[str] | None = None
) -> tuple[dict[str, tuple[list[float], list[float], str]], list[str]]:
    """Pair measured values with truth values, by exact vocabulary name.

    A per-frame truth (phase ``frame``) is compared with the same frame's value; any other
    truth (ED, ES or per-beat values, heart rate) with the mean over the video's beats (a
    biplane truth with its study's value, on the A4C video), all beats whatever their quality
    status (this compares a model with the truth; clinical
    summaries use ok values only).

    Args:
        result: The measurements.
        truth: The truth rows.
        images: The image keys that were predicted; per-frame truths of other frames are
            not expected to have a value and are not reported as unmatched.

    Returns:
        ``{measurement: (measured, truth, unit)}`` and messages for truth rows that had no
        counterpart.

    Raises:
        InputError: A truth row names a measurement outside the vocabulary.
    """
    frame_vals = {(r.image, r.measurement): r.value for r in result.rows if r.kind is RowKind.FRAME}
    per_beat: dict[tuple[str, Measurement], list[float]] = defaultdict(list)
    for r in result.rows:
        if (r.kind is RowKind.BEAT and math.isfinite(r.value)) or (
            r.kind is RowKind.MEAN and r.measurement is Measurement.heart_rate
        ):
            per_beat[(r.video, r.measurement)].append(r.value)
        elif r.kind is RowKind.STUDY and math.isfinite(r.value):
            # a study's truth is repeated on both its videos: compare it once, on the A4C
            per_beat[(r.video.split("+")[0], r.measurement)].append(r.value)
    pairs: dict[str, tuple[list[float], list[float], str]] = {}
    missing: dict[str, int] = defaultdict(int)
    for t in truth:
        if t.measurement in TRUTH_DESCRIPTIONS:
            continue
        name = parse(t.measurement)
        measured: float | None
        if name in _BIPLANE and t.view == "A2C":
            continue  # a study's truth is on both its videos; compared once, on the A4C
        if spec(name).phase is Phase.FRAME:
            image = _image_name(t)
            if image is None or (images is not None and image not in images):
                continue
            measured = frame_vals.get((image, name))
        else:
            beats = per_beat.get((t.video, name))
            measured = float(np.mean(beats)) if beats else None
        if measured is None or not math.isfinite(measured):
            missing[name.value] += 1
            continue
        unit = spec(name).unit
        value = convert_unit(t.value, t.unit, unit) if t.unit else t.value
        m, tr, _ = pairs.setdefault(name.value, ([], [], unit))
        m.append(measured)
        tr.append(value)
    notes = [f"{n}: {k} truth rows without a measured value" for n, k in sorted(missing.items())]
    return pairs, notes


def frame_times_from_truth(truth: list[TruthRow]) -> dict[str, float]:
    """Per-video frame time (s) from ``frame_time`` truth rows (unit ms or s)."""
    out = {}
    for t in truth:
        if t.measurement == "frame_time" and t.video and t.value > 0:
            out[t.video] = t.value / (1.0 if t.unit.strip().lower() == "s" else 1000.0)
    return out


#: Most panels in the demo's Bland–Altman figure.
MAX_PANELS = 9


def _plot_names(pairs: Mapping[str, Any]) -> list[str]:
    """Measurements worth a panel, at most :data:`MAX_PANELS`.

    Per-beat values first (EF, FS, GLS, volumes: what a reader uses), then per-frame ones;
    a measurement with fewer than two pairs has no spread to plot and gets no panel.
    """
    order = {Phase.CYCLE: 0, Phase.ED: 1, Phase.ES: 2, Phase.FRAME: 3}
    names = [n for n in pairs if len(pairs[n][0]) >= 2]
    names.sort(key=lambda n: (order[spec(n).phase], n))
    return (names or sorted(pairs))[:MAX_PANELS]


class AgreementSummary(dict[str, Any]):
    """The result of :func:`demo_agreement`: a JSON-ready dict with attribute shortcuts.

    Keys: ``measurements`` (name → agreement dict), ``rows`` (one display row per
    measurement), ``plots`` (PNG paths), ``plot`` (the Bland–Altman PNG or None), ``json``,
    ``unmatched`` and ``problems``.
    """

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One row per measurement: measurement, n, bias, SD, limits, MAE, ICC, r, unit."""
        return list(self.get("rows", []))

    @property
    def plots(self) -> list[str]:
        """Paths of the PNGs written."""
        return list(self.get("plots", []))


def _display_row(name: str, st: dict[str, Any]) -> dict[str, Any]:
    def r(key: str) -> Any:
        v = st.get(key)
        return None if v is None else round(float(v), 3)

    return {
        "measurement": name,
        "n": st["n"],
        "bias": r("bias"),
        "precision SD": r("sd_diff"),
        "LoA low": r("loa_low"),
        "LoA high": r("loa_high"),
        "MAE": r("mae"),
        st["icc_kind"]: r("icc"),
        "r": r("pearson_r"),
        "unit": st["unit"],
    }


def _frame_times(data_dir: Path) -> dict[str, float]:
    """Per-video frame times (s) from a synthetic dataset's manifest, when it has them."""
    out: dict[str, float] = {}
    for name in ("manifest.csv", "frame_times.csv", "videos.csv"):
        path = data_dir / name
        if not path.is_file():
            continue
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                video = row.get("FileHash") or row.get("video") or row.get("code") or ""
                ft = row.get("frame_time_ms") or row.get("FrameTime") or ""
                try:
                    if video and ft and float(ft) > 0:
                        out[video.strip()] = float(ft) / 1000.0
                except ValueError:
                    continue
    return out


def _studies(data_dir: Path) -> dict[str, str]:
    """Video code -> study from a synthetic dataset's ``studies.csv`` (study, A4C, A2C)."""
    path = data_dir / "studies.csv"
    if not path.is_file():
        return {}
    out = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for view in ("A4C", "A2C"):
                if row.get(view):
                    out[row[view].strip()] = (row.get("study") or "").strip()
    return out


def demo_agreement(
    truth_csv: str | os.PathLike[str] | None = None,
    predictions: LabelFile | str | os.PathLike[str] | None = None,
    calibration_csv: str | os.PathLike[str] | list[str | os.PathLike[str]] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    frame_time_s: float | dict[str, float] | None = None,
    min_conf: float = 0.1,
) -> AgreementSummary:
    """Measure predictions and compare them with the synthetic truth.

    Either name the files, or give ``data_dir`` (an ``echomark synth`` output folder) and
    the truth (``truth.csv``), calibration (``0?_database_physical.csv``) and frame times
    (a manifest with ``frame_time_ms``, if present) are found there.

    Args:
        truth_csv: ``truth.csv`` from ``echomark synth``.
        predictions: Predicted labels (a LabelFile or a JSON path).
        calibration_csv: The matching ``*_database_physical.csv`` (one or several).
        out_dir: Where ``measurement_agreement.png`` and ``measurement_agreement.json`` go.
        data_dir: A synthetic dataset folder supplying whatever was not named.
        frame_time_s: Seconds between frames (one for all, or per video code), for
            per-video (ED/ES) truths; optional.
        min_conf: Confidence floor for predicted labels.

    Returns:
        An :class:`AgreementSummary`: ``{"measurements": {name: {n, bias, sd_diff, loa_low,
        loa_high, mae, rmse, icc, icc_kind, pearson_r, mean_reference, unit}}, "rows": [...],
        "plots": [...], "plot": path or None, "json": path, "unmatched": [...],
        "problems": [...]}``.

    Raises:
        InputError: A needed input is neither named nor found in ``data_dir``.
    """
    import json

    base = Path(data_dir) if data_dir is not None else None
    if truth_csv is None and base is not None:
        truth_csv = base / "truth.csv"
    if calibration_csv is None and base is not None:
        calibration_csv = [str(p) for p in sorted(base.glob("*_database_physical.csv"))]
    if frame_time_s is None and base is not None:
        frame_time_s = _frame_times(base) or None
    if truth_csv is None or predictions is None or not calibration_csv or out_dir is None:
        raise InputError(
            "demo_agreement needs truth_csv, predictions, calibration_csv and out_dir "
            "(or data_dir holding truth.csv and the calibration CSVs)"
        )
    lf = predictions if isinstance(predictions, LabelFile) else read_labels(predictions)
    csvs = calibration_csv if isinstance(calibration_csv, list) else [calibration_csv]
    mapping: dict[str, Calibration] = {}
    for c in csvs:
        mapping.update(read_physical_csv(c))

    def cal_of(video: str) -> Calibration | None:
        return calibration_from_mapping(mapping, video) if video in mapping else None

    truth = read_truth_csv(truth_csv)
    views = {t.video: t.view for t in truth if t.video and t.view}
    if frame_time_s is None:
        frame_time_s = frame_times_from_truth(truth) or None
    studies = _studies(base) if base is not None else {}
    result = measure_labels(
        lf,
        cal_of,
        views=views,
        frame_time_s=frame_time_s,
        studies=studies or None,
        min_conf=min_conf,
    )
    predicted = {n for k in lf.images if (n := _key_name(k)) is not None}
    pairs, notes = match_truth(result, truth, images=predicted)
    stats = {
        name: agreement(m, t, unit=unit).as_dict() for name, (m, t, unit) in sorted(pairs.items())
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot: Path | None = None
    if pairs:
        plot = bland_altman_plot(
            {n: pairs[n] for n in _plot_names(pairs)},
            out / "measurement_agreement.png",
            title="Measurements: model vs synthetic truth",
            test_name="model",
            reference_name="truth",
        )
    json_path = out / "measurement_agreement.json"
    summary = AgreementSummary(
        measurements=stats,
        rows=[_display_row(n, st) for n, st in stats.items()],
        plots=[] if plot is None else [str(plot)],
        plot=None if plot is None else str(plot),
        json=str(json_path),
        unmatched=notes,
        problems=list(result.problems),
    )
    atomic_write_text(json_path, json.dumps(dict(summary), indent=1, allow_nan=False) + "\n")
    return summary
