"""Benchmark: synthetic cine rendering (classic and B-mode looks) and the default dataset.

Reports, on one core, render time per frame (480 x 640; classic: PLAX and A4C, bmode: all
four views with varied anatomy) as ms/frame and frames/s and PNG encoding time per frame;
then the wall time of the default dataset (24 + 6 videos x 30 frames) written in one process
and with ``--workers`` processes (default: every core), in temporary folders, after checking
that both wrote the same bytes. The last line is the speed-up of the workers over one
process (``BENCH synth_dataset_workers_speedup``); with ``--skip-dataset``, the B-mode render
time (``BENCH synth_render_bmode_480x640``).

Run: ``.venv/bin/python benchmarks/bench_synth.py [--skip-dataset] [--workers N]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from echomark.cache.png import encode_png  # noqa: E402
from echomark.synth.bmode import BmodeRenderer  # noqa: E402
from echomark.synth.cine import Renderer, sample_video  # noqa: E402
from echomark.synth.dataset import write_dataset  # noqa: E402


def main() -> None:
    """Time rendering, encoding and the default dataset; print BENCH lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30, help="frames per view to time")
    parser.add_argument("--skip-dataset", action="store_true", help="only time rendering")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="dataset workers to time"
    )
    args = parser.parse_args()
    render_ms: dict[str, float] = {}
    encode_s = 0.0
    n_encoded = 0
    for look, views, varied in (
        ("classic", ("PLAX", "A4C"), False),
        ("bmode", ("PLAX", "A4C", "A2C", "A3C"), True),
    ):
        render_s = 0.0
        n = 0
        for view in views:
            rng = np.random.default_rng(1)
            spec = sample_video(view, rng, n_frames=args.frames, size=(480, 640), varied=varied)
            renderer = BmodeRenderer(spec, rng) if look == "bmode" else Renderer(spec, rng)
            renderer.frame(0)  # warm caches (shared speckle field)
            for i in range(args.frames):
                t0 = time.perf_counter()
                img = renderer.frame(i)
                t1 = time.perf_counter()
                render_s += t1 - t0
                n += 1
                if look == "classic":
                    encode_png(img)
                    encode_s += time.perf_counter() - t1
                    n_encoded += 1
        ms = 1000.0 * render_s / n
        print(f"{look}: render {ms:.1f} ms/frame = {1000.0 / ms:.1f} frames/s (480x640)")
        render_ms[look] = ms
    print(f"PNG encode {1000.0 * encode_s / n_encoded:.1f} ms/frame (480x640)")
    if args.skip_dataset:
        value = round(render_ms["bmode"], 2)
        bench = {"name": "synth_render_bmode_480x640", "value": value, "unit": "ms/frame"}
        print("BENCH " + json.dumps(bench))
        return
    walls: dict[int, float] = {}
    written: dict[int, dict[str, bytes]] = {}
    for workers in (1, args.workers):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            summary = write_dataset(tmp, workers=workers)
            walls[workers] = time.perf_counter() - t0
            written[workers] = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
        print(
            f"default dataset, {workers} worker(s): {summary.frames} frames in "
            f"{walls[workers]:.1f} s = {summary.frames / walls[workers]:.0f} frames/s"
        )
    if written[1] != written[args.workers]:
        raise SystemExit(f"{args.workers} workers wrote other bytes than one process")
    speedup = walls[1] / walls[args.workers]
    print(f"{args.workers} workers: {speedup:.2f}x one process, the same bytes")
    bench = {
        "name": "synth_dataset_workers_speedup",
        "value": round(speedup, 2),
        "unit": f"x one process ({args.workers} workers)",
    }
    print("BENCH " + json.dumps(bench))


if __name__ == "__main__":
    main()
