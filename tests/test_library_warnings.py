"""Library warnings raised while a verb runs come out as one echomark line each."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from echomark.cli.main import main
from echomark.synth.dicom import write_us_dicom


def _warning_lines(err: str, verb: str) -> list[str]:
    lines = [line for line in err.splitlines() if line.strip()]
    # Nothing of Python's raw warning format: "path.py:440: UserWarning: ..." + source line.
    assert not [line for line in lines if ".py:" in line or line.startswith("  ")], lines
    assert "Traceback" not in err
    return [line for line in lines if line.startswith(f"echomark {verb}: warning:")]


def test_a_pydicom_warning_is_one_echomark_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pydicom
    from pydicom import config

    src = write_us_dicom(tmp_path / "a.dcm", seed=7, frames=3, rows=96, cols=128)
    ds = pydicom.dcmread(src)
    old = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # writing it here is not the verb under test
            ds.Manufacturer = "M" * 80  # LO allows 64: pydicom warns when it is read
            ds.save_as(src)
    finally:
        config.settings.writing_validation_mode = old
    capsys.readouterr()
    assert main(["curate", str(src), "--out", str(tmp_path / "out"), "--no-ocr"]) == 0
    warned = _warning_lines(capsys.readouterr().err, "curate")
    assert len(warned) == 1, warned
    assert "(from pydicom)" in warned[0] and "maximum length of 64" in warned[0]


def test_a_matplotlib_warning_is_one_echomark_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    import matplotlib.figure

    from predict_helpers import tiny_checkpoint

    save = matplotlib.figure.Figure.savefig

    def savefig_with_a_warning(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # A real matplotlib warning ("identical low and high xlims") while a plot is made.
        self.axes[0].set_xlim(1.0, 1.0)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig_with_a_warning)
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    dcm = get_testdata_file("OBXXXX1A.dcm")
    video = "00-" + hashlib.sha256(Path(dcm).read_bytes()).hexdigest()
    views = tmp_path / "views.csv"
    views.write_text(f"FileHash,view\n{video},A4C\n")
    capsys.readouterr()
    rc = main(["measure", dcm, "--checkpoint", str(ckpt), "--views", str(views),
               "--out", str(tmp_path / "o"), "--no-ocr"])  # fmt: skip
    assert rc == 3  # random weights: nothing passes the quality gate (as test_measure_dicom)
    warned = _warning_lines(capsys.readouterr().err, "measure")
    # One line per warning shown (Python shows a warning once per place it is raised).
    assert len(warned) == 1, warned
    assert "UserWarning" in warned[0] and "identical low and high xlims" in warned[0]
