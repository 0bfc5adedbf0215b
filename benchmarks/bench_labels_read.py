"""Read and write a release-sized v1 label file (synthetic): images per second."""

from __future__ import annotations

import json
import time

import numpy as np

from echomark.labels.io import dumps_labels, read_labels
from echomark.labels.registry import load_registry


def release_like_image(rng: np.random.Generator, names: list[str]) -> dict:
    """One image's v1 labels: 30 % off, 20 % blurred, the rest points or 3-11-node curves."""
    labels = {}
    for name in names:
        r = rng.random()
        if r < 0.3:
            labels[name] = {"type": "off", "x": "", "y": ""}
        elif r < 0.5:
            labels[name] = {"type": "blurred", "x": "", "y": ""}
        else:
            n = 1 if not name.startswith("curve-") else int(rng.integers(3, 12))
            xy = rng.uniform(0, 600, (n, 2))
            labels[name] = {
                "type": "point" if n == 1 else "curve",
                "x": " ".join(f"{v:.1f}" for v in xy[:, 0]),
                "y": " ".join(f"{v:.1f}" for v in xy[:, 1]),
            }
    return {"labels": labels}


def make_release_like(n_images: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    names = list(load_registry())[:40]
    out = {f"01-{i:064x}-0000.png": release_like_image(rng, names) for i in range(n_images)}
    return json.dumps(out).encode()


def main() -> None:
    n = 5000
    data = make_release_like(n)
    t0 = time.perf_counter()
    lf = read_labels(data)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    dumps_labels(lf)
    t_write = time.perf_counter() - t0
    print(
        f"{n} images x 40 labels, {len(data) / 1e6:.1f} MB: read {t_read:.2f} s, "
        f"write {t_write:.2f} s, problems {len(lf.problems)}"
    )
    print(
        "BENCH "
        + json.dumps({"name": "labels_read_v1", "value": round(n / t_read), "unit": "images/s"})
    )


if __name__ == "__main__":
    main()
