"""Image keys, PNG coding, folder and zip stores, verification and the calibration CSV."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from echomark.cache.keys import ImageKey, VideoCode
from echomark.cache.physical import read_physical_csv, write_physical_csv
from echomark.cache.png import decode_png, encode_png
from echomark.cache.store import FolderStore, ZipStore, open_store
from echomark.cache.verify import Severity, verify_store
from echomark.cache.writer import CacheWriter, write_zip, zip_folder
from echomark.calibration import Calibration, CalibrationSource
from echomark.cli.main import main
from echomark.errors import CacheError, ImageKeyError
from echomark.fileio import atomic_path

HEX_A = hashlib.sha256(b"a").hexdigest()
HEX_B = hashlib.sha256(b"b").hexdigest()


def _frame(seed: int, shape: tuple[int, ...] = (24, 32)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture()
def cache_dir(tmp_path: Path) -> Path:
    w = CacheWriter(tmp_path / "ds")
    for f in range(3):
        w.write(ImageKey("01", HEX_A, f), _frame(f))
    w.write(ImageKey("02", HEX_B, 0), _frame(9, (24, 32, 3)))
    zip_folder(tmp_path / "ds", tmp_path / "ds" / "png-cache.zip")
    return tmp_path / "ds"


# --- keys -------------------------------------------------------------------------------


def test_key_round_trip_and_layout() -> None:
    k = ImageKey.parse(f"01-{HEX_A}-0023.png")
    assert (k.dataset_class, k.hex, k.frame) == ("01", HEX_A, 23)
    assert k.name == f"01-{HEX_A}-0023.png"
    assert k.relpath == f"01/{HEX_A[:2]}/{HEX_A[2:4]}/01-{HEX_A}-0023.png"
    assert str(k.video) == f"01-{HEX_A}" and len(str(k.video)) == 67 and len(k.stem) == 72


def test_key_accepts_seed_unprefixed_name_and_duplicate_suffix() -> None:
    assert ImageKey.parse(f"{HEX_A}-0001.png", default_class="02").dataset_class == "02"
    assert ImageKey.parse(f"01-{HEX_A}-0001.png_(2)").frame == 1
    with pytest.raises(ImageKeyError, match="no dataset class"):
        ImageKey.parse(f"{HEX_A}-0001.png")


@pytest.mark.parametrize(
    "bad",
    ["", "01-xyz-0000.png", f"01-{HEX_A[:-1]}-0000.png", f"01-{HEX_A}-000.png", f"1-{HEX_A}-0000.png",
     f"01-{HEX_A.upper()}-0000.png", f"01-{HEX_A}-0000.jpg"],
)  # fmt: skip
def test_bad_keys_are_rejected_with_the_name(bad: str) -> None:
    with pytest.raises(ImageKeyError) as ei:
        ImageKey.parse(bad)
    assert repr(bad) in str(ei.value)


def test_video_code_parse() -> None:
    assert VideoCode.parse(f"02-{HEX_B}").dataset_class == "02"
    with pytest.raises(ImageKeyError):
        VideoCode.parse(f"02-{HEX_B}-0000")


# --- PNG --------------------------------------------------------------------------------


def _chunk_types(png: bytes) -> list[bytes]:
    out, pos = [], 8
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        out.append(png[pos + 4 : pos + 8])
        pos += 12 + n
    return out


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3)])
def test_png_round_trip_exact_and_without_metadata(shape: tuple[int, ...]) -> None:
    img = _frame(1, shape)
    png = encode_png(img)
    assert np.array_equal(decode_png(png), img)
    assert set(_chunk_types(png)) <= {b"IHDR", b"IDAT", b"IEND"}


def test_png_rejects_bad_input() -> None:
    with pytest.raises(CacheError, match="uint8"):
        encode_png(np.zeros((2, 2), np.float32))
    with pytest.raises(CacheError, match="signature"):
        decode_png(b"GIF89a....", name="x.png")
    good = encode_png(_frame(2))
    with pytest.raises(CacheError, match="corrupt"):
        decode_png(good[:40], name="x.png")


# --- stores -----------------------------------------------------------------------------


def test_zip_and_folder_give_identical_pixels(cache_dir: Path) -> None:
    folder = open_store(cache_dir / "png-cache")
    zipped = open_store(cache_dir / "png-cache.zip")
    assert isinstance(folder, FolderStore) and isinstance(zipped, ZipStore)
    assert folder.keys() == zipped.keys() and len(zipped) == 4
    for k in folder.keys():
        assert np.array_equal(folder.read(k), zipped.read(k))
    assert np.array_equal(zipped.read(ImageKey("01", HEX_A, 2)), _frame(2))
    assert zipped.read(ImageKey("02", HEX_B, 0)).shape == (24, 32, 3)
    assert {str(v): f for v, f in zipped.videos().items()} == {
        f"01-{HEX_A}": [0, 1, 2],
        f"02-{HEX_B}": [0],
    }


def test_store_reads_seed_style_unprefixed_files(tmp_path: Path) -> None:
    k = ImageKey("01", HEX_A, 4)
    p = tmp_path / "png-cache" / k.relpath_unprefixed
    p.parent.mkdir(parents=True)
    p.write_bytes(encode_png(_frame(4)))
    for store in (open_store(tmp_path), open_store(tmp_path / "png-cache")):
        assert store.keys() == [k]
        assert np.array_equal(store.read(k.name), _frame(4))


def test_zip_is_deterministic(cache_dir: Path, tmp_path: Path) -> None:
    zip_folder(cache_dir, tmp_path / "again.zip")
    assert (tmp_path / "again.zip").read_bytes() == (cache_dir / "png-cache.zip").read_bytes()


def test_missing_frame_is_a_cache_error(cache_dir: Path) -> None:
    store = open_store(cache_dir / "png-cache.zip")
    with pytest.raises(CacheError, match=r"0009\.png"):
        store.read(ImageKey("01", HEX_A, 9))


@pytest.mark.parametrize(
    "member", ["../evil.png", "/abs/01-x.png", "png-cache/../../x.png", "C:/x.png"]
)
def test_zip_with_unsafe_member_is_refused(tmp_path: Path, member: str) -> None:
    z = tmp_path / "bad.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(member, b"x")
    with pytest.raises(CacheError, match="unsafe zip member"):
        open_store(z)
    assert main(["cache", "verify", str(z)]) == 2


def test_not_a_zip_and_nothing_there(tmp_path: Path) -> None:
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(CacheError, match="not a zip"):
        open_store(tmp_path / "junk.zip")
    with pytest.raises(CacheError, match="no png-cache"):
        open_store(tmp_path)


def _read_in_child(store: ZipStore, key: ImageKey) -> int:
    return int(store.read(key).sum())


def test_zip_store_is_safe_in_worker_processes(cache_dir: Path) -> None:
    store = open_store(cache_dir / "png-cache.zip")
    keys = store.keys()
    expected = [int(store.read(k).sum()) for k in keys]  # parent opens the handle first
    for method in ("fork", "spawn"):
        with mp.get_context(method).Pool(2) as pool:
            got = pool.starmap(_read_in_child, [(store, k) for k in keys])
        assert got == expected
    assert pickle.loads(pickle.dumps(store)).read(keys[0]).shape == (24, 32)


# --- verify -----------------------------------------------------------------------------


def test_verify_clean_cache(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify_store(open_store(cache_dir)) == []
    assert main(["cache", "verify", str(cache_dir / "png-cache.zip")]) == 0
    assert "OK: 4 frames, 0 errors" in capsys.readouterr().out


def test_verify_reports_corrupt_non_png_missing_and_stray(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = encode_png(_frame(0))
    members = [
        (f"png-cache/{ImageKey('01', HEX_A, 0).relpath}", good),
        (f"png-cache/{ImageKey('01', HEX_A, 1).relpath}", good[:60]),  # truncated
        (f"png-cache/{ImageKey('01', HEX_A, 2).relpath}", b"\xff\xd8\xff\xe0 jpeg"),  # not a PNG
        ("png-cache/README.txt", b"hello"),
    ]
    write_zip(tmp_path / "c.zip", members)
    problems = verify_store(open_store(tmp_path / "c.zip"), [ImageKey("01", HEX_A, 7)])
    msgs = {(p.item[-8:], p.severity) for p in problems}
    assert ("0001.png", Severity.ERROR) in msgs and ("0002.png", Severity.ERROR) in msgs
    assert ("0007.png", Severity.ERROR) in msgs
    assert any(
        p.item == "png-cache/README.txt" and p.severity is Severity.WARNING for p in problems
    )
    assert main(["cache", "verify", "--json", str(tmp_path / "c.zip")]) == 1
    assert '"errors": 2' in capsys.readouterr().out


def test_cache_ls(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "ls", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    assert f"01-{HEX_A}      3 frames" in out
    assert main(["cache", "ls", "--frames", "--json", str(cache_dir)]) == 0
    assert f"02-{HEX_B}-0000.png" in capsys.readouterr().out


# --- calibration CSV and atomic writes --------------------------------------------------


def test_physical_csv_round_trip(tmp_path: Path) -> None:
    cm = {f"01-{HEX_A}": (0.0254767, 0.0254767), f"02-{HEX_B}": (0.03, 0.031)}
    m = {k: Calibration.from_cm_per_px(*v) for k, v in cm.items()}
    path = tmp_path / "01_database_physical.csv"
    write_physical_csv(path, m)
    # the file keeps the cm values exactly as given
    assert path.read_text().splitlines()[1] == f"01-{HEX_A},0.0254767,0.0254767"
    back = read_physical_csv(path)
    assert {k: (c.dx_cm_per_px, c.dy_cm_per_px) for k, c in back.items()} == cm
    assert back[f"02-{HEX_B}"].dy_mm_per_px == pytest.approx(0.31)
    assert back[f"02-{HEX_B}"].source is CalibrationSource.CSV


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("FileHash,PhysicalDeltaX\n", "missing column"),
        (f"FileHash,PhysicalDeltaX,PhysicalDeltaY\n01-{HEX_A},abc,0.1\n", "row 2: PhysicalDeltaX is not a number"),
        (f"FileHash,PhysicalDeltaX,PhysicalDeltaY\n01-{HEX_A},0.1,-1\n", "positive"),
        (f"FileHash,PhysicalDeltaX,PhysicalDeltaY\n01-{HEX_A},0.1,nan\n", "positive"),
        ("FileHash,PhysicalDeltaX,PhysicalDeltaY\nabc,0.1,0.1\n", "FileHash"),
    ],
)  # fmt: skip
def test_physical_csv_errors_name_file_and_row(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "cal.csv"
    p.write_text(text)
    with pytest.raises(CacheError, match=match) as ei:
        read_physical_csv(p)
    assert str(p) in str(ei.value)


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert dest.read_bytes() == b"old" and list(tmp_path.iterdir()) == [dest]


def test_atomic_writes_get_ordinary_permissions(tmp_path: Path) -> None:
    import os

    from echomark.fileio import atomic_write_bytes

    atomic_write_bytes(tmp_path / "f.bin", b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o666 & ~mask
