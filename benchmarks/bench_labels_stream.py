"""Peak memory reading a ~200 MB v1 labels file (streamed), as a multiple of the file size.

Writes a release-like file (40 labels per image, 30 % off, 20 % blurred, curves of 3-11
nodes) of the requested size, then reads it with ``read_labels(progress=True)`` in a fresh
process and reports the peak resident memory the read added (``ru_maxrss`` after minus
before). Pass ``--eager`` to measure the old whole-file ``json.loads`` path instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from echomark.labels.io import decode_json_bytes, labels_from_json, read_labels
path, eager = sys.argv[1], sys.argv[2] == "1"
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if eager:
    lf = labels_from_json(decode_json_bytes(Path(path).read_bytes(), path), source=path)
else:
    lf = read_labels(path, progress=True)
seconds = time.perf_counter() - t0
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"images": len(lf.images), "before_kb": before, "after_kb": after, "s": seconds}))
"""


def write_release_like(path: Path, target_bytes: int, seed: int = 0) -> int:
    """A v1 label file of about ``target_bytes``; returns the number of images."""
    from bench_labels_read import release_like_image

    from echomark.labels.registry import load_registry

    rng = np.random.default_rng(seed)
    names = list(load_registry())[:40]
    n = 0
    with path.open("w", encoding="utf-8") as f:
        f.write("{")
        while f.tell() < target_bytes:
            image = release_like_image(rng, names)
            f.write(("," if n else "") + json.dumps(f"01-{n:064x}-0000.png") + ": ")
            f.write(json.dumps(image))
            n += 1
        f.write("}\n")
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=200.0, help="file size in MB (default 200)")
    ap.add_argument("--eager", action="store_true", help="measure whole-file json.loads")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labels-all.json"
        t0 = time.perf_counter()
        n = write_release_like(path, int(args.mb * 1e6))
        size = path.stat().st_size
        print(
            f"wrote {size / 1e6:.0f} MB ({n} images) in {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
        )
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), "1" if args.eager else "0"],
            check=True, capture_output=True, text=True, env=os.environ,
        )  # fmt: skip
        sys.stderr.write(out.stderr[-500:])
        res = json.loads(out.stdout.strip().splitlines()[-1])
    added = (res["after_kb"] - res["before_kb"]) * 1024
    ratio = added / size
    print(
        f"{'eager' if args.eager else 'streamed'}: {res['images']} images, {size / 1e6:.0f} MB file, "
        f"peak memory added {added / 1e6:.0f} MB = {ratio:.2f}x the file, read in {res['s']:.1f} s"
    )
    name = "labels_read_peak_memory_eager" if args.eager else "labels_read_peak_memory"
    print("BENCH " + json.dumps({"name": name, "value": round(ratio, 3), "unit": "x file size"}))


if __name__ == "__main__":
    main()
