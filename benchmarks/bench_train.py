"""Training-step throughput of an HRNet variant on random tensors (no data pipeline).

.venv/bin/python benchmarks/bench_train.py --variant tiny --size 256 --batch 8 --steps 5
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from echomark.models import build_model
from echomark.train.loss import heatmap_loss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--variant", default="tiny")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--outputs", type=int, default=30)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA)")
    p.add_argument("--channels-last", action="store_true")
    a = p.parse_args()
    dev = torch.device(a.device)
    model = build_model(a.variant, 1, a.outputs).to(dev)
    mf = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=mf)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(a.batch, 1, a.size, a.size, device=dev).to(memory_format=mf)
    targets = [torch.rand(a.batch, a.outputs, a.size // s, a.size // s, device=dev) for s in (4, 2)]
    weights = [torch.ones(a.batch, a.outputs, device=dev)] * 2
    times = []
    for i in range(a.steps + 1):
        t0 = time.perf_counter()
        with torch.autocast(dev.type, torch.bfloat16, enabled=a.amp and dev.type == "cuda"):
            preds = model(x)
        loss, _ = heatmap_loss(preds, targets, weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - t0)
    per_sample = sum(times) / len(times) / a.batch
    print(f"{a.variant} {a.size}px batch {a.batch} on {dev}: {1 / per_sample:.1f} samples/s")
    name = f"train_step_{a.variant}_{a.size}px_{dev.type}"
    print(
        "BENCH "
        + json.dumps({"name": name, "value": round(1 / per_sample, 3), "unit": "samples/s"})
    )


if __name__ == "__main__":
    main()
