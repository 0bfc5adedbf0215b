"""Benchmark: are generated LV cavities as dark, and walls as grey, as the real cine's?

Measures :func:`echomark.synth.bmode.cavity_and_wall_greys` (median grey of the LV cavity's
core and of the wall band just outside the outline) on the end-diastolic frame of each of
``--videos`` varied B-mode A4C cines (240 x 320, seeds from ``--seed``), and on the real
SonoSite A4C cine in pydicom-data at the frames traced in
``benchmarks/data/sonosite-a4c-reader-outlines.json``. Prints the synthetic percentiles, the
share of black cavities (grey <= 12), of near-black walls (< 15) and of frames that look
like the real cine (cavity <= 12, wall 30-60). Beside them, the tissue beyond the lateral
wall (:func:`echomark.synth.bmode.surroundings_grey`) as a fraction of the wall's grey: on
grey tissue (0.4 or more, as at every traced frame of the real cine) or on black. The last
line is the real-cine-like share.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_synth_contrast.py [--videos 80]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from echomark.evaluate.reader_marks import read_reader_outlines
from echomark.synth.bmode import cavity_and_wall_greys, surroundings_grey
from echomark.synth.cine import make_cine

OUTLINES = Path(__file__).with_name("data") / "sonosite-a4c-reader-outlines.json"
#: What "looks like the real cine" means here (its traced frames: cavity 7-10, wall 35-45).
BLACK_CAVITY = 12.0
REAL_WALL = (30.0, 60.0)


def real_cine_greys() -> list[tuple[int, float, float, float]]:
    """(frame, cavity, wall, surroundings) at each traced frame of the real cine."""
    from pydicom.data import get_testdata_file

    from echomark.dicom.memory import curate_in_memory

    outlines = read_reader_outlines(OUTLINES)
    frames = sorted(outlines.frames)
    cine = curate_in_memory(get_testdata_file(outlines.file), frames=frames, ocr=False)
    if cine.calibration is None:
        raise SystemExit(f"{outlines.file}: no pixel spacing ({cine.calibration_note})")
    mm = cine.calibration.dx_mm_per_px
    out = []
    for f in frames:
        cavity, wall = cavity_and_wall_greys(cine.frames[f], outlines.frames[f], mm)
        out.append((f, cavity, wall, surroundings_grey(cine.frames[f], outlines.frames[f], mm)))
    return out


def synthetic_greys(videos: int, seed: int) -> np.ndarray:
    """[videos, 3] cavity, wall and surroundings greys of varied B-mode A4C end-diastoles."""
    rows = []
    for s in range(seed, seed + videos):
        c = make_cine("A4C", s, n_frames=12, size=(240, 320), look="bmode", varied=True)
        f = c.ed_frame
        xy, mm = c.labels[f]["curve-lv-endo"].xy, 10.0 * c.spec.geometry.dx_cm_per_px
        rows.append(
            (*cavity_and_wall_greys(c.frames[f], xy, mm), surroundings_grey(c.frames[f], xy, mm))
        )
    return np.asarray(rows, dtype=np.float64)


def main() -> None:
    """Print the real cine's greys, the synthetic distribution and a BENCH line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=80, help="synthetic A4C cines")
    parser.add_argument("--seed", type=int, default=1000, help="first cine's seed")
    args = parser.parse_args()
    for f, cavity, wall, beyond in real_cine_greys():
        print(
            f"real cine frame {f}: cavity {cavity:.0f}, wall {wall:.0f}, "
            f"beyond the lateral wall {beyond:.0f} ({beyond / wall:.2f} x wall)"
        )
    a = synthetic_greys(args.videos, args.seed)
    ratio = a[:, 2] / np.maximum(a[:, 1], 1.0)
    for q in (10, 25, 50, 75, 90):
        cav, wall = np.percentile(a[:, :2], q, axis=0)
        print(
            f"synthetic ED frames, {q}th percentile: cavity {cav:.0f}, wall {wall:.0f}, "
            f"beyond / wall {np.nanpercentile(ratio, q):.2f}"
        )
    print(f"on grey tissue (beyond / wall >= 0.4) {100 * np.mean(ratio >= 0.4):.1f} %")
    black = a[:, 0] <= BLACK_CAVITY
    like = black & (a[:, 1] >= REAL_WALL[0]) & (a[:, 1] <= REAL_WALL[1])
    print(
        f"black cavity {100 * black.mean():.1f} %, near-black wall "
        f"{100 * (a[:, 1] < 15).mean():.1f} %, like the real cine {100 * like.mean():.1f} %"
    )
    bench = {"name": "synth_a4c_like_real_cine", "value": round(100 * like.mean(), 1)}
    print("BENCH " + json.dumps({**bench, "unit": "% ED frames"}))


if __name__ == "__main__":
    main()
