"""Bad-input corpus: every malformed label file gives a specific, located problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from echomark.cli.main import main
from echomark.errors import LabelError
from echomark.labels.io import read_labels
from echomark.labels.schema import LabelState, Severity

CORPUS = Path(__file__).parent / "data" / "labels_bad"
MANIFEST = json.loads((CORPUS / "expected.json").read_text())
ENTRIES = sorted(MANIFEST["entries"].items())
FILES = sorted(MANIFEST["files"].items())
GOOD_KEY = "01-" + "ab" * 32 + "-0003.png"


def test_corpus_is_big_enough() -> None:
    assert len(ENTRIES) >= 20
    assert len(FILES) >= 5
    on_disk = {p.name for p in CORPUS.glob("*.json")} - {"expected.json"}
    assert on_disk == set(MANIFEST["entries"]) | set(MANIFEST["files"])


@pytest.mark.parametrize(("name", "exp"), ENTRIES, ids=[n for n, _ in ENTRIES])
def test_lenient_read_reports_located_error_and_masks(name: str, exp: dict) -> None:
    path = CORPUS / name
    lf = read_labels(path)
    errors = [p for p in lf.problems if p.severity is Severity.ERROR]
    assert len(errors) == 1, [str(p) for p in lf.problems]
    (err,) = errors
    assert err.file == str(path)
    assert err.key == exp["key"]
    assert err.label == exp["label"]
    assert exp["message"] in err.message
    assert str(err).startswith(f"{path}: {exp['key']}: ")
    # the valid label next to the bad one survives untouched
    assert lf.images[GOOD_KEY]["lv-ivs-bottom"].state is LabelState.POINT
    assert lf.images[GOOD_KEY]["lv-ivs-bottom"].xy.tolist() == [[5.0, 6.0]]
    if exp["label"] is not None:
        assert lf.images[exp["key"]][exp["label"]].state is LabelState.BLURRED
    elif "malformed" in exp["message"]:
        assert exp["key"] not in lf.images and len(lf.images) == 1


@pytest.mark.parametrize(("name", "exp"), ENTRIES, ids=[n for n, _ in ENTRIES])
def test_strict_read_raises_with_context(name: str, exp: dict) -> None:
    path = CORPUS / name
    with pytest.raises(LabelError) as info:
        read_labels(path, strict=True)
    err = info.value
    assert (err.file, err.key, err.field) == (str(path), exp["key"], exp["label"])
    assert exp["message"] in err.message


@pytest.mark.parametrize(("name", "exp"), FILES, ids=[n for n, _ in FILES])
@pytest.mark.parametrize("strict", [False, True])
def test_bad_file_raises_naming_file(name: str, exp: dict, strict: bool) -> None:
    path = CORPUS / name
    with pytest.raises(LabelError) as info:
        read_labels(path, strict=strict)
    assert info.value.file == str(path)
    assert exp["message"] in str(info.value)


def test_cli_validate_lenient_exit_1_one_line_per_problem(capsys: pytest.CaptureFixture) -> None:
    name, exp = "xy_length_mismatch.json", MANIFEST["entries"]["xy_length_mismatch.json"]
    assert main(["labels", "validate", str(CORPUS / name), "--min-severity", "warning"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{CORPUS / name}: {exp['key']}: {exp['label']}: {exp['message']}"]


@pytest.mark.parametrize(
    "name", ["conf_out_of_range.json", "image_key_malformed.json", "x_json_nan_literal.json"]
)
def test_cli_validate_strict_exit_2(name: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["labels", "validate", str(CORPUS / name), "--strict"]) == 2
    err = capsys.readouterr().err
    assert str(CORPUS / name) in err and MANIFEST["entries"][name]["message"] in err


@pytest.mark.parametrize(("name", "exp"), FILES, ids=[n for n, _ in FILES])
def test_cli_validate_bad_file_exit_2(name: str, exp: dict, capsys: pytest.CaptureFixture) -> None:
    assert main(["labels", "validate", str(CORPUS / name)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(CORPUS / name) in err and exp["message"] in err
