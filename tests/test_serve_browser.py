"""The annotator in real Chromium (Debian's, driven by Playwright; no browser download).

Each test starts ``echomark serve`` as a subprocess on a free loopback port and stops it.
Set ``ECHOMARK_DOCS_SCREENSHOT=1`` to refresh ``docs/serve.png`` from the first test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

import numpy as np  # noqa: E402

from echomark.labels.io import label_file_from_mapping, read_labels, write_labels  # noqa: E402
from echomark.labels.schema import Instance, Label, LabelFormat  # noqa: E402
from echomark.labels.splits import read_split  # noqa: E402
from echomark.synth import DatasetConfig, write_dataset  # noqa: E402
from serve_helpers import assert_cli_validates_strict  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--disable-default-apps", "--disable-sync", "--metrics-recording-only",
]  # fmt: skip
if not Path(CHROMIUM).is_file():
    pytest.skip(
        "Debian's chromium is not installed (scripts/install-chromium.sh)", allow_module_level=True
    )

CFG = DatasetConfig(
    n_videos=2, n_external=0, frames_per_video=4, labelled_per_video=2, size=(240, 320)
)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    write_dataset(out, CFG)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    pw = sync_api.sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


def _fake_predictions(synth: Path, out: Path) -> str:
    """The synthetic truth jittered by ~2 px with a confidence: a stand-in model's output."""
    rng = np.random.default_rng(0)
    truth = read_split(synth / "labels.zip", "all")
    images = {}
    for key, labels in truth.images.items():
        pred = {}
        for name, lab in labels.items():
            if lab.state.drawn:
                inst = lab.instances[0]
                xy = inst.xy + rng.normal(0, 2.0, inst.xy.shape)
                conf = float(rng.uniform(0.6, 0.99))
                pred[name] = Label(lab.state, (Instance(xy, inst.straight, conf),))
        images[key] = pred
    write_labels(label_file_from_mapping(images, format=LabelFormat.V2), out)
    return min(images)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``echomark serve`` in a subprocess on a loopback port."""

    def __init__(self, synth: Path, labels: Path, *extra: str, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        cmd = [
            sys.executable, "-m", "echomark", "serve", "--images", str(synth / "png-cache.zip"),
            "--labels", str(labels), "--user", "tester", "--port", str(self.port), *extra,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.url + "api/info", timeout=1).close()
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = self.stop()
                raise RuntimeError(f"echomark serve did not start:\n{out}")
            time.sleep(0.1)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        assert self.proc.stdout is not None
        return self.proc.stdout.read()


@contextlib.contextmanager
def serving(synth: Path, labels: Path, *extra: str, port: int | None = None) -> Iterator[Server]:
    server = Server(synth, labels, *extra, port=port)
    try:
        yield server
    finally:
        server.stop()


def _open(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 760})
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=20000)
    return page


def _at(page: Any, x: float, y: float) -> tuple[float, float]:
    sx, sy = page.evaluate("([x, y]) => window.echomark.toScreen(x, y)", [x, y])
    return float(sx), float(sy)


def _click(page: Any, x: float, y: float) -> None:
    page.mouse.click(*_at(page, x, y))


def _select(page: Any, name: str) -> None:
    page.click(f"#label-list li[data-name='{name}'] .name")


def _settle(page: Any) -> None:
    page.wait_for_function("window.echomark.idle()", timeout=10000)
    page.wait_for_selector("#status[data-state='saved']", timeout=10000)


def _disk(labels: Path) -> dict[str, Any]:
    return dict(json.loads(labels.read_text()))


def test_edit_reload_and_disk(browser: Any, synth: Path, tmp_path: Path) -> None:
    labels = tmp_path / "tester.json"
    pred = tmp_path / "pred.json"
    first = _fake_predictions(synth, pred)
    extra = ("--layer", f"release={synth / 'labels.zip'}", "--predictions", str(pred))
    with serving(synth, labels, *extra) as server:
        page = _open(browser, f"{server.url}?frame={first}")
        key = page.evaluate("window.echomark.state.key")
        assert key == first
        _select(page, "lv-ivs-top")
        _click(page, 100, 80)
        _settle(page)
        _select(page, "curve-lv-post-endo")
        for x, y in [(60, 150), (150, 120), (240, 150)]:
            _click(page, x, y)
        _settle(page)
        # drag the middle node to (150, 100)
        page.mouse.move(*_at(page, 150, 120))
        page.mouse.down()
        page.mouse.move(*_at(page, 150, 110), steps=3)
        page.mouse.move(*_at(page, 150, 100), steps=3)
        page.mouse.up()
        _settle(page)
        _select(page, "lv-pw-top")
        page.keyboard.press("o")
        _settle(page)
        if os.environ.get("ECHOMARK_DOCS_SCREENSHOT"):
            page.uncheck("#show-layers")
            _select(page, "curve-lv-post-endo")
            page.screenshot(path=str(ROOT / "docs" / "serve.png"))
        shot = tmp_path / "shot.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000

        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        shown = page.evaluate("window.echomark.state.labels")
        page.close()

    disk = _disk(labels)
    assert list(disk) == [key]
    assert set(disk[key]) == {"lv-ivs-top", "curve-lv-post-endo", "lv-pw-top"}
    point = disk[key]["lv-ivs-top"][0]
    assert point["type"] == "point" and point["user"] == "tester"
    assert point["x"][0] == pytest.approx(100, abs=1) and point["y"][0] == pytest.approx(80, abs=1)
    curve = disk[key]["curve-lv-post-endo"][0]
    assert curve["type"] == "curve" and len(curve["x"]) == 3
    assert curve["x"] == pytest.approx([60, 150, 240], abs=1)
    assert curve["y"] == pytest.approx([150, 100, 150], abs=1)
    assert disk[key]["lv-pw-top"][0]["type"] == "off"
    assert {n: [{f: i[f] for f in ("type", "x", "y")} for i in v] for n, v in shown.items()} == {
        n: [{f: i[f] for f in ("type", "x", "y")} for i in v] for n, v in disk[key].items()
    }
    read_labels(labels, strict=True)
    assert_cli_validates_strict(labels)


def test_second_browser_gets_conflict_view(browser: Any, synth: Path, tmp_path: Path) -> None:
    labels = tmp_path / "shared.json"
    with serving(synth, labels) as server:
        a = _open(browser, server.url)
        b = _open(browser, server.url)
        _select(a, "lv-ivs-top")
        _click(a, 50, 50)
        _settle(a)
        _select(b, "lv-ivs-bottom")
        _click(b, 70, 70)
        b.wait_for_selector("#conflict:not([hidden])", timeout=10000)
        assert "changed" in b.inner_text("#conflict-text")
        assert b.get_attribute("#status", "data-state") == "conflict"
        assert set(next(iter(_disk(labels).values()))) == {"lv-ivs-top"}  # nothing overwritten
        b.click("#conflict-merge")
        _settle(b)
        merged = next(iter(_disk(labels).values()))
        assert set(merged) == {"lv-ivs-top", "lv-ivs-bottom"}
        a.close()
        b.close()


def test_killed_server_loses_no_saved_edit(browser: Any, synth: Path, tmp_path: Path) -> None:
    labels = tmp_path / "kill.json"
    server = Server(synth, labels)
    try:
        page = _open(browser, server.url)
        _select(page, "lv-ivs-top")
        _click(page, 30, 40)
        _settle(page)
        page.keyboard.press("ArrowRight")
        page.wait_for_function("window.echomark.state.frame.frame === 1")
        _select(page, "lv-ivs-top")
        _click(page, 31, 41)
        _settle(page)
        server.kill()  # SIGKILL: no shutdown hook runs
        disk = _disk(labels)
        assert len(disk) == 2
        read_labels(labels, strict=True)
        with serving(synth, labels, port=server.port):
            page.reload()
            page.wait_for_selector("body[data-ready='1']")
            assert page.evaluate("Object.keys(window.echomark.state.labels)") == ["lv-ivs-top"]
        page.close()
    finally:
        server.stop()


def test_insert_straight_delete_undo_copy(browser: Any, synth: Path, tmp_path: Path) -> None:
    labels = tmp_path / "tools.json"
    with serving(synth, labels, "--layer", f"release={synth / 'labels.zip'}") as server:
        page = _open(browser, server.url)
        key0 = page.evaluate("window.echomark.state.key")
        _select(page, "curve-lv-post-endo")
        _click(page, 60, 150)
        _click(page, 240, 150)
        _settle(page)
        _click(page, 150, 150.4)  # on the curve: inserted between the two nodes
        _settle(page)
        _click(page, 60, 150)  # select node 0 ...
        page.keyboard.press("s")  # ... and make its segment straight
        _settle(page)
        page.mouse.click(*_at(page, 240, 150), button="right")  # delete the last node
        _settle(page)
        curve = _disk(labels)[key0]["curve-lv-post-endo"][0]
        assert curve["x"] == pytest.approx([60, 150], abs=1)
        assert curve["straight_segment"] == [1, 0]
        page.keyboard.press("Control+z")
        _settle(page)
        assert len(_disk(labels)[key0]["curve-lv-post-endo"][0]["x"]) == 3
        page.keyboard.press("Control+y")
        _settle(page)
        assert len(_disk(labels)[key0]["curve-lv-post-endo"][0]["x"]) == 2
        page.keyboard.press("ArrowRight")
        page.wait_for_function("window.echomark.state.frame.frame === 1")
        page.keyboard.press("c")
        _settle(page)
        release = read_split(synth / "labels.zip", "all")
        other = next(k for k in sorted(release.images) if k[:67] == key0[:67] and k != key0)
        page.evaluate("k => window.echomark.open(k)", other)
        page.click("#btn-copy-layer")
        _settle(page)
        page.close()
    disk = _disk(labels)
    assert len(disk) == 3
    copied = {n: v[0]["type"] for n, v in disk.pop(other).items()}
    assert copied == {n: lab.state.value for n, lab in release.images[other].items()}
    (k0, b0), (_, b1) = sorted(disk.items())
    assert k0 == key0

    def geometry(body: dict[str, Any]) -> dict[str, Any]:
        return {n: [(i["x"], i["y"], i["straight_segment"]) for i in v] for n, v in body.items()}

    assert geometry(b1) == geometry(b0)
