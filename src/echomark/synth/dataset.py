"""Write a whole synthetic dataset in exactly the 2020-12-05 release layout.

``write_dataset(out_dir, DatasetConfig(...))`` produces::

    out_dir/png-cache.zip            png-cache/<class>/<h0h1>/<h2h3>/<class>-<64hex>-NNNN.png
    out_dir/labels.zip               labels-{all,train,tune,ival}.json/.txt (class 01),
                                     labels-external.json/.txt (class 02)
    out_dir/01_database_physical.csv FileHash, PhysicalDeltaX, PhysicalDeltaY (cm per pixel)
    out_dir/02_database_physical.csv
    out_dir/view_index.csv           FileHash, view
    out_dir/truth.csv                image, video, view, frame, measurement, value, unit
    out_dir/studies.csv              study, A4C, A2C (only with ``biplane``: the video codes
                                     of each biplane study)

Every frame of every video is in the png-cache; only ``labelled_per_video`` frames per video
(always including end-diastole and end-systole) have labels. Splits are by video. The same
arguments give byte-identical files.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import csv
import functools
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from echomark.cache.keys import VideoCode
from echomark.cache.physical import write_physical_csv
from echomark.cache.png import encode_png
from echomark.cache.writer import add_member, write_zip
from echomark.calibration import Calibration
from echomark.errors import InputError
from echomark.fileio import atomic_path, atomic_write_text
from echomark.labels.io import dumps_labels
from echomark.labels.registry import View
from echomark.labels.schema import ImageLabels, LabelFile, LabelFormat
from echomark.labels.splits import split_file_name
from echomark.labels.vocabulary import VOLUME_VIEWS, Measurement, Phase, apical, sampled_at
from echomark.labels.vocabulary import spec as vocabulary_spec
from echomark.pools import process_pool
from echomark.synth.cine import (
    SynthCine,
    blur_one,
    draw_study,
    frame_labels,
    make_cine,
    render_cine,
    study_truth,
)
from echomark.synth.config import DatasetConfig
from echomark.synth.phantom import A4cState

#: Development splits written for class 01 (``all`` = their union).
SPLITS = ("train", "tune", "ival")

_T = TypeVar("_T")

#: Columns of truth.csv.
TRUTH_COLUMNS = ("image", "video", "view", "frame", "measurement", "value", "unit")

#: Columns of studies.csv (one row per biplane study: its id and the two video codes).
STUDY_COLUMNS = ("study", "A4C", "A2C")


@dataclass
class DatasetSummary:
    """What was written (for the CLI and tests)."""

    out_dir: Path
    videos: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    labelled: dict[str, int] = field(default_factory=dict)
    views: dict[str, int] = field(default_factory=dict)
    studies: int = 0
    files: list[str] = field(default_factory=list)


def video_hex(seed: int, dataset_class: str, index: int, partner: str = "") -> str:
    """The 64-hex code of a synthetic video: sha256 of its seed, class and index.

    ``partner`` names the second view of a biplane study (``"A2C"``), which shares the
    A4C video's index.

    >>> len(video_hex(0, "01", 3)), video_hex(0, "01", 3) == video_hex(0, "01", 3, "A2C")
    (64, False)
    """
    text = f"echomark-synth/v1/seed={seed}/class={dataset_class}/video={index}"
    if partner:
        text += f"/{partner}"
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def study_id(dataset_class: str, index: int) -> str:
    """The id of a biplane study in ``studies.csv``: class and A4C video index.

    >>> study_id("01", 7)
    'study-01-0007'
    """
    return f"study-{dataset_class}-{index:04d}"


@dataclass(frozen=True)
class _Job:
    """One video to write: its code, class, index, label stream and cine maker.

    ``stream`` separates the label-sampling generators of a study's two videos (1 = A4C or
    a plain video, 2 = the A2C partner); ``study`` is the study truth, or None.
    """

    code: VideoCode
    dataset_class: str
    index: int
    stream: int
    make: Callable[[], SynthCine]
    study: dict[str, tuple[float, str]] | None


@dataclass(frozen=True)
class _Rendered:
    """One video made ready for the files: PNG members, labels, spacing, view and truth."""

    pngs: list[tuple[str, bytes]]
    labels: dict[str, ImageLabels]
    spacing: Calibration
    view: str
    truth_rows: list[list[str]]


def _render_job(
    job: _Job, *, labelled_per_video: int, blur_fraction: float, seed: int
) -> _Rendered:
    """Render one video and everything written about it (a pure function of its job)."""
    code = job.code
    cine = job.make()
    label_rng = np.random.default_rng([seed, int(job.dataset_class), job.index, job.stream])
    chosen = _pick_labelled(cine, labelled_per_video, label_rng)
    labelled = frame_labels(cine.spec, chosen)
    labels: dict[str, ImageLabels] = {}
    for f in chosen:
        frame = dict(labelled[f])
        if label_rng.random() < blur_fraction:
            blur_one(frame, cine.view, label_rng)
        labels[code.frame(f).name] = frame
    pngs = [
        (code.frame(f).relpath, encode_png(cine.frames[f])) for f in range(cine.frames.shape[0])
    ]
    dx, dy = cine.spacing_cm_per_px
    return _Rendered(
        pngs=pngs,
        labels=labels,
        spacing=Calibration.from_cm_per_px(dx, dy),
        view=cine.view.value,
        truth_rows=_truth_rows(cine, code, job.study),
    )


def _init_worker() -> None:
    import cv2

    # each worker renders one video at a time; OpenCV's own threads would fight the others
    cv2.setNumThreads(1)


def _executor(workers: int) -> cf.Executor:
    """Inline for one worker, else a forkserver pool with this module preloaded."""
    return process_pool(workers, preload=["echomark.synth.dataset"], initializer=_init_worker)


def _ordered_map(
    pool: cf.Executor, fn: Callable[[_Job], _T], items: list[_Job], *, ahead: int
) -> Iterator[_T]:
    """``fn`` over ``items`` in order, at most ``ahead`` submitted and not yet taken."""
    pending: collections.deque[cf.Future[_T]] = collections.deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= max(1, ahead):
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _video_rng(seed: int, dataset_class: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, int(dataset_class), index])


def _pick_labelled(cine: SynthCine, n: int, rng: np.random.Generator) -> list[int]:
    """ED, ES and n-2 more distinct frames, sorted (just ED when n is 1)."""
    total = cine.frames.shape[0]
    chosen = {cine.ed_frame} if n == 1 else {cine.ed_frame, cine.es_frame}
    rest = [i for i in range(total) if i not in chosen]
    extra = max(0, min(n, total) - len(chosen))
    chosen.update(int(i) for i in rng.choice(rest, size=extra, replace=False))
    return sorted(chosen)


def _assign_splits(n: int, fractions: tuple[float, float, float]) -> list[str]:
    """Split video indices 0..n-1: the last ones go to ival, those before to tune.

    Views alternate by index, so each split gets both views once it has two videos; with
    three or more videos every split gets at least one.
    """
    n_tune = max(1, round(fractions[1] * n)) if n >= 3 else 0
    n_ival = max(1, round(fractions[2] * n)) if n >= 3 else 0
    n_train = n - n_tune - n_ival
    return ["train"] * n_train + ["tune"] * n_tune + ["ival"] * n_ival


def _fmt(value: float) -> str:
    return f"{value:.6f}"


#: Phantom truth key -> (apical vocabulary name template, factor to the vocabulary unit).
_APICAL_TRUTH = {
    "LV_length": ("LV_length_{v}", 1.0),
    "LV_area": ("LV_area_{v}", 0.01),  # mm² -> cm²
    "LV_volume_al": ("LV_volume_{v}_area_length", 1.0),
    "LV_volume_mod": ("LV_volume_{v}_disks", 1.0),
}

#: truth.csv names that are not vocabulary measurements: descriptions of the video and the
#: exact 3-D cavity volume, which no echomark method measures (compare biplane with it).
TRUTH_DESCRIPTIONS = frozenset(
    {"ED_frame", "ES_frame", "frame_time", "LV_volume_true", "EDV_true", "ESV_true", "EF_true"}
)

#: Study truth key (``study_truth``) -> vocabulary name.
_STUDY_TRUTH = {
    "EDV_biplane": Measurement.LVEDV_biplane_disks,
    "ESV_biplane": Measurement.LVESV_biplane_disks,
    "EF_biplane": Measurement.EF_biplane,
}


def _frame_truth(cine: SynthCine, f: int) -> tuple[dict[Measurement, float], float | None]:
    """One frame's truth under vocabulary names and units, and its true 3-D volume (mL).

    A3C has no vocabulary measurements (no ASE volume method uses it): only its 3-D volume.
    """
    meas = cine.truth[f]
    true_volume = meas["LV_volume_true"][0] if "LV_volume_true" in meas else None
    if cine.view is View.PLAX:
        return {Measurement(n): v for n, (v, _unit) in meas.items()}, None
    if cine.view not in VOLUME_VIEWS:
        return {}, true_volume
    out = {
        apical(_APICAL_TRUTH[n][0], cine.view): v * _APICAL_TRUTH[n][1]
        for n, (v, _unit) in meas.items()
        if n in _APICAL_TRUTH
    }
    state = cine.spec.state(f)
    assert isinstance(state, A4cState)
    endo = state.curves(2000)["curve-lv-endo"]  # heart frame, cm
    out[apical("LV_endocardial_length_{v}", cine.view)] = 10.0 * float(
        np.sum(np.hypot(*np.diff(endo, axis=0).T))
    )
    return out, true_volume


def _truth_rows(
    cine: SynthCine, code: VideoCode, study: dict[str, tuple[float, str]] | None = None
) -> list[list[str]]:
    """Long-form truth rows of one video under vocabulary names (per frame, ED/ES, per beat).

    The names in :data:`TRUTH_DESCRIPTIONS` describe the video or give the exact 3-D volume;
    every other name is a vocabulary measurement. ``study`` adds the biplane study's values
    as per-video rows, identical in both videos of the study.
    """
    view = cine.view.value
    rows: list[list[str]] = []
    ed, es = cine.ed_frame, cine.es_frame
    truth = [_frame_truth(cine, f) for f in range(len(cine.truth))]
    frames = [t[0] for t in truth]
    cycle = {True: sampled_at(Phase.ED), False: sampled_at(Phase.ES)}
    for f, (meas, true_volume) in enumerate(truth):
        key = code.frame(f).name
        for name, value in meas.items():
            names = [name]
            if f in (ed, es) and name in cycle[f == ed]:
                names.append(cycle[f == ed][name])
            rows.extend(
                [key, str(code), view, str(f), n.value, _fmt(value), vocabulary_spec(n).unit]
                for n in names
            )
        if true_volume is not None:
            labels = ["LV_volume_true"] + (
                ["EDV_true" if f == ed else "ESV_true"] if f in (ed, es) else []
            )
            rows.extend([key, str(code), view, str(f), n, _fmt(true_volume), "mL"] for n in labels)
    spec = cine.spec
    video_rows: list[tuple[str, float, str]] = [
        ("ED_frame", float(ed), "index"),
        ("ES_frame", float(es), "index"),
        ("frame_time", spec.frame_time_ms, "ms"),
        (Measurement.heart_rate.value, spec.heart_rate_bpm, "/min"),
    ]

    def change(d: float, s: float) -> float:
        return 100.0 * (d - s) / d

    if cine.view is View.PLAX:
        lvid = Measurement.LVID
        video_rows.append((Measurement.FS.value, change(frames[ed][lvid], frames[es][lvid]), "%"))
    elif cine.view in VOLUME_VIEWS:
        v = cine.view
        for series, derived in (
            ("LV_volume_{v}_disks", "EF_{v}_disks"),
            ("LV_volume_{v}_area_length", "EF_{v}_area_length"),
        ):
            m = apical(series, v)
            video_rows.append((apical(derived, v).value, change(frames[ed][m], frames[es][m]), "%"))
        endo = apical("LV_endocardial_length_{v}", v)
        gls = -change(frames[ed][endo], frames[es][endo])
        video_rows.append((apical("GLS_{v}_endocardial_contour", v).value, gls, "%"))
    true_ed, true_es = truth[ed][1], truth[es][1]
    if true_ed is not None and true_es is not None:
        video_rows.append(("EF_true", change(true_ed, true_es), "%"))
    if study is not None:
        # EDV_true/ESV_true/EF_true are already rows (from the per-frame 3-D volume)
        video_rows.extend(
            (_STUDY_TRUTH[name].value, value, vocabulary_spec(_STUDY_TRUTH[name]).unit)
            for name, (value, _unit) in study.items()
            if name in _STUDY_TRUTH
        )
    for label, value, unit in video_rows:
        rows.append(["", str(code), view, "", label, _fmt(value), unit])
    return rows


def _csv_text(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _labels_text(images: dict[str, ImageLabels], source: str) -> str:
    lf = LabelFile(
        images=dict(sorted(images.items())), format=LabelFormat.V1, wrapped=True, source=source
    )
    return dumps_labels(lf, LabelFormat.V1)


def _list_text(keys: list[str]) -> str:
    return "".join(k + "\n" for k in sorted(keys))


def write_dataset(
    out_dir: str | Path,
    config: DatasetConfig | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
) -> DatasetSummary:
    """Generate and write a synthetic dataset in the release layout (see module docstring).

    Args:
        out_dir: Destination folder (created); existing files of the layout are replaced
            atomically, other files are left alone.
        config: What to make (``DatasetConfig()`` when None); the same config gives
            byte-identical output.
        progress: Called with a short message after each video.
        workers: Processes that render videos side by side (1: in this process). The files
            are the same for any number.

    Returns:
        A summary of what was written.
    """
    cfg = DatasetConfig() if config is None else config
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}", field="workers")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = DatasetSummary(out_dir=out)

    # one job per video (a biplane study gives two), made lazily in member-name order
    jobs: list[_Job] = []
    pairs: list[list[str]] = []
    for dataset_class, count in (("01", cfg.n_videos), ("02", cfg.n_external)):
        external = dataset_class == "02"
        for i in range(count):
            view = View(cfg.views[i % len(cfg.views)])
            rng = _video_rng(cfg.seed, dataset_class, i)
            code = VideoCode(dataset_class, video_hex(cfg.seed, dataset_class, i))
            if not (cfg.biplane and view is View.A4C):
                make = functools.partial(
                    make_cine,
                    view,
                    rng,
                    n_frames=cfg.frames_per_video,
                    size=cfg.size,
                    external=external,
                    label_frames=[],
                    look=cfg.look,
                    varied=cfg.varied,
                )
                jobs.append(_Job(code, dataset_class, i, 1, make, None))
                continue
            spec4, spec2, rng4, rng2 = draw_study(
                rng,
                n_frames=cfg.frames_per_video,
                size=cfg.size,
                external=external,
                varied=cfg.varied,
            )
            truth = study_truth(spec4, spec2)
            code2 = VideoCode(dataset_class, video_hex(cfg.seed, dataset_class, i, "A2C"))
            for stream, c, spec, r in ((1, code, spec4, rng4), (2, code2, spec2, rng2)):
                make = functools.partial(render_cine, spec, r, label_frames=[], look=cfg.look)
                jobs.append(_Job(c, dataset_class, i, stream, make, truth))
            pairs.append([study_id(dataset_class, i), str(code), str(code2)])
    split_of = dict(enumerate(_assign_splits(cfg.n_videos, cfg.split_fractions)))

    labels_by_split: dict[str, dict[str, ImageLabels]] = {s: {} for s in (*SPLITS, "external")}
    spacing: dict[str, dict[str, Calibration]] = {"01": {}, "02": {}}
    view_rows: list[list[str]] = []
    truth_rows: list[list[str]] = []

    # frames go straight into the zip, video by video in member-name order; workers render
    # ahead, the zip is written in job order, so the files do not depend on `workers`
    jobs.sort(key=lambda j: j.code.frame(0).relpath)
    render = functools.partial(
        _render_job,
        labelled_per_video=cfg.labelled_per_video,
        blur_fraction=cfg.blur_fraction,
        seed=cfg.seed,
    )
    zip_path = out / "png-cache.zip"
    with (
        atomic_path(zip_path) as tmp,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf,
        _executor(workers) as pool,
    ):
        for job, done in zip(
            jobs, _ordered_map(pool, render, jobs, ahead=4 * workers), strict=True
        ):
            split = "external" if job.dataset_class == "02" else split_of[job.index]
            labels_by_split[split].update(done.labels)
            for relpath, png in done.pngs:
                add_member(zf, f"png-cache/{relpath}", png)
            spacing[job.dataset_class][str(job.code)] = done.spacing
            view_rows.append([str(job.code), done.view])
            truth_rows.extend(done.truth_rows)
            summary.videos[job.dataset_class] = summary.videos.get(job.dataset_class, 0) + 1
            summary.frames += len(done.pngs)
            summary.views[done.view] = summary.views.get(done.view, 0) + 1
            if progress is not None:
                progress(
                    f"{job.code} {done.view} {split}: {len(done.pngs)} frames, "
                    f"{len(done.labels)} labelled"
                )
    summary.files.append(zip_path.name)

    # labels.zip: per split json + txt, all = union of the development splits
    all_dev: dict[str, ImageLabels] = {}
    for s in SPLITS:
        all_dev.update(labels_by_split[s])
    members: dict[str, str] = {}
    for name, images in (
        ("all", all_dev),
        *((s, labels_by_split[s]) for s in SPLITS),
        ("external", labels_by_split["external"]),
    ):
        json_name = split_file_name(name)
        members[json_name] = _labels_text(images, json_name)
        members[split_file_name(name, ".txt")] = _list_text(list(images))
        summary.labelled[name] = len(images)
    write_zip(
        out / "labels.zip",
        [(name, text.encode("utf-8")) for name, text in members.items()],
        compression=zipfile.ZIP_DEFLATED,
    )
    summary.files.append("labels.zip")

    for dataset_class in ("01", "02"):
        name = f"{dataset_class}_database_physical.csv"
        write_physical_csv(out / name, spacing[dataset_class])
        summary.files.append(name)
    atomic_write_text(out / "view_index.csv", _csv_text(["FileHash", "view"], sorted(view_rows)))
    summary.files.append("view_index.csv")
    truth_rows.sort(key=lambda r: (r[1], r[3] == "", int(r[3]) if r[3] else 0, r[4]))
    atomic_write_text(out / "truth.csv", _csv_text(TRUTH_COLUMNS, truth_rows))
    summary.files.append("truth.csv")
    if cfg.biplane:
        atomic_write_text(out / "studies.csv", _csv_text(STUDY_COLUMNS, sorted(pairs)))
        summary.files.append("studies.csv")
        summary.studies = len(pairs)
    return summary
