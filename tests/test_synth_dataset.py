"""Synthetic dataset writer and ``echomark synth``: release layout, splits, determinism."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from echomark.cache.keys import ImageKey
from echomark.cache.physical import read_physical_csv
from echomark.cache.png import decode_png
from echomark.cli.main import main
from echomark.errors import InputError
from echomark.labels.io import read_labels
from echomark.labels.registry import View
from echomark.labels.schema import LabelState
from echomark.labels.vocabulary import Measurement
from echomark.synth.cine import channel_names
from echomark.synth.dataset import TRUTH_COLUMNS, DatasetConfig, video_hex, write_dataset

MEMBER_RE = re.compile(
    r"^png-cache/(0[12])/([0-9a-f]{2})/([0-9a-f]{2})/\1-([0-9a-f]{64})-\d{4}\.png$"
)
KW = {
    "n_videos": 6,
    "n_external": 2,
    "frames_per_video": 5,
    "labelled_per_video": 3,
    "size": (160, 208),
    "blur_fraction": 0.5,
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    write_dataset(out, DatasetConfig(seed=3, **KW))
    return out


def _labels(ds: Path, name: str) -> dict:
    with zipfile.ZipFile(ds / "labels.zip") as zf:
        return json.loads(zf.read(f"labels-{name}.json"))


def _txt(ds: Path, name: str) -> list[str]:
    with zipfile.ZipFile(ds / "labels.zip") as zf:
        return zf.read(f"labels-{name}.txt").decode().split()


def test_writes_exactly_the_release_files(dataset: Path) -> None:
    assert sorted(p.name for p in dataset.iterdir()) == [
        "01_database_physical.csv",
        "02_database_physical.csv",
        "labels.zip",
        "png-cache.zip",
        "truth.csv",
        "view_index.csv",
    ]
    with zipfile.ZipFile(dataset / "labels.zip") as zf:
        assert sorted(zf.namelist()) == sorted(
            f"labels-{s}.{e}"
            for s in ("all", "train", "tune", "ival", "external")
            for e in ("json", "txt")
        )


def test_png_cache_members_follow_the_layout(dataset: Path) -> None:
    with zipfile.ZipFile(dataset / "png-cache.zip") as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
        videos: dict[str, list[int]] = {}
        for name in names:
            m = MEMBER_RE.match(name)
            assert m, name
            assert m[4][:2] == m[2] and m[4][2:4] == m[3]
            key = ImageKey.parse(name)
            videos.setdefault(str(key.video), []).append(key.frame)
        img = decode_png(zf.read(names[0]))
    assert img.dtype == np.uint8 and img.shape == (160, 208)
    assert len(videos) == 8
    assert all(frames == list(range(5)) for frames in videos.values())
    assert sum(v.startswith("02-") for v in videos) == 2


def test_splits_are_by_video_and_all_is_their_union(dataset: Path) -> None:
    parts = {s: _labels(dataset, s) for s in ("train", "tune", "ival")}
    everything = _labels(dataset, "all")
    assert set(everything) == set().union(*map(set, parts.values()))
    assert sum(map(len, parts.values())) == len(everything) == 6 * 3
    vids = {s: {ImageKey.parse(k).video for k in d} for s, d in parts.items()}
    assert all(vids[s] for s in vids)
    assert not (
        vids["train"] & vids["tune"] or vids["train"] & vids["ival"] or vids["tune"] & vids["ival"]
    )
    for s in ("all", "train", "tune", "ival", "external"):
        assert _txt(dataset, s) == sorted(_labels(dataset, s))
    assert all(k.startswith("02-") for k in _labels(dataset, "external"))
    assert all(k.startswith("01-") for k in everything)
    with zipfile.ZipFile(dataset / "png-cache.zip") as zf:
        cached = {ImageKey.parse(n).name for n in zf.namelist()}
    assert set(everything) | set(_labels(dataset, "external")) <= cached


def test_labels_read_back_with_all_four_states(dataset: Path) -> None:
    lf = read_labels(_labels_bytes(dataset, "all"))
    assert not lf.problems
    states = {lab.state for labels in lf.images.values() for lab in labels.values()}
    assert states == set(LabelState)
    names = channel_names()
    assert all(sorted(labels) == sorted(names) for labels in lf.images.values())
    # labelled frames include ED and ES of every video
    truth = _truth(dataset)
    for row in truth:
        if row["measurement"] in ("ED_frame", "ES_frame") and row["video"].startswith("01-"):
            key = f"{row['video']}-{int(float(row['value'])):04d}.png"
            assert key in lf.images


def _labels_bytes(ds: Path, name: str) -> bytes:
    with zipfile.ZipFile(ds / "labels.zip") as zf:
        return zf.read(f"labels-{name}.json")


def _truth(ds: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((ds / "truth.csv").read_text())))


def test_calibration_view_index_and_truth(dataset: Path) -> None:
    dev = read_physical_csv(dataset / "01_database_physical.csv")
    ext = read_physical_csv(dataset / "02_database_physical.csv")
    assert len(dev) == 6 and len(ext) == 2
    assert all(
        0.01 < s.dx_cm_per_px < 0.2 and 0.97 < s.dx_cm_per_px / s.dy_cm_per_px < 1.03
        for s in (*dev.values(), *ext.values())
    )
    views = list(csv.DictReader(io.StringIO((dataset / "view_index.csv").read_text())))
    assert {r["FileHash"] for r in views} == set(dev) | set(ext)
    assert {r["view"] for r in views} == {"PLAX", "A4C"}
    rows = _truth(dataset)
    assert tuple(rows[0]) == TRUTH_COLUMNS
    names = {r["measurement"] for r in rows}
    # every name except the three video descriptions is a vocabulary measurement
    assert {
        "IVS", "LVID", "LVPW", "IVSd", "LVIDd", "LVPWd", "LVIDs", "FS", "heart_rate",
        "LV_length_A4C", "LV_area_A4C", "LVEDV_A4C_area_length", "LVESV_A4C_area_length",
        "EF_A4C_area_length", "LVEDV_A4C_disks", "LVESV_A4C_disks", "EF_A4C_disks",
        "LV_endocardial_length_A4C", "GLS_A4C_endocardial_contour",
        "ED_frame", "ES_frame", "frame_time",
    } <= names  # fmt: skip
    assert all(Measurement(n) for n in names - {"ED_frame", "ES_frame", "frame_time"})
    area = [r for r in rows if r["measurement"] == "LV_area_A4C"]
    assert area and all(r["unit"] == "cm2" and 5 < float(r["value"]) < 80 for r in area)
    plax = [r for r in rows if r["view"] == "PLAX" and r["measurement"] == "LVID"]
    assert len(plax) == 4 * 5 and all(r["unit"] == "mm" for r in plax)


def test_truth_matches_written_labels_within_0_2_mm(dataset: Path) -> None:
    lf = read_labels(_labels_bytes(dataset, "all"))
    spacing = read_physical_csv(dataset / "01_database_physical.csv")
    truth = {(r["image"], r["measurement"]): float(r["value"]) for r in _truth(dataset)}
    checked = 0
    for key, labels in lf.images.items():
        s = spacing[str(ImageKey.parse(key).video)]
        pts = {
            n: labels[n].xy[0]
            for n in ("lv-ivs-top", "lv-ivs-bottom", "lv-pw-top", "lv-pw-bottom")
            if labels[n].state.drawn
        }
        if len(pts) < 4:
            continue

        def mm(a: str, b: str, s=s, pts=pts) -> float:
            d = pts[a] - pts[b]
            return 10 * float(np.hypot(d[0] * s.dx_cm_per_px, d[1] * s.dy_cm_per_px))

        assert abs(mm("lv-ivs-top", "lv-ivs-bottom") - truth[(key, "IVS")]) < 0.2
        assert abs(mm("lv-ivs-bottom", "lv-pw-top") - truth[(key, "LVID")]) < 0.2
        assert abs(mm("lv-pw-top", "lv-pw-bottom") - truth[(key, "LVPW")]) < 0.2
        checked += 1
    assert checked >= 5


def test_same_seed_gives_identical_bytes(dataset: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    write_dataset(again, DatasetConfig(seed=3, **KW))
    for p in dataset.iterdir():
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name
    other = tmp_path / "other"
    write_dataset(other, DatasetConfig(seed=4, **{**KW, "n_videos": 1, "n_external": 0}))
    assert video_hex(4, "01", 0) != video_hex(3, "01", 0)
    assert (other / "png-cache.zip").read_bytes() != (dataset / "png-cache.zip").read_bytes()


def test_workers_write_the_same_bytes_as_one_process(dataset: Path, tmp_path: Path) -> None:
    # videos finish out of order in a pool (2 workers, 8 videos, ahead 8); the zip must not
    progress: list[str] = []
    pooled = tmp_path / "pooled"
    write_dataset(pooled, DatasetConfig(seed=3, **KW), workers=2, progress=progress.append)
    for p in dataset.iterdir():
        assert (pooled / p.name).read_bytes() == p.read_bytes(), p.name
    assert len(progress) == KW["n_videos"] + KW["n_external"]
    with pytest.raises(InputError, match="workers must be >= 1, got 0"):
        write_dataset(tmp_path / "none", DatasetConfig(seed=3, **KW), workers=0)


def test_bad_counts_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least one video"):
        DatasetConfig(n_videos=0, n_external=0)
    with pytest.raises(InputError, match=r"1\.\.9999"):
        DatasetConfig(frames_per_video=0)
    with pytest.raises(InputError, match=r"1\.\.30 \(the frames per video\), got 0"):
        DatasetConfig(labelled_per_video=0)
    with pytest.raises(InputError, match=r"1\.\.30 \(the frames per video\), got 50"):
        DatasetConfig(frames_per_video=30, labelled_per_video=50)
    with pytest.raises(InputError, match="blur fraction"):
        DatasetConfig(blur_fraction=1.5)
    assert not tmp_path.joinpath("png-cache.zip").exists()


def test_cli_writes_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = main(
        [
            "synth",
            "--out",
            str(out),
            "--videos",
            "2",
            "--external",
            "1",
            "--frames",
            "3",
            "--labelled",
            "2",
            "--size",
            "128x160",
            "--workers",
            "2",
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos"] == {"01": 2, "02": 1} and summary["frames"] == 9
    assert (out / "labels.zip").is_file() and (out / "png-cache.zip").is_file()
    assert main(["synth", "--out", str(out), "--videos", "0", "--external", "0"]) == 2
    assert "need at least one video" in capsys.readouterr().err
    assert main(["synth", "--out", str(out), "--workers", "0"]) == 2
    assert "--workers must be >= 1, got 0" in capsys.readouterr().err


def test_half_the_development_videos_are_plax(dataset: Path) -> None:
    views = list(csv.DictReader(io.StringIO((dataset / "view_index.csv").read_text())))
    dev = [r["view"] for r in views if r["FileHash"].startswith("01-")]
    assert dev.count(View.PLAX.value) == dev.count(View.A4C.value) == 3
