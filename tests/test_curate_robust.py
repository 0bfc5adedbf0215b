"""Curation under concurrency and crashes: one writer per folder, no orphaned workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from echomark.cli.main import main
from echomark.fileio import folder_lock
from echomark.synth.dicom import write_us_dicom


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_second_curation_into_a_locked_folder_fails_at_once(tmp_path, capsys) -> None:
    src = write_us_dicom(tmp_path / "a.dcm", frames=2, rows=64, cols=80)
    out = tmp_path / "out"
    with folder_lock(out):  # what a running curation holds
        t0 = time.monotonic()
        rc = main(["curate", str(src), "--out", str(out), "--no-ocr"])
        waited = time.monotonic() - t0
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 75 and len(err) == 1 and "another echomark process" in err[0]
    assert waited < 5 and not out.exists()
    # Once the first one is done, the folder is free again.
    assert main(["curate", str(src), "--out", str(out), "--no-ocr", "-q"]) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_a_two_worker_curation_leaves_no_worker(tmp_path) -> None:
    src = write_us_dicom(tmp_path / "long.dcm", frames=400, rows=240, cols=320)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "echomark", "curate", str(src), "--out", str(tmp_path / "o"),
         "--workers", "2", "--no-ocr", "-q"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            workers = _descendants(proc.pid)
            # resource tracker + forkserver + 2 workers, and frames being written
            if len(workers) >= 4 and any((tmp_path / "o").rglob("*.png")):
                break
            time.sleep(0.1)
        assert proc.poll() is None and len(workers) >= 4, "curation ended before the kill"
        workers = _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        survivors = [p for p in workers if _alive(p)]
        assert not survivors, f"processes outlived the killed curation: {survivors}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in _descendants(proc.pid):
            os.kill(p, signal.SIGKILL)
