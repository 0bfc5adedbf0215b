"""Splits read straight out of labels.zip, a folder or one file; unsafe zips refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from echomark.errors import LabelError
from echomark.labels.schema import Severity
from echomark.labels.splits import (
    SPLITS,
    available_splits,
    check_list,
    check_splits,
    read_list,
    read_split,
    read_split_list,
    write_list,
)


def key(video: int, frame: int = 0) -> str:
    return f"01-{video:064x}-{frame:04d}.png"


POINT = {"type": "point", "x": "1.0", "y": "2.0"}
PARTS = {
    "train": [key(1, 0), key(1, 5), key(2, 0)],
    "tune": [key(3, 0)],
    "ival": [key(4, 0), key(4, 9)],
}
PARTS["all"] = sorted(k for s in ("train", "tune", "ival") for k in PARTS[s])


def split_json(keys: list[str]) -> bytes:
    return json.dumps({k: {"labels": {"lv-ivs-top": POINT}} for k in keys}).encode()


def make_zip(path: Path, prefix: str = "labels/", extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for split, keys in PARTS.items():
            zf.writestr(f"{prefix}labels-{split}.json", split_json(keys))
            zf.writestr(f"{prefix}labels-{split}.txt", "".join(k + "\n" for k in keys))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def test_read_every_split_from_zip_without_extracting(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "labels.zip")
    assert available_splits(z) == list(SPLITS)
    for split in SPLITS:
        lf = read_split(z, split)
        assert sorted(lf.images) == sorted(PARTS[split])
        assert lf.source == f"{z}::labels/labels-{split}.json"
        assert read_split_list(z, split) == PARTS[split]
    assert read_list(z, "labels-tune.txt") == PARTS["tune"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.zip"]


def test_read_from_folder_and_single_file(tmp_path: Path) -> None:
    folder = tmp_path / "unzipped" / "labels"
    folder.mkdir(parents=True)
    for split, keys in PARTS.items():
        (folder / f"labels-{split}.json").write_bytes(split_json(keys))
    write_list(folder / "labels-train.txt", PARTS["train"])
    # the folder itself and its parent (one level down) both work
    for where in (folder, folder.parent):
        assert sorted(read_split(where, "ival").images) == sorted(PARTS["ival"])
    assert read_split_list(folder, "train") == PARTS["train"]
    assert read_split_list(folder, "tune") is None
    single = read_split(folder / "labels-tune.json", "ignored-for-a-file")
    assert list(single.images) == PARTS["tune"]
    assert read_list(folder / "labels-train.txt") == PARTS["train"]


def test_missing_split_lists_what_is_there(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "labels.zip")
    with pytest.raises(
        LabelError,
        match=r"no labels-external.json in the zip \(splits present: "
        r"all, train, tune, ival\)",
    ):
        read_split(z, "external")
    with pytest.raises(LabelError, match="bad split name"):
        read_split(z, "../all")


@pytest.mark.parametrize(
    "member", ["../evil.json", "labels/../../evil.txt", "/abs/labels-all.json"]
)
def test_unsafe_zip_member_is_refused_by_name(tmp_path: Path, member: str) -> None:
    z = make_zip(tmp_path / "labels.zip", extra={member: b"{}"})
    with zipfile.ZipFile(z) as zf:
        assert member in zf.namelist()  # zipfile kept the hostile name
    for call in (lambda: read_split(z, "all"), lambda: read_list(z, "labels-all.txt")):
        with pytest.raises(LabelError, match="unsafe zip member name") as info:
            call()
        assert member in str(info.value) and info.value.file == str(z)


def test_not_a_zip_and_missing_path(tmp_path: Path) -> None:
    bad = tmp_path / "labels.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(LabelError, match="not a readable zip") as info:
        read_split(bad, "all")
    assert info.value.file == str(bad)
    with pytest.raises(LabelError, match="no such file"):
        read_split(tmp_path / "nothing", "all")


def test_read_list_rejects_non_utf8(tmp_path: Path) -> None:
    p = tmp_path / "labels-all.txt"
    p.write_bytes(b"caf\xe9\n")
    with pytest.raises(LabelError, match="not UTF-8") as info:
        read_list(p)
    assert info.value.file == str(p)


def test_check_splits_finds_frame_and_video_leaks(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "labels.zip")
    files = {s: read_split(z, s) for s in SPLITS}
    assert check_splits(files) == []
    files["tune"].images[key(1, 5)] = files["train"].images[key(1, 5)]  # frame leak
    files["tune"].images[key(2, 3)] = files["train"].images[key(2, 0)]  # video leak only
    problems = check_splits(files)
    got = {(p.key, p.severity) for p in problems}
    assert (key(1, 5), Severity.ERROR) in got
    assert (key(2, 3), Severity.WARNING) in got
    assert (key(2, 3), Severity.WARNING) in {
        (p.key, p.severity) for p in problems if "not in all" in p.message
    }


def test_check_list_disagreements(tmp_path: Path) -> None:
    lf = read_split(make_zip(tmp_path / "labels.zip"), "tune")
    problems = check_list(lf, [key(3, 0) + "_(1)", key(9)], "labels-tune.txt")
    assert [(p.key, p.message) for p in problems] == [
        (key(9), "listed in labels-tune.txt but not in the JSON")
    ]


def test_folder_holding_only_labels_zip(tmp_path: Path) -> None:
    make_zip(tmp_path / "labels.zip")
    assert available_splits(tmp_path) == list(SPLITS)
    lf = read_split(tmp_path, "tune")
    assert lf.source == f"{tmp_path / 'labels.zip'}::labels/labels-tune.json"
    assert read_split_list(tmp_path, "tune") == PARTS["tune"]


def test_unreadable_file_in_folder_is_label_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "labels-train.txt").write_text(key(1) + "\n")
    (tmp_path / "labels-train.json").write_bytes(split_json([key(1)]))
    real_read_bytes = Path.read_bytes

    def deny(self: Path) -> bytes:
        if self.parent == tmp_path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    for call, name in (
        (lambda: read_list(tmp_path, "labels-train.txt"), "labels-train.txt"),
        (lambda: read_split_list(tmp_path, "train"), "labels-train.txt"),
        (lambda: read_split(tmp_path, "train"), "labels-train.json"),
    ):
        with pytest.raises(LabelError, match="cannot read: Permission denied") as info:
            call()
        assert info.value.file == str(tmp_path / name)
