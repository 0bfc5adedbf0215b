import os
import subprocess
import sys

import pytest

from echomark.cli.main import main
from echomark.dicom.curate import ABORT_ENV
from echomark.synth.dicom import Regions, write_us_dicom

pytest.importorskip("rapidocr")


def _curate_subprocess(src, out, abort_after=None, workers=1, extra=()):
    env = dict(os.environ)
    env.pop(ABORT_ENV, None)
    if abort_after is not None:
        env[ABORT_ENV] = str(abort_after)
    cmd = [sys.executable, "-m", "echomark", "curate", str(src), "--out", str(out), "--zip",
           "--quiet", "--workers", str(workers), *extra]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def _tree(out):
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def test_killed_run_resumed_is_byte_identical(tmp_path):
    src = tmp_path / "src"
    write_us_dicom(src / "a.dcm", seed=7, frames=10, rows=120, cols=160)
    write_us_dicom(src / "b.dcm", seed=8, frames=10, rows=120, cols=160, regions=Regions.NONE)
    killed = tmp_path / "killed"
    proc = _curate_subprocess(src, killed, abort_after=13)
    assert proc.returncode == 75, proc.stderr  # died mid-way, like a kill
    assert len(list(killed.rglob("*.png"))) == 13
    assert not (killed / "png-cache.zip").exists()
    # What a kill during atomic_path leaves: a temp file beside the video's frames.
    frame = sorted(killed.rglob("*.png"))[-1]
    stale = frame.parent / f".{frame.name[:-8]}9999.png.k1ll.tmp"
    stale.write_bytes(b"half a PNG")
    proc = _curate_subprocess(src, killed)
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists()
    assert "7 written, 13 already present" in proc.stdout

    # Reference: one uninterrupted run, in-process, with two worker processes.
    ref = tmp_path / "ref"
    assert main(["curate", str(src), "--out", str(ref), "--zip", "--workers", "2",
                 "--quiet"]) == 0  # fmt: skip
    a, b = _tree(killed), _tree(ref)
    assert a.keys() == b.keys() and len(a) > 20
    assert [k for k in a if a[k] != b[k]] == []
    assert (killed / "png-cache.zip").read_bytes() == (ref / "png-cache.zip").read_bytes()

    # A worker process dying mid-way (pool mode): the run stops with a clear error and
    # keeps what it wrote; the resumed run completes to the same bytes.
    # (Without OCR, to keep the test short: OCR determinism is covered above.)
    pool, plain = tmp_path / "pool", tmp_path / "plain"
    proc = _curate_subprocess(src, pool, abort_after=4, workers=2, extra=["--no-ocr"])
    assert proc.returncode == 2 and "worker process died" in proc.stderr
    assert 0 < len(list(pool.rglob("*.png"))) < 20
    assert _curate_subprocess(src, pool, workers=2, extra=["--no-ocr"]).returncode == 0
    assert main(["curate", str(src), "--out", str(plain), "--zip", "--no-ocr", "--quiet"]) == 0
    assert _tree(pool) == _tree(plain)

    # A further run changes nothing and writes nothing.
    before = _tree(ref)
    assert main(["curate", str(src), "--out", str(ref), "--zip", "--quiet"]) == 0
    assert _tree(ref) == before


def test_changed_settings_replan_and_rewrite(tmp_path, capsys):
    src = write_us_dicom(tmp_path / "a.dcm", seed=9, frames=3, rows=120, cols=160)
    out = tmp_path / "out"
    assert main(["curate", str(src), "--out", str(out), "--no-ocr", "--quiet"]) == 0
    rec_path = next((out / "curate" / "records").glob("*.json"))
    frame = next(out.rglob("*-0000.png"))
    plain = frame.read_bytes()
    assert '"ocr": "off"' in rec_path.read_text()
    capsys.readouterr()
    # Same inputs, another PNG level: the old plan no longer matches, so every frame is redone.
    argv = ["curate", str(src), "--out", str(out), "--no-ocr", "--quiet", "--compress-level", "9"]
    assert main(argv) == 0
    assert "3 written, 0 already present" in capsys.readouterr().out
    assert frame.read_bytes() != plain


def test_resume_with_other_deidentification_is_refused(tmp_path, capsys):
    src = write_us_dicom(tmp_path / "a.dcm", seed=9, frames=3, rows=120, cols=160)
    out = tmp_path / "out"
    assert main(["curate", str(src), "--out", str(out), "--no-ocr", "--quiet"]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    # OCR now on: the folder would mix frames with and without burnt-in text removal.
    assert main(["curate", str(src), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "masking only (--no-ocr)" in err[0] and "new --out" in err[0]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_progress_bar_counts_all_frames(tmp_path, capsys, monkeypatch):
    import echomark.progress
    from echomark.dicom.curate import CurateOptions, curate

    # Not a terminal: plain lines, here at every step.
    monkeypatch.setattr(echomark.progress, "PLAIN_EVERY_S", 0.0)
    src = write_us_dicom(tmp_path / "a.dcm", seed=3, frames=4, rows=60, cols=80)
    res = curate([src], CurateOptions("01", tmp_path / "out", ocr=False), progress=True)
    assert res.frames_written == 4
    assert "4 of 4 frames (100 %)" in capsys.readouterr().err
    res = curate([src], CurateOptions("01", tmp_path / "out", ocr=False), progress=True)
    assert res.frames_written == 0 and res.frames_skipped == 4
    assert "4 of 4 frames (100 %)" in capsys.readouterr().err
