"""Prediction throughput on the CPU: W18 at 608 x 608, PyTorch vs onnxruntime, same process.

Builds a W18 network with random weights for the A4C + PLAX channels, exports it to ONNX,
and times the whole predict pipeline (load, letterbox/crop, forward, decode, back-mapping)
on a few synthetic 600 x 800 frames with each engine, after one warm-up batch. Random
weights give near-empty heatmaps, so decoding is cheaper than with a trained model; the
network-only rate is printed too.

Usage: .venv/bin/python benchmarks/bench_predict.py [--frames 4] [--batch 2] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from echomark.data.config import DataConfig
from echomark.data.spec import ModelSpec
from echomark.labels.registry import channels_for_views, kinds_for
from echomark.models import build_model
from echomark.predict.engine import ONNX_INPUT, OnnxEngine, TorchEngine, onnx_output_name
from echomark.predict.inputs import InputFrame
from echomark.predict.predictor import predict_frames


def frames(n: int, hw: tuple[int, int] = (600, 800)) -> list[InputFrame]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = rng.integers(0, 255, hw, dtype=np.uint8)
        out.append(InputFrame(f"00-{'0' * 63}{i % 10}-{i:04d}.png", "v", i, lambda a=img: a))
    return out


def time_it(fn, repeats: int = 1) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch/ort threads (0: default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    channels = channels_for_views(["A4C", "PLAX"])
    kinds = kinds_for(channels)
    spec = ModelSpec(tuple(channels), tuple(kinds), DataConfig(input_hw=(608, 608)), "w18")
    torch.manual_seed(0)
    model = build_model("w18", 1, len(channels)).eval()
    outputs = [onnx_output_name(s) for s in spec.codec.strides]
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "w18.onnx"
        torch.onnx.export(
            model,
            (torch.zeros(1, 1, 608, 608),),
            str(onnx_path),
            input_names=[ONNX_INPUT],
            output_names=outputs,
            dynamic_axes={ONNX_INPUT: {0: "batch"}, **{o: {0: "batch"} for o in outputs}},
            opset_version=17,
            dynamo=False,
        )
        engines = {"torch": TorchEngine(model), "onnx": OnnxEngine(onnx_path, threads=args.threads)}
        todo = frames(args.frames)
        x = np.zeros((args.batch, 1, 608, 608), np.float32)
        result: dict[str, float] = {}
        for name, eng in engines.items():
            eng(x)  # warm-up
            net_s = time_it(lambda eng=eng: eng(x))
            pipe_s = time_it(lambda eng=eng: predict_frames(todo, eng, spec, batch_size=args.batch))
            result[f"{name}_network_fps"] = args.batch / net_s
            result[f"{name}_pipeline_fps"] = len(todo) / pipe_s
            print(
                f"{name:6s} network {args.batch / net_s:6.2f} frames/s   "
                f"pipeline {len(todo) / pipe_s:6.2f} frames/s  ({len(channels)} channels, "
                f"batch {args.batch}, {torch.get_num_threads()} torch threads)"
            )
    print(
        "BENCH "
        + json.dumps(
            {
                "name": "predict_w18_608_cpu_frames_per_s",
                "value": round(result["torch_pipeline_fps"], 3),
                "unit": "frames/s",
                "onnx_value": round(result["onnx_pipeline_fps"], 3),
                "torch_network_fps": round(result["torch_network_fps"], 3),
                "onnx_network_fps": round(result["onnx_network_fps"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
