"""Measurement outputs: long-form CSV, JSON and a self-contained HTML report with plots.

Plots use matplotlib's Agg backend and are embedded as base64 PNGs, so ``report.html`` is one
file that opens anywhere. Nothing identifying a patient is written: videos are named by their
content-hash codes only.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from echomark.evaluate.report import img_tag, table
from echomark.fileio import atomic_write_text
from echomark.geometry.curves import sample_curve
from echomark.labels.schema import ImageLabels, LabelState
from echomark.measure.a4c import LV_APEX, LV_ENDO, MV_HINGES
from echomark.measure.cavity import CAVITY_SIGNAL_NAME
from echomark.measure.pipeline import (
    PLAX_VIEW,
    MeasurementRow,
    MeasureResult,
    RowKind,
    VideoSeries,
)
from echomark.measure.plax import PLAX_POINTS
from echomark.measure.qc import Status

CSV_COLUMNS = (
    "video",
    "image",
    "view",
    "frame",
    "beat",
    "kind",
    "measurement",
    "value",
    "unit",
    "status",
    "reasons",
    "interpolated",
    "study",
)

#: Most videos drawn in one HTML report (the CSV and JSON always hold everything).
MAX_REPORT_VIDEOS = 50


def _fmt(value: float) -> str:
    return (
        "" if not math.isfinite(value) else f"{value:.4g}" if abs(value) < 1e-3 else f"{value:.3f}"
    )


def rows_to_csv(rows: Sequence[MeasurementRow]) -> str:
    """Long-form CSV text of measurement rows: every value with its status and reasons."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow(
            [
                r.video,
                r.image,
                r.view,
                "" if r.frame is None else r.frame,
                "" if r.beat is None else r.beat,
                r.kind.value,
                r.measurement.value,
                "" if not math.isfinite(r.value) else repr(round(r.value, 6)),
                r.unit,
                r.status.value,
                "; ".join(r.reasons),
                int(r.interpolated),
                r.study,
            ]
        )
    return buf.getvalue()


def result_to_json(result: MeasureResult) -> dict[str, Any]:
    """JSON-ready summary: rows, problems, per-video view evidence, phases and calibration."""
    videos: dict[str, Any] = {}
    for video, vs in result.series.items():
        entry: dict[str, Any] = {
            "view": vs.view,
            "driver": None if vs.driver is None else vs.driver.value,
            "phase_source": vs.phase_source or None,
            "phase_note": vs.phase_note or None,
            "frame_time_s": vs.frame_time_s,
        }
        if vs.decision is not None:
            entry["view_evidence"] = {k: round(v, 4) for k, v in vs.decision.scores.items()}
        if vs.phases is not None:
            entry["ed_frames"] = list(vs.phases.ed)
            entry["es_frames"] = list(vs.phases.es)
            entry["beats"] = [
                {"ed": b.ed, "es": b.es, "es_first": b.es_first, "given": b.given}
                for b in vs.phases.beats
            ]
            entry["refused"] = list(vs.phases.refused)
        c = vs.calibration
        entry["calibration"] = {
            "dx_mm_per_px": c.dx_mm_per_px,
            "dy_mm_per_px": c.dy_mm_per_px,
            "source": c.source.value,
            "origin": c.origin,
        }
        videos[video] = entry
    return {
        "rows": [r.as_dict() for r in result.rows],
        "videos": videos,
        "problems": list(result.problems),
        "notes": list(result.notes),
        "qc_source": result.qc_source,
    }


def _fig_png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    finally:
        plt.close(fig)
    return buf.getvalue()


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: Per-frame series drawn (by name prefix; the CSV and JSON hold them all).
_SERIES_PLOTTED = ("IVS", "LVID", "LVPW", "LV_volume_A4C_disks", "LV_volume_A2C_disks",
                   "LV_length_A", "LV_endocardial_length_A")  # fmt: skip


def series_png(vs: VideoSeries) -> bytes | None:
    """A video's per-frame series with ED/ES marked and flagged frames shaded (None if empty).

    The x axis is time when the frame time is known, else the frame number.
    """
    names = [n for n in vs.series if n.value.startswith(_SERIES_PLOTTED)] or list(vs.series)[:3]
    if not names:
        return None
    panels: list[tuple[str, dict[int, float]]] = [(n.value, vs.series[n]) for n in names]
    if vs.phase_signal:
        panels.append((f"{CAVITY_SIGNAL_NAME} (grey)", vs.phase_signal))
    plt = _plt()
    ft = vs.frame_time_s
    scale = ft if ft else 1.0
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 1.6 * len(panels) + 0.5), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, (name, series) in zip(axes, panels, strict=True):
        frames = sorted(series)
        x = np.asarray(frames, dtype=np.float64) * scale
        y = np.asarray([series[f] for f in frames], dtype=np.float64)
        ax.plot(x, y, "-o", color="#1f77b4", linewidth=1, markersize=2.5)
        for f in frames:
            st = vs.frame_status.get(f, Status.OK)
            if st is not Status.OK:
                colour = "#ffb000" if st is Status.FLAGGED else "#d62728"
                ax.axvspan((f - 0.5) * scale, (f + 0.5) * scale, color=colour, alpha=0.2, lw=0)
        if vs.phases is not None:
            for f in vs.phases.ed:
                ax.axvline(f * scale, color="#d62728", linewidth=0.9)
            for f in vs.phases.es:
                ax.axvline(f * scale, color="#2ca02c", linewidth=0.9, linestyle="--")
        ax.set_ylabel(_wrap_label(name), fontsize=7)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel(
        ("time (s)" if ft else "frame")
        + "; red = ED, green dashed = ES; shaded: flagged (amber) / rejected (red) frames",
        fontsize=8,
    )
    source = vs.phase_source or "none"
    fig.suptitle(f"{vs.video[:16]}… {vs.view} (ED/ES from {source})", fontsize=9)
    # tight_layout costs a second per figure on a busy CPU; fixed margins do
    fig.subplots_adjust(left=0.12, right=0.98, top=0.9, bottom=0.12, hspace=0.15)
    return _fig_png(fig)


def _wrap_label(name: str, width: int = 16) -> str:
    """An axis label broken after ``_`` or a space so that it fits beside one panel.

    >>> print(_wrap_label("LV_endocardial_length_A4C"))
    LV_endocardial_
    length_A4C
    """
    lines = [""]
    for part in re.split(r"(?<=[_ ])", name):
        if lines[-1] and len(lines[-1]) + len(part) > width:
            lines.append("")
        lines[-1] += part
    return "\n".join(line.rstrip() for line in lines)


def overlay_png(image: np.ndarray, labels: ImageLabels, view: str, title: str) -> bytes:
    """The frame with the landmarks and contours used for its measurements drawn on it."""
    plt = _plt()
    h, w = image.shape[:2]
    fig = plt.figure(figsize=(5.0, 5.0 * h / max(w, 1)), dpi=90)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
    ax.set_axis_off()

    def pt(name: str) -> np.ndarray | None:
        lab = labels.get(name)
        if lab is None or lab.state is not LabelState.POINT or not lab.instances:
            return None
        return lab.instances[0].xy[0]

    if view == PLAX_VIEW:
        pts = [pt(n) for n in PLAX_POINTS]
        for a, b, colour in zip(pts[:-1], pts[1:], ("#00d2ff", "#ffd400", "#ff5ad2"), strict=True):
            if a is not None and b is not None:
                ax.plot([a[0], b[0]], [a[1], b[1]], "-o", color=colour, linewidth=1.5, ms=3)
    else:
        endo = labels.get(LV_ENDO)
        if endo is not None and endo.state is LabelState.CURVE and endo.instances:
            inst = endo.instances[0]
            dense = sample_curve(inst.xy, inst.straight, 1.0)
            closed = np.vstack([dense, dense[:1]])
            ax.plot(closed[:, 0], closed[:, 1], "-", color="#ff874b", linewidth=1.2)
        names = (*LV_APEX, *(n for pair in MV_HINGES for n in pair))
        for n in names:
            p = pt(n)
            if p is not None:
                ax.plot(p[0], p[1], "o", color="#ffd400", ms=3)
        apex = next((p for p in map(pt, LV_APEX) if p is not None), None)
        for ant, inf in MV_HINGES:
            a, b = pt(ant), pt(inf)
            if a is not None and b is not None and apex is not None:
                mid = 0.5 * (a + b)
                ax.plot([mid[0], apex[0]], [mid[1], apex[1]], "--", color="#ffd400", lw=1)
                break
    ax.text(4, 4, title, color="white", fontsize=7, va="top",
            bbox={"facecolor": "black", "alpha": 0.5, "pad": 1})  # fmt: skip
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    return _fig_png(fig)


def _table(rows: Sequence[MeasurementRow], kinds: Sequence[RowKind]) -> str:
    # Every cell is a string or an int, which table() escapes and prints as is.
    cells = [
        [
            r.kind.value,
            "" if r.beat is None else r.beat,
            "" if r.frame is None else r.frame,
            r.measurement.value,
            _fmt(r.value) + (" (interpolated)" if r.interpolated else ""),
            r.unit,
            r.status.value,
            "; ".join(r.reasons),
        ]
        for r in rows
        if r.kind in kinds
    ]
    if not cells:
        return ""
    return table(
        ("kind", "beat", "frame", "measurement", "value", "unit", "status", "reasons"), cells
    )


def _overlay_keys(result: MeasureResult, video: str, rows: Sequence[MeasurementRow]) -> list[str]:
    """Image keys to draw for a video: its first beat's ED and ES frames, else two frames."""
    frame_rows = [r for r in rows if r.kind is RowKind.FRAME and r.image]
    by_frame = {r.frame: r.image for r in frame_rows}
    vs = result.series.get(video)
    keys: list[str] = []
    if vs is not None and vs.phases is not None and vs.phases.beats:
        b = vs.phases.beats[0]
        keys = [by_frame[f] for f in (b.ed, b.es) if f in by_frame]
    if not keys:
        keys = list(dict.fromkeys(r.image for r in frame_rows))[:2]
    return keys


def quality_banner(result: MeasureResult) -> str:
    """HTML banner: how many values were flagged or rejected, and the commonest reasons.

    Empty when everything passed.
    """
    bad = [r for r in result.rows if r.status is not Status.OK]
    if not bad:
        return ""
    # count reasons by kind (numbers blanked), showing one example of each
    counts: dict[str, int] = {}
    example: dict[str, str] = {}
    for r in bad:
        for why in r.reasons or ("(no reason)",):
            kind = re.sub(r"-?\d+(\.\d+)?", "#", why)
            counts[kind] = counts.get(kind, 0) + 1
            example.setdefault(kind, why)
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:8]
    items = "".join(f"<li>{html.escape(example[k])} ({n} values)</li>" for k, n in top)
    head = (
        "No value passed the quality gate: nothing here should be used."
        if not result.any_ok
        else f"{len(bad)} of {len(result.rows)} values were flagged or rejected; summaries "
        "(means) use ok values only."
    )
    return f"<div class='banner'><b>{html.escape(head)}</b><ul>{items}</ul></div>"


def report_html(
    result: MeasureResult,
    *,
    title: str = "echomark measurements",
    labels: Mapping[str, ImageLabels] | None = None,
    images: Any = None,
    extra_html: str = "",
) -> str:
    """The self-contained HTML report.

    Args:
        result: What was measured.
        title: Page title.
        labels: Image key → labels, for overlays.
        images: A ``FrameStore`` (png-cache) for overlays; None draws none.
        extra_html: HTML inserted after the summary (e.g. agreement tables).

    Returns:
        The HTML text.
    """
    by_video: dict[str, list[MeasurementRow]] = {}
    for r in result.rows:
        by_video.setdefault(r.video, []).append(r)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1100px}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;"
        "padding:2px 6px;font-size:12px;text-align:right}img{max-width:100%;margin:4px}"
        ".prob{color:#a00}.banner{background:#fff3cd;border:2px solid #d39e00;padding:.5em 1em;"
        "margin:1em 0}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(by_video)} videos, {len(result.rows)} measurements, "
        f"{len(result.problems)} problems. Lengths in mm, areas in cm², volumes in mL.</p>",
        f"<p>Quality-gate thresholds: {html.escape(result.qc_source or 'echomark defaults')}.</p>",
    ]
    parts.append(quality_banner(result))
    if result.problems:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in result.problems[:200])
        parts.append(f"<h2>Problems</h2><ul class='prob'>{items}</ul>")
    if result.notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes[:200])
        parts.append(
            f"<details><summary>{len(result.notes)} videos without LV measurements</summary>"
            f"<ul>{items}</ul></details>"
        )
    parts.append(extra_html)
    for n, (video, rows) in enumerate(sorted(by_video.items())):
        if n >= MAX_REPORT_VIDEOS:
            parts.append(f"<p>… {len(by_video) - n} more videos in measurements.csv</p>")
            break
        view = rows[0].view
        parts.append(f"<h2>{html.escape(video)} ({html.escape(view)})</h2>")
        summary = _table(rows, (RowKind.MEAN, RowKind.BEAT, RowKind.STUDY))
        vs = result.series.get(video)
        why = "; ".join(vs.phases.refused) if vs is not None and vs.phases is not None else ""
        parts.append(summary or f"<p>No beat: {html.escape(why or 'no LV size series')}.</p>")
        png = series_png(vs) if vs is not None else None
        if png is not None:
            parts.append(img_tag(png, f"series {video}"))
        if images is not None and labels is not None:
            for key in _overlay_keys(result, video, rows):
                if key in images and key in labels:
                    frame_vals = ", ".join(
                        f"{r.measurement.value} {_fmt(r.value)} {r.unit}"
                        for r in rows
                        if r.image == key and math.isfinite(r.value)
                    )
                    parts.append(
                        img_tag(
                            overlay_png(images.read(key), labels[key], view, frame_vals),
                            f"overlay {key}",
                        )
                    )
        frames_table = _table(rows, (RowKind.FRAME,))
        if frames_table:
            parts.append(f"<details><summary>per-frame values</summary>{frames_table}</details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_outputs(
    result: MeasureResult,
    out_dir: str | os.PathLike[str],
    *,
    labels: Mapping[str, ImageLabels] | None = None,
    images: Any = None,
    title: str = "echomark measurements",
    extra_json: Mapping[str, Any] | None = None,
    extra_html: str = "",
) -> dict[str, Path]:
    """Write ``measurements.csv``, ``measurements.json`` and ``report.html`` atomically.

    Returns:
        ``{"csv": path, "json": path, "html": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": out / "measurements.csv",
        "json": out / "measurements.json",
        "html": out / "report.html",
    }
    atomic_write_text(paths["csv"], rows_to_csv(result.rows))
    payload = result_to_json(result)
    if extra_json:
        payload.update(extra_json)
    atomic_write_text(paths["json"], json.dumps(payload, indent=1, allow_nan=False) + "\n")
    atomic_write_text(
        paths["html"],
        report_html(result, title=title, labels=labels, images=images, extra_html=extra_html),
    )
    return paths
