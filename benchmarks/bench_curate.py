"""Benchmark: curating the 120-frame SonoSite A4C cine (color3d_jpeg_baseline, 640x480).

Compares, in one run on the same machine:

* a naive baseline: pydicom ``pixel_array`` + Pillow ``Image.save`` with its default PNG
  settings, one process, no masking;
* ``echomark curate`` (decode pinned to Pillow, region mask, OCR once per video, PNG level 1)
  with 1 and 2 worker processes, timed end to end (planning, OCR, writing, manifest);

each variant runs as a fresh subprocess (interpreter start, imports and OCR model loading
included, as a user would see it), best of ``--repeat`` runs;
* PNG zlib levels 1, 3 and 6 on the curated (masked) frames: encode time and size.

The same two worker counts are also timed on the 20-file pydicom-data ultrasound set, where
parallelism over files pays (one short cine is dominated by the serial planning and OCR).
CPU seconds are reported for the single-process runs (pool workers are grandchildren whose
usage is not collected).

Usage: ``.venv/bin/python benchmarks/bench_curate.py [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

US_SET_NAMES = [
    "JPGLosslessP14SV1_1s_1f_8b",
    "OBXXXX1A",
    "OBXXXX1A_2frame",
    "OBXXXX1A_expb",
    "OBXXXX1A_expb_2frame",
    "OBXXXX1A_rle",
    "OBXXXX1A_rle_2frame",
    "US1_J2KI",
    "US1_J2KR",
    "US1_UNCI",
    "US1_UNCR",
    "color-pl",
    "color-px",
    "color3d_jpeg_baseline",
    "gdcm-US-ALOKA-16",
    "gdcm-US-ALOKA-16_big",
    "ExplVR_BigEnd",
    "examples_palette",
    "examples_rgb_color",
    "examples_ybr_color",
]
US_SET: list[str] = []


def naive(src: Path, out: Path) -> float:
    import pydicom
    from PIL import Image

    t0 = time.perf_counter()
    ds = pydicom.dcmread(src)
    frames = ds.pixel_array
    if ds.PhotometricInterpretation.startswith("YBR"):
        from pydicom.pixels import convert_color_space

        frames = convert_color_space(frames, ds.PhotometricInterpretation, "RGB")
    out.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(out / f"{i:04d}.png")
    return time.perf_counter() - t0


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + sys of the child and its workers)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=1, help="runs per variant (best is kept)")
    p.add_argument("--naive", nargs=2, metavar=("SRC", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    if args.naive:
        naive(Path(args.naive[0]), Path(args.naive[1]))
        return
    from pydicom.data import get_testdata_file

    src = Path(get_testdata_file("color3d_jpeg_baseline.dcm"))
    US_SET[:] = [get_testdata_file(f"{name}.dcm") for name in US_SET_NAMES]
    py = sys.executable
    n = 120
    tmp = Path(tempfile.mkdtemp(prefix="bench-curate-"))
    try:
        best: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for r in range(args.repeat):
            for name, cmd in (
                ("naive", [py, __file__, "--naive", str(src)]),
                ("workers1", [py, "-m", "echomark", "curate", str(src), "--quiet", "--out"]),
                ("workers2", [py, "-m", "echomark", "curate", str(src), "--quiet",
                              "--workers", "2", "--out"]),
            ):  # fmt: skip
                sec, cpu_s = timed([*cmd, str(tmp / f"{name}-{r}")])
                best[name] = min(best.get(name, sec), sec)
                cpu[name] = min(cpu.get(name, cpu_s), cpu_s)
            # Many files: the pydicom-data ultrasound set (20 videos, 171 frames).
            for w in (1, 2):
                name = f"set{w}"
                cmd = [py, "-m", "echomark", "curate", *US_SET, "--quiet", "--workers", str(w)]
                sec, _ = timed([*cmd, "--out", str(tmp / f"{name}-{r}")])
                best[name] = min(best.get(name, sec), sec)
        # In-process breakdown (warm: imports and OCR model already loaded).
        from echomark.dicom.curate import CurateOptions, plan_video, write_task
        from echomark.dicom.ocr import warm_up

        warm_up()
        t0 = time.perf_counter()
        rec = plan_video(str(src), "01-" + "0" * 64, CurateOptions("01", tmp).settings(), True)
        plan_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_task(str(src), rec, list(range(n)), str(tmp / "breakdown"), 1)
        write_s = time.perf_counter() - t0
        naive_bytes = sum(f.stat().st_size for f in (tmp / "naive-0").glob("*.png"))
        curated = sorted((tmp / "workers1-0" / "png-cache").rglob("*.png"))
        cur_bytes = sum(f.stat().st_size for f in curated)

        import cv2

        from echomark.cache.png import decode_png, encode_png

        frames = [decode_png(f.read_bytes()) for f in curated]
        levels = {}
        for level in (1, 3, 6):
            t0 = time.perf_counter()
            size = sum(len(encode_png(f, level)) for f in frames)
            levels[level] = (time.perf_counter() - t0, size)
        # zlib's RLE strategy (OpenCV's default when no level is given; encode_png passes a
        # level, which switches OpenCV to the default strategy): measured for comparison.
        t0 = time.perf_counter()
        rle_size = sum(
            len(
                cv2.imencode(".png", f, [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE])[1]
            )
            for f in frames
        )
        rle_sec = time.perf_counter() - t0

        print(f"cine: {n} frames 640x480 YBR_FULL_422 JPEG Baseline ({src.name}); "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        print(f"naive pydicom+Pillow default PNG, 1 process, no masking: {best['naive']:.2f} s "
              f"= {n / best['naive']:.1f} frames/s, CPU {cpu['naive']:.2f} s, "
              f"{naive_bytes / 1e6:.2f} MB (unmasked RGB)")  # fmt: skip
        for w in (1, 2):
            s = best[f"workers{w}"]
            print(f"echomark curate --workers {w} (whole CLI run incl. plan + OCR): {s:.2f} s "
                  f"= {n / s:.1f} frames/s" + (f", CPU {cpu['workers1']:.2f} s" if w == 1 else ""))  # fmt: skip
        print(f"  in-process, warm: plan (16 sampled frames, masks, OCR) {plan_s:.2f} s; "
              f"write {n / write_s:.1f} frames/s (decode + mask + PNG level 1 + atomic write)")  # fmt: skip
        for w in (1, 2):
            s = best[f"set{w}"]
            print(f"echomark curate --workers {w}, 20 pydicom-data files (171 frames): "
                  f"{s:.2f} s = {171 / s:.1f} frames/s")  # fmt: skip
        print(f"curated cache: {cur_bytes / 1e6:.2f} MB (grey, masked, level 1)")
        for level, (sec, size) in levels.items():
            print(f"PNG level {level}: encode {1000 * sec / n:.2f} ms/frame, "
                  f"{size / 1e6:.2f} MB ({size / levels[1][1]:.3f} x level 1)")  # fmt: skip
        print(f"PNG zlib RLE strategy: encode {1000 * rle_sec / n:.2f} ms/frame, "
              f"{rle_size / 1e6:.2f} MB ({rle_size / levels[1][1]:.3f} x level 1)")  # fmt: skip
        for key, val, unit in (
            ("curate_cine_naive_frames_per_s", n / best["naive"], "frames/s"),
            ("curate_cine_1_worker_frames_per_s", n / best["workers1"], "frames/s"),
        ):
            print(f"{key}: {val:.2f} {unit}")
        print("BENCH " + json.dumps({
            "name": "curate_cine_2_workers_frames_per_s",
            "value": round(n / best["workers2"], 2),
            "unit": "frames/s",
        }))  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
