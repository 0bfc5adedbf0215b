"""Curating from a real Orthanc (DICOMweb and DIMSE) equals curating the same files from disk.

Orthanc runs in a loopback-only network namespace (see ``tests/orthanc_server.py``); every
client is an ``echomark`` subprocess entered into that namespace.
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from echomark.synth.dicom import FakePHI, synth_us_dataset, write_us_dicom
from orthanc_server import (
    AET,
    CLIENT_AET,
    DICOM_PORT,
    HTTP_PORT,
    PASSWORD,
    USER,
    Orthanc,
    unavailable_reason,
)

#: pydicom-data ultrasound files (no two sharing a SOP Instance UID: Orthanc would keep one).
PYDICOM_US = ["examples_ybr_color", "examples_palette", "JPGLosslessP14SV1_1s_1f_8b", "US1_J2KR"]
DICOMWEB = f"dicomweb+http://127.0.0.1:{HTTP_PORT}/dicom-web"
DIMSE = f"dimse://{AET}@127.0.0.1:{DICOM_PORT}"


def _inputs(folder: Path) -> list[Path]:
    folder.mkdir()
    paths = [Path(shutil.copy(get_testdata_file(n + ".dcm"), folder)) for n in PYDICOM_US]
    paths.append(write_us_dicom(folder / "syn-grey.dcm", seed=1, frames=6))
    paths.append(
        write_us_dicom(folder / "syn-rle.dcm", seed=2, frames=5, rle=True, colour_box=True)
    )
    # Same Study/Series UIDs as seed 1 under another patient: Orthanc then holds two studies
    # with one UID, and a study-level retrieve answers 404 (instances are fetched singly).
    ds = synth_us_dataset(seed=3, frames=4, phi=FakePHI.random(99))
    first = synth_us_dataset(seed=1, frames=1)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = first.StudyInstanceUID, first.SeriesInstanceUID
    ds.save_as(folder / "syn-shared-study.dcm", enforce_file_format=True)
    paths.append(folder / "syn-shared-study.dcm")
    return paths


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no namespaced Orthanc: {reason}")
    tmp = tmp_path_factory.mktemp("orthanc")
    server = Orthanc(tmp / "state")
    try:
        inputs = _inputs(tmp / "in")
        assert server.upload(inputs) == ["Success"] * len(inputs)
        server.inputs = inputs  # type: ignore[attr-defined]
        server.tmp = tmp  # type: ignore[attr-defined]
        yield server
    finally:
        server.stop()


def _curate(server, *args):
    return server.run([sys.executable, "-m", "echomark", "curate", "--no-ocr", "--quiet", *args])


@pytest.fixture(scope="module")
def from_disk(orthanc):
    out = orthanc.tmp / "disk"
    from echomark.dicom.curate import CurateOptions, curate

    curate([str(p) for p in orthanc.inputs], CurateOptions("01", out, ocr=False))
    return out


def _tree(root: Path, skip=("curate/fetched.log",)) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and str(p.relative_to(root)) not in skip
    }


def test_dicomweb_curation_is_byte_identical_to_disk(orthanc, from_disk):
    out = orthanc.tmp / "web"
    done = _curate(orthanc, DICOMWEB, "--query", "ModalitiesInStudy=US", "--out", str(out))
    assert done.returncode == 0, done.stderr
    disk, web = _tree(from_disk), _tree(out)
    assert sum(k.endswith(".png") for k in disk) == 6 + 5 + 4 + 30 + 1 + 1 + 1
    assert web.keys() == disk.keys()
    assert [k for k in disk if web[k] != disk[k]] == []
    # The rerun fetches nothing: everything listed is already curated.
    again = _curate(
        orthanc, DICOMWEB, "--query", "ModalitiesInStudy=US", "--out", str(out), "--json"
    )
    assert again.returncode == 0, again.stderr
    assert '"already_curated": 7' in again.stdout and '"fetched": 0' in again.stdout
    assert _tree(out) == web


def _videos(out: Path) -> list[tuple[tuple[tuple[str, str], ...], tuple[bytes, ...]]]:
    """Each video as (manifest row without its code, its PNG bytes): transport-free content."""
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    videos = []
    for row in rows:
        code = row.pop("code")
        pngs = sorted(out.glob(f"png-cache/*/*/*/{code}-*.png"))
        assert len(pngs) == int(row["frames"])
        videos.append((tuple(sorted(row.items())), tuple(p.read_bytes() for p in pngs)))
    return sorted(videos)


def test_dimse_curation_has_the_same_pixels_frames_and_manifest_rows(orthanc, from_disk):
    out = orthanc.tmp / "dimse"
    done = _curate(orthanc, DIMSE, "--calling-aet", CLIENT_AET, "--out", str(out))
    assert done.returncode == 0, done.stderr
    disk, dimse = _videos(from_disk), _videos(out)
    assert len(dimse) == 7
    assert dimse == disk
    # Codes from the DICOM content are the same over DIMSE as from disk: the whole folder is.
    out, disk_out = orthanc.tmp / "dimse-content", orthanc.tmp / "disk-content"
    done = _curate(orthanc, DIMSE, "--calling-aet", CLIENT_AET, "--code-from", "content",
                   "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    from echomark.dicom.codes import CodeSource
    from echomark.dicom.curate import CurateOptions, curate

    options = CurateOptions("01", disk_out, ocr=False, code_source=CodeSource.CONTENT)
    curate([str(p) for p in orthanc.inputs], options)
    assert _tree(out) == _tree(disk_out)
    assert _tree(out).keys() != _tree(from_disk).keys()  # other codes than file codes


@pytest.mark.parametrize(
    ("server", "extra", "message"),
    [
        (f"dimse://WRONG@127.0.0.1:{DICOM_PORT}", [],
         "association rejected: the peer's AE title is not 'WRONG' (wrong called AE title)"),
        (DIMSE, ["--calling-aet", "STRANGER"],
         "association rejected: the peer does not know calling AE title 'STRANGER'"),
        (f"dimse://{AET}@127.0.0.1:4299", [],
         "C-FIND at STUDY level failed after 2 attempts: cannot connect"),
    ],
)  # fmt: skip
def test_dimse_refusals_are_one_line_errors(orthanc, tmp_path, server, extra, message):
    done = _curate(orthanc, server, *extra, "--retries", "1", "--timeout", "2", "--out",
                   str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("echomark curate: error: ") and message in lines[0]
    ), lines
    assert not list((tmp_path / "out").rglob("*.png"))


def test_dicomweb_credentials_from_netrc_else_401(orthanc, tmp_path):
    out = orthanc.tmp / "web"  # curated by the identity test when run first; fine either way
    no_creds = {"ECHOMARK_DICOMWEB_USER": "", "HOME": str(tmp_path), "NETRC": ""}
    env = {k: v for k, v in no_creds.items()}
    done = orthanc.run(
        [sys.executable, "-m", "echomark", "curate", "--no-ocr", "--quiet", DICOMWEB,
         "--retries", "0", "--out", str(tmp_path / "o")],
        env=env,
    )  # fmt: skip
    assert done.returncode == 2
    assert (
        "error: dicomweb http://127.0.0.1:8042/dicom-web: QIDO-RS study search failed: HTTP 401"
        in done.stderr
    )
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    netrc.chmod(0o600)
    done = orthanc.run(
        [sys.executable, "-m", "echomark", "curate", "--no-ocr", "--quiet", DICOMWEB,
         "--query", "ModalitiesInStudy=XX", "--out", str(out)],
        env={**env, "NETRC": str(netrc)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr


READ_BACK = """
import json, sys
from io import BytesIO
import pydicom
from echomark.measure.sr import read_report
from echomark.sources.base import RetryPolicy, parse_server_spec
from echomark.sources.dicomweb import DicomWebSource
src = DicomWebSource(parse_server_spec(sys.argv[1]), query={"ModalitiesInStudy": "SR"},
                     policy=RetryPolicy(retries=0, timeout_s=10))
rows = []
for ref in src.list_instances():
    ds = pydicom.dcmread(BytesIO(src.fetch(ref)))
    rows += [[v.tracking, v.value, v.status] for v in read_report(ds)]
print(json.dumps(rows))
"""


def test_sr_stow_then_qido_reads_back_the_csv(orthanc, tmp_path):
    pytest.importorskip("highdicom")
    import json

    from test_measure_sr import csv_rows, measure_inputs

    out, sr = tmp_path / "out", tmp_path / "sr"
    done = orthanc.run(
        [sys.executable, "-m", "echomark", "measure", *measure_inputs(tmp_path), "--out", str(out),
         "--sr", str(sr), "--stow", DICOMWEB],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"stored 2 SR report(s) to {DICOMWEB}" in done.stderr
    rows = json.loads(orthanc.python(READ_BACK, DICOMWEB))
    assert {(t, v, s) for t, v, s in rows} == csv_rows(out / "measurements.csv")
    assert len(rows) == 28
