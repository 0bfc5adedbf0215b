import contextlib
import hashlib
import hmac
import io
import json
import zipfile

import numpy as np
import pytest

from echomark.cache.store import open_store
from echomark.cli.main import main
from echomark.dicom.codes import KEY_ENV
from echomark.synth.dicom import FakePHI, Regions, write_us_dicom

pytest.importorskip("rapidocr")

PHIS = [FakePHI.random(11), FakePHI.random(12), FakePHI.random(13)]
VARIANTS = [  # (regions, colour Doppler box, RLE) -> expected mask method
    (Regions.FIT, False, False, "regions"),
    (Regions.NONE, False, True, "motion"),
    (Regions.MISFIT, True, False, "motion"),
]


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """Three synthetic PHI cines curated once through the CLI, with its stdout/stderr."""
    tmp = tmp_path_factory.mktemp("phi")
    src = tmp / "src"
    for i, (phi, (regions, colour, rle, _)) in enumerate(zip(PHIS, VARIANTS, strict=True)):
        write_us_dicom(src / f"case{i}.dcm", seed=20 + i, frames=6, phi=phi, regions=regions,
                       colour_box=colour, rle=rle)  # fmt: skip
    out = tmp / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(["curate", str(src), "--out", str(out), "--zip"])
    assert rc == 0, stderr.getvalue()
    return src, out, stdout.getvalue(), stderr.getvalue()


def test_no_phi_anywhere_in_outputs_or_logs(curated):
    _, out, stdout, stderr = curated
    assert "curated 3 videos (18 frames" in stdout
    haystacks = [stdout.encode(), stderr.encode()]
    for path in out.rglob("*"):
        haystacks.append(str(path.relative_to(out)).encode())
        if path.is_file():
            haystacks.append(path.read_bytes())
    with zipfile.ZipFile(out / "png-cache.zip") as zf:
        haystacks += [zf.read(n) for n in zf.namelist()]
        assert len(zf.namelist()) == 18
    for phi in PHIS:
        for s in phi.strings():
            for variant in {s, s.lower(), s.title()}:
                assert not [h for h in haystacks if variant.encode() in h], variant


def test_ocr_finds_no_burnt_in_phi_in_outputs(curated):
    from echomark.dicom.ocr import read_text

    _, out, _, _ = curated
    store = open_store(out)
    records = {}
    for rec_path in (out / "curate" / "records").glob("*.json"):
        rec = json.loads(rec_path.read_text())
        records[rec["code"]] = rec
    methods = sorted(r["mask"]["method"] for r in records.values())
    assert methods == sorted(v[3] for v in VARIANTS)
    texts = []
    for video, frames in store.videos().items():
        rec = records[str(video)]
        assert rec["mask"]["text_rects"], "OCR found the in-sector text"
        assert rec["kept_fraction"] > 0.2  # the scan area is still there
        for i in (frames[0], frames[-1]):
            img = store.read(video.frame(i))
            assert img.ndim == (3 if rec["output"] == "rgb" else 2)
            texts += read_text(img)
    joined = " ".join(texts).upper()
    for phi in PHIS:
        for token in phi.ocr_tokens():
            assert token.upper() not in joined
        assert phi.patient_id[2:] not in joined.replace(" ", "")


def test_colour_doppler_kept_in_colour(curated):
    _, out, _, _ = curated
    store = open_store(out)
    colour = [k for k in store.keys() if store.read(k).ndim == 3]
    assert colour and all(np.asarray(store.read(k)).shape[2] == 3 for k in colour)


def test_keyed_codes_and_duplicates(tmp_path, monkeypatch, capsys):
    a = write_us_dicom(tmp_path / "in" / "a.dcm", seed=1, frames=2)
    (tmp_path / "in" / "copy.dcm").write_bytes(a.read_bytes())
    secret = "a-secret-of-some-length"
    monkeypatch.setenv(KEY_ENV, secret)
    out = tmp_path / "in" / "out"  # inside the source folder: must not be read back
    for _ in range(2):
        rc = main(["curate", str(tmp_path / "in"), "--out", str(out), "--no-ocr", "--json"])
        assert rc == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["curated"] == 1 and summary["duplicates"] == 1 and summary["skipped"] == 0
    assert summary["frames"] == 2 and summary["frames_already_present"] == 2
    want = hmac.new(secret.encode(), a.read_bytes(), hashlib.sha256).hexdigest()
    assert [str(v) for v in open_store(out).videos()] == [f"01-{want}"]
    assert want != hashlib.sha256(a.read_bytes()).hexdigest()


def test_failed_file_reported_exit_1_and_others_kept(tmp_path, capsys):
    good = write_us_dicom(tmp_path / "in" / "good.dcm", seed=4, frames=2)
    bad = write_us_dicom(tmp_path / "in" / "bad.dcm", seed=5, frames=3)
    bad.write_bytes(bad.read_bytes()[: -240 * 320])  # truncated pixel data
    rc = main(["curate", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--no-ocr",
               "--class", "02"])  # fmt: skip
    assert rc == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "bad.dcm" in err and "holds 2 frames" in err and "truncated" in err
    store = open_store(tmp_path / "out")
    assert len(store) == 2 and all(k.dataset_class == "02" for k in store.keys())
    assert (tmp_path / "out" / "02_database_physical.csv").read_text().count("\n") == 2
    assert good.exists()


def test_no_mixing_code_schemes_or_classes_in_one_folder(tmp_path, monkeypatch, capsys):
    src = write_us_dicom(tmp_path / "a.dcm", seed=2, frames=1)
    out = str(tmp_path / "out")
    monkeypatch.setenv(KEY_ENV, "first-secret-0123456789")
    assert main(["curate", str(src), "--out", out, "--no-ocr", "--quiet"]) == 0
    monkeypatch.setenv(KEY_ENV, "other-secret-0123456789")
    assert main(["curate", str(src), "--out", out, "--no-ocr", "--quiet"]) == 2
    assert "another key" in capsys.readouterr().err
    monkeypatch.delenv(KEY_ENV)
    assert main(["curate", str(src), "--out", out, "--no-ocr", "--quiet"]) == 2
    assert "hmac-sha256 codes" in capsys.readouterr().err
    monkeypatch.setenv(KEY_ENV, "first-secret-0123456789")
    assert main(["curate", str(src), "--out", out, "--no-ocr", "--class", "02"]) == 1
    assert "already curated in this folder as 01-" in capsys.readouterr().err
    assert len(open_store(out)) == 1
