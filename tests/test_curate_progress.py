"""curate's progress: the shared helper's plain periodic lines when stderr is not a terminal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import echomark.progress
from echomark.cli.main import main
from echomark.synth.dicom import Regions, write_us_dicom

LINE = re.compile(r"^curating: (\d+) of (\d+) frames \((\d+) %\)$")


def test_curate_prints_periodic_plain_lines_off_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_us_dicom(src / "a.dcm", seed=7, frames=4, rows=96, cols=128)
    write_us_dicom(src / "b.dcm", seed=8, frames=6, rows=96, cols=128, regions=Regions.NONE)
    monkeypatch.setattr(echomark.progress, "PLAIN_EVERY_S", 0.0)  # a line at every step
    rc = main(["curate", str(src), "--out", str(tmp_path / "out"), "--no-ocr"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "\r" not in err  # no tqdm bar redraws in a log
    lines = [m for m in map(LINE.match, err.splitlines()) if m]
    assert len(lines) >= 2, err
    assert lines[-1].groups() == ("10", "10", "100")
    done = [int(m.group(1)) for m in lines]
    assert done == sorted(done)


def test_curate_quiet_prints_no_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_us_dicom(tmp_path / "a.dcm", seed=7, frames=3, rows=96, cols=128)
    monkeypatch.setattr(echomark.progress, "PLAIN_EVERY_S", 0.0)
    assert main(["curate", str(src), "--out", str(tmp_path / "out"), "--no-ocr", "-q"]) == 0
    assert "curating:" not in capsys.readouterr().err
