"""Per-cine outputs: an overlay video, a per-frame CSV and a series plot with ED/ES marked.

For every measured cine whose frames are at hand (a DICOM or video input, or a png-cache):
``<video>/overlay.mp4`` (landmarks and contour drawn on every frame, the frame's values and
quality status written on it, ED/ES frames named; a GIF when this OpenCV cannot write MP4),
``<video>/frames.csv`` (one row per frame: every per-frame value, the frame's status and
reasons, ED/ES) and ``<video>/series.png``. OpenCV is imported only when a video is written.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from echomark.fileio import atomic_write_text
from echomark.geometry.curves import sample_curve
from echomark.labels.schema import ImageLabels, LabelState
from echomark.measure.a4c import LV_APEX, LV_ENDO, MV_HINGES
from echomark.measure.pipeline import PLAX_VIEW, MeasurementRow, MeasureResult, RowKind
from echomark.measure.plax import PLAX_POINTS
from echomark.measure.qc import Status
from echomark.measure.report import series_png

UInt8Array = npt.NDArray[np.uint8]

#: BGR colours of the overlay.
_COLOURS = {
    "line": (255, 210, 0),
    "point": (0, 212, 255),
    "contour": (75, 135, 255),
    Status.OK: (80, 200, 80),
    Status.FLAGGED: (0, 176, 255),
    Status.REJECTED: (60, 60, 220),
}


def _cv2() -> Any:
    import cv2

    return cv2


def _point(labels: ImageLabels, name: str) -> npt.NDArray[np.float64] | None:
    lab = labels.get(name)
    if lab is None or lab.state is not LabelState.POINT or not lab.instances:
        return None
    return np.asarray(lab.instances[0].xy[0], dtype=np.float64)


def draw_overlay(
    image: UInt8Array, labels: ImageLabels | None, view: str, lines: list[str], status: Status
) -> UInt8Array:
    """One frame (BGR) with its landmarks, its values and a border in its status colour."""
    cv2 = _cv2()
    bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[..., ::-1].copy()
    h, w = bgr.shape[:2]

    def ipt(p: npt.NDArray[np.float64]) -> tuple[int, int]:
        return round(float(p[0])), round(float(p[1]))

    if labels is not None:
        if view == PLAX_VIEW:
            pts = [_point(labels, n) for n in PLAX_POINTS]
            for a, b in itertools.pairwise(pts):
                if a is not None and b is not None:
                    cv2.line(bgr, ipt(a), ipt(b), _COLOURS["line"], 1, cv2.LINE_AA)
        else:
            endo = labels.get(LV_ENDO)
            if endo is not None and endo.state is LabelState.CURVE and endo.instances:
                inst = endo.instances[0]
                dense = sample_curve(inst.xy, inst.straight, 1.0)
                poly = np.round(dense).astype(np.int32).reshape(-1, 1, 2)
                cv2.polylines(bgr, [poly], True, _COLOURS["contour"], 1, cv2.LINE_AA)
        names = PLAX_POINTS if view == PLAX_VIEW else (*LV_APEX, *(n for p in MV_HINGES for n in p))
        for n in names:
            p = _point(labels, n)
            if p is not None:
                cv2.circle(bgr, ipt(p), 2, _COLOURS["point"], -1, cv2.LINE_AA)
    cv2.rectangle(bgr, (0, 0), (w - 1, h - 1), _COLOURS[status], 2)
    scale = max(0.3, min(w, h) / 700.0)
    for i, text in enumerate(lines):
        y = int(6 + 24 * scale * (i + 1))
        cv2.putText(bgr, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(bgr, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                    cv2.LINE_AA)  # fmt: skip
    return np.asarray(bgr, dtype=np.uint8)


def write_video(frames: list[UInt8Array], path: Path, fps: float) -> Path:
    """Write BGR frames as an MP4 (mp4v), or as a GIF when OpenCV cannot write MP4.

    Written beside the destination and renamed over it (OpenCV picks the container from the
    file ending, so the temporary file keeps it).

    Returns:
        The path written (``.mp4`` or ``.gif``).
    """
    cv2 = _cv2()
    h, w = frames[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; the video is an ordinary output
    try:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if writer.isOpened():
            for f in frames:
                writer.write(f)
            writer.release()
            if tmp.stat().st_size > 0:
                os.replace(tmp, path)
                return path
        else:
            writer.release()
    finally:
        if tmp.exists():
            tmp.unlink()
    return _write_gif(frames, path.with_suffix(".gif"), fps)


def _write_gif(frames: list[UInt8Array], path: Path, fps: float) -> Path:
    from PIL import Image

    from echomark.fileio import atomic_path

    images = [Image.fromarray(np.ascontiguousarray(f[..., ::-1])) for f in frames]
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        images[0].save(fh, format="GIF", save_all=True, append_images=images[1:],
                       duration=max(20, round(1000.0 / fps)), loop=0)  # fmt: skip
    return path


def frames_csv(result: MeasureResult, video: str) -> str:
    """Wide per-frame CSV of one video: frame, time, phase, every per-frame value, status."""
    vs = result.series[video]
    rows = [r for r in result.rows if r.video == video and r.kind is RowKind.FRAME]
    names = list(dict.fromkeys(r.measurement for r in rows))
    by_frame: dict[int, list[MeasurementRow]] = {}
    for r in rows:
        if r.frame is not None:
            by_frame.setdefault(r.frame, []).append(r)
    phase: dict[int, str] = {}
    if vs.phases is not None:
        phase.update(dict.fromkeys(vs.phases.es, "ES"))
        phase.update(dict.fromkeys(vs.phases.ed, "ED"))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", "time_s", "phase", *(n.value for n in names), "status", "reasons"])
    for f in sorted(by_frame):
        vals = {r.measurement: r for r in by_frame[f]}
        reasons = dict.fromkeys(x for r in by_frame[f] for x in r.reasons if math.isfinite(r.value))
        t = "" if vs.frame_time_s is None else f"{f * vs.frame_time_s:.4f}"
        w.writerow([
            f, t, phase.get(f, ""),
            *("" if n not in vals or not math.isfinite(vals[n].value) else
              repr(round(vals[n].value, 6)) for n in names),
            vs.frame_status.get(f, Status.OK).value, "; ".join(reasons),
        ])  # fmt: skip
    return buf.getvalue()


def _frame_lines(rows: list[MeasurementRow], phase: str) -> list[str]:
    lines = [f"{phase}" if phase else ""]
    for r in rows:
        if math.isfinite(r.value):
            lines.append(f"{r.measurement.value} {r.value:.1f} {r.unit}")
    return [x for x in lines if x][:7]


def write_cine_outputs(
    result: MeasureResult,
    video: str,
    frames: Mapping[int, UInt8Array],
    labels: Mapping[str, ImageLabels],
    out_dir: str | os.PathLike[str],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """Write a cine's overlay video, per-frame CSV and series plot under ``out_dir/<video>``.

    Args:
        result: The measurements (the video must have been measured).
        video: Video code.
        frames: Frame number -> uint8 frame (grey or RGB).
        labels: Image key -> labels (for the overlay).
        out_dir: The measurement output folder.
        progress: Called with (frames drawn, total).

    Returns:
        ``{"overlay": mp4 or gif, "frames_csv": ..., "series": png}`` (series absent when
        the video has no series).
    """
    vs = result.series[video]
    folder = Path(out_dir) / video
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    atomic_write_text(folder / "frames.csv", frames_csv(result, video))
    out["frames_csv"] = folder / "frames.csv"
    png = series_png(vs)
    if png is not None:
        from echomark.fileio import atomic_path

        with atomic_path(folder / "series.png") as tmp:
            tmp.write_bytes(png)
        out["series"] = folder / "series.png"
    by_frame: dict[int, list[MeasurementRow]] = {}
    keys: dict[int, str] = {}
    for r in result.rows:
        if r.video == video and r.kind is RowKind.FRAME and r.frame is not None:
            by_frame.setdefault(r.frame, []).append(r)
            keys[r.frame] = r.image
    phase: dict[int, str] = {}
    if vs.phases is not None:
        phase.update(dict.fromkeys(vs.phases.es, "ES"))
        phase.update(dict.fromkeys(vs.phases.ed, "ED"))
    drawn = []
    order = sorted(frames)
    for n, f in enumerate(order):
        key = keys.get(f, "")
        lab = labels.get(key)
        status = vs.frame_status.get(f, Status.OK)
        drawn.append(
            draw_overlay(
                frames[f], lab, vs.view, _frame_lines(by_frame.get(f, []), phase.get(f, "")), status
            )
        )
        if progress is not None:
            progress(n + 1, len(order))
    fps = 1.0 / vs.frame_time_s if vs.frame_time_s else 25.0
    if drawn:
        out["overlay"] = write_video(drawn, folder / "overlay.mp4", fps)
    return out
