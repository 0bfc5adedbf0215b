"""Non-ultrasound DICOMs: refused by predict and measure with one line, let through by --force."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from echomark.cli.main import main
from echomark.dicom.memory import curate_in_memory
from echomark.errors import DicomError

pytest.importorskip("torch")

CASES = [("CT_small.dcm", "CT", (128, 128)), ("MR_small.dcm", "MR", (64, 64))]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from predict_helpers import tiny_checkpoint

    return tiny_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt")


@pytest.mark.parametrize(("name", "modality", "shape"), CASES)
def test_non_ultrasound_is_refused_naming_file_modality_and_force(
    name: str, modality: str, shape: tuple[int, int], ckpt: Path, tmp_path: Path, capsys
) -> None:
    dcm = get_testdata_file(name)
    for argv in (
        ["predict", dcm, "--checkpoint", str(ckpt), "--out", str(tmp_path / "p"), "--no-ocr"],
        ["measure", dcm, "--checkpoint", str(ckpt), "--out", str(tmp_path / "m"), "--no-ocr",
         "--mm-per-px", "0.5"],
    ):  # fmt: skip
        capsys.readouterr()
        assert main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1, lines
        assert dcm in lines[0] and f"Modality {modality}" in lines[0] and "--force" in lines[0]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("name", "modality", "shape"), CASES)
def test_force_predicts_a_non_ultrasound_dicom_with_one_warning(
    name: str, modality: str, shape: tuple[int, int], ckpt: Path, tmp_path: Path, capsys
) -> None:
    dcm = get_testdata_file(name)
    out = tmp_path / "p"
    rc = main(["predict", dcm, "--checkpoint", str(ckpt), "--out", str(out), "--no-ocr",
               "--force"])  # fmt: skip
    assert rc == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(err) == 1, err
    assert err[0].startswith("echomark predict: warning:")
    assert f"Modality {modality}" in err[0] and "--force" in err[0]
    video = "00-" + hashlib.sha256(Path(dcm).read_bytes()).hexdigest()
    keys = list(json.loads((out / "predictions.json").read_text()))
    assert len(keys) == 1 and keys[0].startswith(video)


@pytest.mark.parametrize(("name", "modality", "shape"), CASES)
def test_forced_non_ultrasound_is_masked_like_a_cine_without_regions(
    name: str, modality: str, shape: tuple[int, int]
) -> None:
    dcm = get_testdata_file(name)
    with pytest.raises(DicomError, match="--force"):
        curate_in_memory(dcm, ocr=False)
    cine = curate_in_memory(dcm, ocr=False, force=True)
    frame = cine.frames[0]
    assert frame.shape == shape and frame.dtype == np.uint8
    # No ultrasound regions: no spacing, and the fallback mask (fan or top band) still
    # blanks something and keeps most of the image.
    assert cine.calibration is None and "SequenceOfUltrasoundRegions" in cine.calibration_note
    assert 0.5 < float((frame > 0).mean()) < 1.0


def test_measure_force_gets_past_the_modality_check(ckpt: Path, tmp_path: Path, capsys) -> None:
    dcm = get_testdata_file("CT_small.dcm")
    rc = main(["measure", dcm, "--checkpoint", str(ckpt), "--out", str(tmp_path / "m"),
               "--no-ocr", "--mm-per-px", "0.5", "--force", "--json"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc != 2, err
    warn = [line for line in err.splitlines() if "warning" in line and "Modality CT" in line]
    assert len(warn) == 1 and warn[0].startswith("echomark measure: warning:")
    assert (tmp_path / "m" / "measurements.json").is_file()
