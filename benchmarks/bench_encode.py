"""Benchmark: heatmap encoding speed at a 608 x 608 input, against two slower renderers.

Encodes an A4C-like sample (12 points + 8 curves of realistic length, 40 channels, both
strides 4 and 2) on one CPU core, and renders the same sample with

- echomark's dense checker (:mod:`echomark.heatmaps.oracle`: every pixel x every segment
  of a 0.25 px dense curve, full-grid Gaussians) for the speed ratio and the largest
  absolute difference (where it occurs, too), and
- with ``--reference-repo DIR``, the original 2020 renderer
  (``ScantensusPT.datasets.unity.make_labels_and_masks`` of a checkout of
  UnityImaging/scantensus-echo, commit 2ed1624; not part of echomark, imported from DIR
  at run time): the 2020 run's settings (``unity-147``: sigma 4 / 2 target px, weight maps
  sigma 20 / 10, amplitudes 80 / 20), one torch thread. It renders a uint8 heatmap *and* a
  uint8 weight map per channel; "heatmaps alone" leaves out the time of its weight-map
  renders (the same functions called with the weight amplitude instead of 255). Its
  labels are the sample's control points mapped into the input (the sample's matrix is a
  similarity, so splining mapped nodes draws the same curve); the 2020 format has no
  straight segments, so the one curve with a straight segment is drawn as a spline there.

The BENCH value is samples/s = 1000 / (median CPU milliseconds per ``encode`` call) of
this single-threaded process (``time.process_time``), so other processes on a shared
machine do not count; wall-clock throughput is printed too. The ratios compare CPU time
per sample, measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_encode.py [--seconds 5] [--oracle-samples 1]
[--reference-repo DIR [--reference-samples 1]]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from echomark.geometry import apply_matrix  # noqa: E402
from echomark.heatmaps import CodecConfig, encode  # noqa: E402
from echomark.heatmaps.oracle import a4c_like_sample, encode_dense  # noqa: E402
from echomark.labels.schema import ImageLabels, LabelState  # noqa: E402

#: The 2020 run's weight-map settings (``unity-147``); they cost time, not accuracy.
_REF_WEIGHTS = {"dot_weight_sd": 20, "curve_weight_sd": 10, "dot_weight": 80, "curve_weight": 20}
#: The reference scales heatmaps to uint8 with this amplitude (weight maps use others).
_REF_HEATMAP_MUL = 255


def main() -> None:
    """Time ``encode`` and the slower renderers; print ratios, differences and a BENCH line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time budget for encode")
    parser.add_argument("--oracle-samples", type=int, default=1, help="dense renders to time")
    parser.add_argument(
        "--reference-repo",
        type=Path,
        default=None,
        help="checkout of UnityImaging/scantensus-echo: also time its 2020 renderer",
    )
    parser.add_argument(
        "--reference-samples", type=int, default=1, help="2020-renderer samples to time"
    )
    parser.add_argument(
        "--reference-threads",
        type=int,
        default=1,
        help="torch threads of the 2020 renderer (1: one core, like encode)",
    )
    args = parser.parse_args()
    cfg = CodecConfig()
    samples = [a4c_like_sample(seed) for seed in range(8)]
    labels, channels, kinds, _, hw = samples[0]
    n_points = kinds.count("point") - sum(
        1 for c in channels if labels[c].state.value in ("off", "blurred")
    )
    print(
        f"sample: input {hw[0]}x{hw[1]}, {len(channels)} channels "
        f"({n_points} points, {kinds.count('curve')} curves), strides {cfg.strides}"
    )
    for s in samples:  # warm-up
        encode(*s, cfg)
    count = 0
    per_call = []
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    while time.perf_counter() - wall0 < args.seconds:
        s = samples[count % len(samples)]
        t0 = time.process_time()
        encode(*s, cfg)
        per_call.append(time.process_time() - t0)
        count += 1
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    ms = np.array(per_call) * 1e3
    # On a shared machine wall-clock time includes other processes' turns; CPU time of
    # this single-threaded process is what one dedicated core would take.
    fast_s = float(np.median(ms)) / 1e3
    rate = 1.0 / fast_s
    print(
        f"encode: {count} samples in {wall:.2f} s wall, {cpu:.2f} s CPU "
        f"({count / wall:.1f} samples/s wall-clock)"
    )
    print(
        f"encode CPU per sample: median {np.median(ms):.2f} ms, "
        f"10th percentile {np.percentile(ms, 10):.2f} ms, min {ms.min():.2f} ms "
        f"-> {rate:.1f} samples/s on one core"
    )
    _dense_checker(samples[: max(args.oracle_samples, 0)], cfg, fast_s)
    if args.reference_repo is not None:
        _reference_2020(
            args.reference_repo,
            samples[: args.reference_samples],
            cfg,
            fast_s,
            args.reference_threads,
        )
    print(
        "value below: samples/s on one core = 1000 / median CPU ms per sample "
        f"({np.median(ms):.2f} ms over {count} calls)"
    )
    print(
        "BENCH "
        + json.dumps({"name": "encode_a4c_608", "value": round(rate, 1), "unit": "samples/s"})
    )


Sample = tuple[ImageLabels, list[str], list[str], np.ndarray, tuple[int, int]]


def _dense_checker(samples: list[Sample], cfg: CodecConfig, fast_s: float) -> None:
    """Time echomark's dense checker and report the largest difference and where it is."""
    if not samples:
        return
    times = []
    worst = (-1.0, "", 0, 0, 0, 0)
    for i, s in enumerate(samples):
        t0 = time.process_time()
        ref = encode_dense(*s, cfg, spacing=0.25)
        times.append(time.process_time() - t0)
        for f, d in zip(encode(*s, cfg), ref, strict=True):
            assert np.array_equal(f.weights, d.weights)
            diff = np.abs(f.heatmaps - d.heatmaps)
            k, y, x = np.unravel_index(int(diff.argmax()), diff.shape)
            if float(diff[k, y, x]) > worst[0]:
                worst = (float(diff[k, y, x]), s[1][k], f.stride, int(y), int(x), i)
    dense_s = float(np.mean(times))
    print(f"dense checker: {1e3 * dense_s:.0f} ms CPU/sample over {len(samples)} sample(s)")
    print(f"speed ratio (dense checker / encode): {dense_s / fast_s:.0f}x")
    d, name, stride, y, x, seed = worst
    print(
        f"max abs difference vs dense checker: {d:.2e} "
        f"({name}, stride {stride}, pixel (y={y}, x={x}), sample seed {seed})"
    )


def _import_reference(repo: Path, threads: int) -> tuple[types.ModuleType, Any]:
    """Import the 2020 renderer from a checkout outside this project."""
    if not (repo / "ScantensusPT" / "datasets" / "unity.py").is_file():
        raise SystemExit(f"{repo}: not a checkout of UnityImaging/scantensus-echo")
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(repo.resolve()))
    # Its image reader imports imageio at module level; the renderer never calls it.
    if importlib.util.find_spec("imageio") is None:
        sys.modules["imageio"] = types.ModuleType("imageio")
    return importlib.import_module("ScantensusPT.datasets.unity"), torch


def _reference_labels(s: Sample) -> dict[str, dict[str, str]]:
    """The sample's labels in the 2020 format, in input pixels (the reference's space)."""
    labels, channels, _, matrix, _ = s
    out = {}
    for name in channels:
        lab = labels[name]
        if lab.state in (LabelState.OFF, LabelState.BLURRED):
            out[name] = {"type": lab.state.value, "x": "", "y": ""}
            continue
        xy = apply_matrix(matrix, lab.instances[0].xy)
        out[name] = {
            "type": lab.state.value,
            "x": " ".join(repr(float(v)) for v in xy[:, 0]),
            "y": " ".join(repr(float(v)) for v in xy[:, 1]),
        }
    return out


def _reference_2020(
    repo: Path, samples: list[Sample], cfg: CodecConfig, fast_s: float, threads: int
) -> None:
    """Time the original 2020 renderer on the same samples; compare its targets."""
    unity, torch = _import_reference(repo, threads)
    weight_s = [0.0]

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*a: Any, **kw: Any) -> Any:
            t0 = time.process_time()
            out = fn(*a, **kw)
            if kw.get("mul") != _REF_HEATMAP_MUL:  # a weight map
                weight_s[0] += time.process_time() - t0
            return out

        return call

    for fname in ("render_gaussian_dot_u", "render_gaussian_curve_u"):
        setattr(unity, fname, timed(getattr(unity, fname)))
    total = []
    walls = []
    weights = []
    diff = {"point": 0.0, "curve": 0.0, "curve with a straight segment": 0.0}
    # Its meshgrid call predates torch's indexing argument (the default is what it means).
    warnings.filterwarnings("ignore", message="torch.meshgrid", category=UserWarning)
    with torch.no_grad():
        for s in samples:
            labels, channels, kinds, _, hw = s
            ref_labels = _reference_labels(s)
            weight_s[0] = 0.0
            w0 = time.perf_counter()
            t0 = time.process_time()
            maps = [
                unity.make_labels_and_masks(
                    image_in_size=hw,
                    image_out_size=hw,
                    keypoint_names=channels,
                    label_data=ref_labels,
                    heatmap_scale_factor=stride,
                    dot_sd=cfg.sigma_point,
                    curve_sd=cfg.sigma_curve,
                    **_REF_WEIGHTS,
                )
                for stride in cfg.strides
            ]
            total.append(time.process_time() - t0)
            walls.append(time.perf_counter() - w0)
            weights.append(weight_s[0])
            for (heat, wmap), enc in zip(maps, encode(*s, cfg), strict=True):
                got = heat.numpy().astype(np.float32) / _REF_HEATMAP_MUL
                mask = np.minimum(wmap.numpy().reshape(len(channels), -1).max(axis=1), 1)
                assert np.array_equal(mask.astype(np.float32), enc.weights)
                for k, kind in enumerate(kinds):
                    lab = labels[channels[k]]
                    if lab.state not in (LabelState.POINT, LabelState.CURVE):
                        continue
                    key = kind
                    if lab.instances[0].straight is not None and any(lab.instances[0].straight):
                        key = "curve with a straight segment"
                    d = float(np.abs(got[k] - enc.heatmaps[k]).max())
                    diff[key] = max(diff[key], d)
    ref_s = float(np.mean(total))
    heat_s = ref_s - float(np.mean(weights))
    print(
        f"2020 renderer: {1e3 * ref_s:.0f} ms CPU/sample over {len(samples)} sample(s) "
        f"(heatmaps + weight maps), {1e3 * heat_s:.0f} ms of it for the heatmaps; "
        f"{threads} torch thread(s), {1e3 * float(np.mean(walls)):.0f} ms wall"
    )
    print(
        f"speed ratio (2020 renderer / encode): {ref_s / fast_s:.0f}x; "
        f"heatmaps alone: {heat_s / fast_s:.0f}x"
    )
    print(
        "max abs difference vs 2020 renderer (its uint8 truncation, 1/255 = 3.9e-3, and "
        "its 1 px curve vertices): " + ", ".join(f"{k} {v:.2e}" for k, v in diff.items())
    )


if __name__ == "__main__":
    main()
