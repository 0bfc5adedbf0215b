"""Time-to-frame of ``echomark serve`` on a 50,000-frame synthetic png-cache zip.

Builds a zip of 1,000 videos x 50 frames: the first 10 videos hold full-size synthetic
frames (480 x 640, ~108 kB PNGs), the other 990 small 60 x 80 ones, so that the zip has a
release-like 50,000-member index without taking gigabytes; only full-size frames are timed.
Rendered frames are reused across videos (the bytes, not the names, repeat).

Measures, against a real ``echomark serve`` subprocess on loopback:
  * opening the cache (index of 50,000 members) and server start-up;
  * the frame list (a page deep in the list, and a filtered page);
  * HTTP: frame labels + PNG for random full-size frames;
  * in Chromium (when /usr/bin/chromium and playwright are there): key press -> frame drawn,
    stepping with the arrow key, and jumps to random frames not yet loaded.

The BENCH value is the 95th percentile of key press -> frame drawn in the browser (or of the
HTTP time when no browser is available); the target is under 100 ms.

    python benchmarks/bench_serve.py [--frames-per-video 50] [--videos 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from echomark.cache.keys import VideoCode
from echomark.cache.png import encode_png
from echomark.cache.store import open_store
from echomark.synth import make_cine

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--no-first-run"]  # fmt: skip


def build_zip(path: Path, videos: int, per_video: int, full_videos: int) -> list[str]:
    big = [encode_png(f) for f in make_cine("PLAX", 0, n_frames=10).frames]
    small = [encode_png(f) for f in make_cine("A4C", 1, n_frames=4, size=(60, 80)).frames]
    full_keys = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for v in range(videos):
            code = VideoCode("01", f"{v:064x}")
            for f in range(per_video):
                key = code.frame(f)
                if v < full_videos:
                    data = big[f % len(big)]
                    full_keys.append(key.name)
                else:
                    data = small[f % len(small)]
                zf.writestr("png-cache/" + key.relpath, data)
    return full_keys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return bytes(r.read())


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def browser_times(url: str, full_keys: list[str], n: int) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    steps: list[float] = []
    jumps: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 760})
            page.goto(f"{url}?frame={full_keys[0]}")
            page.wait_for_selector("body[data-ready='1']", timeout=60000)
            for i in range(1, min(n, 49) + 1):
                page.keyboard.press("ArrowRight")
                page.wait_for_function(
                    "k => window.echomark.shown && window.echomark.shown.key === k",
                    arg=full_keys[i],
                )
                steps.append(page.evaluate("window.echomark.shown.t - window.echomark.keyAt"))
            rng = random.Random(1)
            for key in rng.sample(full_keys[50:], n):
                jumps.append(
                    page.evaluate(
                        "async k => { const t0 = performance.now(); await window.echomark.open(k);"
                        " return performance.now() - t0; }",
                        key,
                    )
                )
        finally:
            browser.close()
    return steps, jumps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=1000)
    ap.add_argument("--frames-per-video", type=int, default=50)
    ap.add_argument("--full-videos", type=int, default=10)
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--keep", help="folder to keep the zip in (default: a temp folder, removed)")
    args = ap.parse_args()

    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench-serve-"))
    tmp.mkdir(parents=True, exist_ok=True)
    zpath = tmp / "png-cache.zip"
    t = time.perf_counter()
    full_keys = build_zip(zpath, args.videos, args.frames_per_video, args.full_videos)
    n_frames = args.videos * args.frames_per_video
    print(f"zip: {n_frames} frames, {zpath.stat().st_size / 1e6:.0f} MB, "
          f"built in {time.perf_counter() - t:.1f} s")  # fmt: skip

    t = time.perf_counter()
    assert len(open_store(zpath)) == n_frames
    print(f"open_store (index {n_frames} members): {(time.perf_counter() - t) * 1e3:.0f} ms")

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    cmd = [sys.executable, "-m", "echomark", "serve", "--images", str(zpath), "--labels",
           str(tmp / "labels.json"), "--user", "bench", "--port", str(port)]  # fmt: skip
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        while True:
            with contextlib.suppress(OSError):
                get(url + "api/info")
                break
            if proc.poll() is not None:
                raise SystemExit("echomark serve exited")
            time.sleep(0.05)
        print(f"server start-up to first answer: {time.perf_counter() - t:.2f} s")

        for q in ("offset=25000&limit=200", "class=01&state=unlabelled&offset=40000&limit=200"):
            t = time.perf_counter()
            res = json.loads(get(url + "api/frames?" + q))
            print(f"frame list ({q}): {(time.perf_counter() - t) * 1e3:.0f} ms, "
                  f"{len(res['items'])} of {res['total']}")  # fmt: skip

        rng = random.Random(0)
        http = []
        for key in rng.sample(full_keys, args.samples):
            t = time.perf_counter()
            get(f"{url}api/frames/{key}")
            png = get(f"{url}api/frames/{key}/image")
            http.append((time.perf_counter() - t) * 1e3)
            assert png[:4] == b"\x89PNG"
        print(f"HTTP labels + PNG ({len(png) // 1000} kB): p50 {pct(http, 50):.1f} ms, "
              f"p95 {pct(http, 95):.1f} ms")  # fmt: skip

        value, name = pct(http, 95), "serve_http_frame_p95"
        try:
            import playwright  # noqa: F401

            have_browser = Path(CHROMIUM).is_file()
        except ImportError:
            have_browser = False
        if have_browser:
            steps, jumps = browser_times(url, full_keys, args.samples)
            print(f"browser, arrow key -> frame drawn: p50 {pct(steps, 50):.1f} ms, "
                  f"p95 {pct(steps, 95):.1f} ms, max {max(steps):.1f} ms")  # fmt: skip
            print(f"browser, jump to an unloaded frame -> drawn: p50 {pct(jumps, 50):.1f} ms, "
                  f"p95 {pct(jumps, 95):.1f} ms, max {max(jumps):.1f} ms")  # fmt: skip
            value, name = max(pct(steps, 95), pct(jumps, 95)), "serve_time_to_frame_p95"
        else:
            print("no chromium/playwright: browser timing skipped")
    finally:
        proc.terminate()
        proc.wait(10)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("BENCH " + json.dumps({"name": name, "value": round(value, 1), "unit": "ms",
                                 "frames": n_frames, "target_ms": 100}))  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
