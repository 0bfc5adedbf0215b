"""``echomark synth``: write a synthetic echo dataset in the release layout."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from echomark.errors import InputError
from echomark.synth.config import VIEW_NAMES, DatasetConfig, Look

COMMAND = "synth"


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"size must be HEIGHTxWIDTH, e.g. 480x640, got {text!r}")
    return int(m[1]), int(m[2])


def _views(text: str) -> tuple[str, ...]:
    views = tuple(v.strip().upper() for v in text.split(",") if v.strip())
    bad = [v for v in views if v not in VIEW_NAMES]
    if bad or not views:
        raise argparse.ArgumentTypeError(
            f"views must be a comma list of {', '.join(VIEW_NAMES)}, got {text!r}"
        )
    return views


def add_parser(subparsers: Any) -> None:
    """Register ``echomark synth``."""
    p = subparsers.add_parser(
        COMMAND,
        help="write a synthetic PLAX/A4C/A2C/A3C dataset with exact labels and truth",
        description="Generate seeded synthetic echo cines (PLAX, A4C, A2C, A3C) and write "
        "them in the 2020 release layout: png-cache.zip, labels.zip (all/train/tune/ival + "
        "external), 01/02_database_physical.csv, view_index.csv and truth.csv; with "
        "--biplane also studies.csv (A4C + A2C video of one 3-D heart per study).",
    )
    p.add_argument("--out", required=True, help="output folder (created)")
    d = DatasetConfig()
    p.add_argument(
        "--videos", type=int, default=d.n_videos, help="class-01 videos (default %(default)s)"
    )
    p.add_argument(
        "--external", type=int, default=d.n_external, help="class-02 videos (default %(default)s)"
    )
    p.add_argument(
        "--frames",
        type=int,
        default=d.frames_per_video,
        help="frames per video (default %(default)s)",
    )
    p.add_argument(
        "--labelled",
        type=int,
        default=d.labelled_per_video,
        help="labelled frames per video, ED and ES included (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="master seed (default %(default)s)")
    p.add_argument(
        "--size",
        type=_size,
        default=None,
        help="fixed HEIGHTxWIDTH for every video (default: varies, 480-640 rows)",
    )
    p.add_argument(
        "--blur-fraction",
        type=float,
        default=d.blur_fraction,
        help="share of labelled frames with one label blurred (default %(default)s)",
    )
    p.add_argument(
        "--views",
        type=_views,
        default=d.views,
        help=f"comma list of views cycled through, from {','.join(VIEW_NAMES)} "
        f"(default {','.join(d.views)})",
    )
    p.add_argument(
        "--biplane",
        action="store_true",
        help="pair every A4C video with an A2C video of the same heart (biplane study; "
        "adds studies.csv and exact 3-D LV volumes to truth.csv)",
    )
    p.add_argument(
        "--look",
        choices=[x.value for x in Look],
        default=d.look,
        help="image formation: classic (fast, the demo's) or bmode (beams, point-spread, "
        "drop-out, clutter, burnt-in text/ECG); labels are the same (default %(default)s)",
    )
    p.add_argument(
        "--varied",
        action="store_true",
        help="wide anatomy and scan ranges: dilated, hypertrophied, small and foreshortened "
        "LVs, heart rate 45-140 bpm, depth 11-21 cm, sector 60-92 deg",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes rendering videos side by side; the files are the same for any N "
        "(default 1)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the dataset and print a summary."""
    if args.size is not None and (min(args.size) < 64 or max(args.size) > 4096):
        raise InputError(f"size {args.size[0]}x{args.size[1]} outside 64..4096", field="--size")
    if args.workers < 1:
        raise InputError(f"--workers must be >= 1, got {args.workers}", field="--workers")
    start = time.perf_counter()
    quiet = args.quiet or args.json
    config = DatasetConfig(
        n_videos=args.videos,
        n_external=args.external,
        frames_per_video=args.frames,
        labelled_per_video=args.labelled,
        seed=args.seed,
        size=args.size,
        blur_fraction=args.blur_fraction,
        views=args.views,
        biplane=args.biplane,
        look=args.look,
        varied=args.varied,
    )
    from echomark.fileio import folder_lock
    from echomark.synth.dataset import write_dataset

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise InputError("--out names an existing file; give a folder", file=args.out)
    with folder_lock(args.out):  # two generators into one folder would mix their files
        summary = write_dataset(
            args.out,
            config,
            progress=None if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True)),
            workers=args.workers,
        )
    seconds = time.perf_counter() - start
    if args.json:
        print(
            json.dumps(
                {
                    "out": str(summary.out_dir),
                    "videos": summary.videos,
                    "views": summary.views,
                    "frames": summary.frames,
                    "labelled": summary.labelled,
                    "studies": summary.studies,
                    "files": summary.files,
                    "seconds": round(seconds, 2),
                },
                indent=1,
                sort_keys=True,
            )
        )
        return 0
    n_dev, n_ext = summary.videos.get("01", 0), summary.videos.get("02", 0)
    lab = summary.labelled
    print(
        f"{n_dev} development + {n_ext} external videos, {summary.frames} frames "
        f"({', '.join(f'{k} {v}' for k, v in sorted(summary.views.items()))}) in {seconds:.1f} s"
    )
    print(
        f"labelled images: all {lab.get('all', 0)} = train {lab.get('train', 0)} + tune "
        f"{lab.get('tune', 0)} + ival {lab.get('ival', 0)}; external {lab.get('external', 0)}"
    )
    if summary.studies:
        print(f"biplane studies: {summary.studies} (A4C + A2C pairs in studies.csv)")
    print(f"wrote {', '.join(summary.files)} to {summary.out_dir}")
    return 0
