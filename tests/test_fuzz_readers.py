"""Property-based fuzzing of the readers that take files from users: labels, calibration CSV,
DICOM. Whatever the bytes, each either reads them or raises its own one-line error."""

from __future__ import annotations

import io
import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from echomark.cache.physical import MAX_CM_PER_PX, parse_physical_csv
from echomark.errors import CacheError, DicomError, LabelError
from echomark.labels.io import decode_json_bytes, labels_from_json, read_labels, read_labels_stream
from echomark.labels.schema import LabelFile

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEY = "01-" + "ab" * 32 + "-0003.png"
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
label_values = st.fixed_dictionaries(
    {"type": st.sampled_from(["point", "curve", "off", "blurred", "POINT", "x"])},
    optional={
        "x": st.one_of(st.text(max_size=20), st.lists(st.floats(), max_size=4), st.floats()),
        "y": st.one_of(st.text(max_size=20), st.lists(st.floats(), max_size=4), st.floats()),
        "conf": st.one_of(st.floats(), st.booleans(), st.text(max_size=3)),
    },
)
label_files = st.dictionaries(
    st.one_of(st.just(KEY), st.text(max_size=70)),
    st.one_of(
        st.dictionaries(
            st.sampled_from(["lv-ivs-top", "curve-lv-endo", "x"]), label_values, max_size=3
        ),
        st.fixed_dictionaries(
            {
                "labels": st.dictionaries(
                    st.sampled_from(["lv-ivs-top", "mv-ant-hinge"]),
                    label_values | st.lists(label_values, max_size=2),
                    max_size=2,
                )
            }
        ),
        json_values,
    ),
    max_size=4,
)


def _summary(lf: LabelFile) -> tuple:
    return (
        {
            k: {n: (lab.state, [i.xy.tolist() for i in lab.instances]) for n, lab in v.items()}
            for k, v in lf.images.items()
        },
        [(p.severity, p.key, p.label, p.message) for p in lf.problems],
        lf.format,
        lf.wrapped,
    )


@FUZZ
@given(st.binary(max_size=3000))
def test_labels_reader_takes_any_bytes(data: bytes) -> None:
    try:
        lf = read_labels(data)
    except LabelError as exc:
        assert "\n" not in str(exc).strip()
        return
    for labels in lf.images.values():
        for label in labels.values():
            for inst in label.instances:
                assert all(math.isfinite(v) and abs(v) <= 1e6 for v in inst.xy.ravel())


@FUZZ
@given(label_files, st.booleans())
def test_streamed_labels_read_like_the_whole_file(obj: dict, strict: bool) -> None:
    text = json.dumps(obj, allow_nan=True).encode()
    try:
        eager = labels_from_json(decode_json_bytes(text, "f"), source="f", strict=strict)
    except LabelError as exc:
        with pytest.raises(LabelError) as got:
            read_labels_stream(io.BytesIO(text), source="f", strict=strict)
        assert str(got.value) == str(exc)
        return
    streamed = read_labels_stream(io.BytesIO(text), source="f", strict=strict)
    assert _summary(streamed) == _summary(eager)


@FUZZ
@given(st.text(max_size=400))
def test_calibration_csv_reader_takes_any_text(text: str) -> None:
    try:
        mapping = parse_physical_csv(text, source="c.csv")
    except CacheError as exc:
        assert str(exc).startswith("c.csv")
        return
    for cal in mapping.values():
        for v in (cal.dx_mm_per_px, cal.dy_mm_per_px):
            assert math.isfinite(v) and 0 < v <= MAX_CM_PER_PX * 10


@FUZZ
@given(
    st.lists(
        st.sampled_from(["0.05", "1e300", "-1", "nan", "inf", "0", "x", "", "2"]),
        min_size=2,
        max_size=2,
    ),
    st.sampled_from(["01-" + "a" * 64, "01-xyz", "", "02-" + "b" * 64]),
)
def test_calibration_rows_are_checked(values: list[str], code: str) -> None:
    text = f"FileHash,PhysicalDeltaX,PhysicalDeltaY\n{code},{values[0]},{values[1]}\n"
    try:
        mapping = parse_physical_csv(text, source="c.csv")
    except CacheError:
        return
    assert values == ["0.05", "0.05"] or all(v in ("0.05",) for v in values)
    assert list(mapping) == [code]


@pytest.fixture(scope="module")
def dicom_bytes() -> bytes:
    from echomark.synth.dicom import write_us_dicom

    with tempfile.TemporaryDirectory() as tmp:
        return write_us_dicom(Path(tmp) / "a.dcm", rows=32, cols=40, frames=2).read_bytes()


@FUZZ
@given(data=st.data())
def test_dicom_reader_takes_damaged_files(dicom_bytes: bytes, data: st.DataObject) -> None:
    from echomark.dicom.read import SkipFile, frame_count, read_header

    raw = bytearray(dicom_bytes)
    cut = data.draw(st.integers(0, len(raw)), label="cut")
    flips = data.draw(
        st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), max_size=8),
        label="flips",
    )
    for pos, value in flips:
        raw[pos] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.dcm"
        path.write_bytes(bytes(raw[:cut]))
        try:
            ds = read_header(path)
        except (SkipFile, DicomError) as exc:
            assert "\n" not in str(exc).strip()
            return
        assert 1 <= frame_count(ds) <= 10000
