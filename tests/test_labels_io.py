"""Reading and writing label JSON: golden values, byte-identical round trips, v1 <-> v2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from echomark.errors import LabelError
from echomark.labels import Label, LabelFile, LabelFormat, LabelState, Severity
from echomark.labels.io import dumps_labels, read_labels, v1_losses, write_labels


def key(i: int, frame: int = 0) -> str:
    return f"01-{i:064x}-{frame:04d}.png"


K1, K2 = key(1), key(2, 17)

# A release-form (v1) file in the canonical layout, written out by hand.
V1_CANONICAL = (
    '{"' + K1 + '": {"labels": {'
    '"curve-lv-endo": {"type": "curve", "x": "10.0 12.5 20.0", "y": "100.0 90.5 100.0"}, '
    '"lv-apex-endo": {"type": "point", "x": "123.4", "y": "56.7"}, '
    '"mv-ant-hinge": {"type": "off", "x": "", "y": ""}, '
    '"mv-post-hinge": {"type": "blurred", "x": "", "y": ""}}}, '
    '"' + K2 + '": {"labels": {'
    '"lv-apex-endo": {"type": "point", "x": "0.0", "y": "479.9"}}}}\n'
)

V2_TEXT = json.dumps(
    {
        K1: {
            "curve-lv-endo": [
                {
                    "type": "curve",
                    "x": "10.04 12.55 20.0",
                    "y": [100.0, 90.46, 100.0],
                    "straight_segment": "0 1 0",
                    "conf": 0.875,
                    "curve_len": 33.1,
                }
            ],
            "systolic-peak": [
                {"type": "point", "x": [5.25], "y": [7.0]},
                {"type": "point", "x": [55.0], "y": [9.75]},
            ],
            "mv-ant-hinge": [{"type": "off", "x": "", "y": ""}],
            "mv-post-hinge": [{"type": "blurred", "x": [], "y": []}],
            "curve-mv-hinge-connect": [
                {"type": "curve", "x": [1, 2], "y": [3, 4], "straight_segment": [True, True]}
            ],
        }
    }
)


def test_golden_values_v1() -> None:
    lf = read_labels(V1_CANONICAL.encode(), source="mem.json")
    assert (lf.format, lf.wrapped, lf.source) == (LabelFormat.V1, True, "mem.json")
    assert list(lf.images) == [K1, K2]
    img = lf.images[K1]
    assert img["lv-apex-endo"].state is LabelState.POINT
    assert img["lv-apex-endo"].xy.tolist() == [[123.4, 56.7]]
    curve = img["curve-lv-endo"]
    assert curve.state is LabelState.CURVE
    assert curve.xy[:, 0].tolist() == [10.0, 12.5, 20.0]  # x = column
    assert curve.xy[:, 1].tolist() == [100.0, 90.5, 100.0]  # y = row
    assert curve.instances[0].straight is None and curve.instances[0].conf is None
    assert img["mv-ant-hinge"] == Label.off()
    assert img["mv-post-hinge"] == Label.blurred()
    assert lf.images[K2]["lv-apex-endo"].xy.tolist() == [[0.0, 479.9]]
    assert lf.problems == []


def test_v1_bytes_identical_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "labels-all.json"
    src.write_text(V1_CANONICAL)
    out = tmp_path / "out.json"
    write_labels(read_labels(src), out)
    assert out.read_bytes() == src.read_bytes()


def test_v1_unwrapped_round_trip_keeps_no_wrapper() -> None:
    obj = json.loads(V1_CANONICAL)
    bare = {k: v["labels"] for k, v in obj.items()}
    text = json.dumps(bare, sort_keys=True) + "\n"
    lf = read_labels(text.encode())
    assert lf.wrapped is False
    assert dumps_labels(lf) == text
    assert json.loads(dumps_labels(lf, wrapped=True)) == obj


def test_v1_rounding_as_release() -> None:
    lf = LabelFile(
        {K1: {"a": Label.point(12.34, 0.06), "b": Label.curve([[-0.04, 7], [99.96, 10.25]])}}
    )
    obj = json.loads(dumps_labels(lf))[K1]["labels"]
    assert obj["a"] == {"type": "point", "x": "12.3", "y": "0.1"}
    assert obj["b"] == {"type": "curve", "x": "0.0 100.0", "y": "7.0 10.2"}


def test_v2_parsing_golden() -> None:
    lf = read_labels(V2_TEXT.encode())
    assert (lf.format, lf.wrapped) == (LabelFormat.V2, False)
    img = lf.images[K1]
    inst = img["curve-lv-endo"].instances[0]
    assert inst.xy.tolist() == [[10.04, 100.0], [12.55, 90.46], [20.0, 100.0]]
    assert inst.straight == (False, True, False)
    assert inst.conf == 0.875
    peaks = img["systolic-peak"]
    assert [i.xy.tolist() for i in peaks.instances] == [[[5.25, 7.0]], [[55.0, 9.75]]]
    assert img["curve-mv-hinge-connect"].instances[0].straight == (True, True)
    assert img["mv-ant-hinge"].state is LabelState.OFF
    assert img["mv-post-hinge"].state is LabelState.BLURRED
    assert [p.severity for p in lf.problems] == []


def test_v2_bytes_identical_round_trip() -> None:
    first = dumps_labels(read_labels(V2_TEXT.encode()))
    assert dumps_labels(read_labels(first.encode())) == first
    obj = json.loads(first)[K1]
    assert obj["curve-lv-endo"] == [
        {
            "conf": 0.875,
            "straight_segment": [0, 1, 0],
            "type": "curve",
            "x": [10.04, 12.55, 20.0],
            "y": [100.0, 90.46, 100.0],
        }
    ]
    assert obj["mv-ant-hinge"] == [{"straight_segment": [], "type": "off", "x": [], "y": []}]


def test_v2_to_v1_to_v2_keeps_states_and_1dp_coordinates() -> None:
    v2 = read_labels(V2_TEXT.encode())
    with pytest.raises(LabelError, match="2 instances, but v1 holds one per label") as info:
        dumps_labels(v2, LabelFormat.V1)
    assert (info.value.key, info.value.field) == (K1, "systolic-peak")
    assert v1_losses(v2) == {"conf": 1, "straight_segment": 2, "extra_instances": 1, "rounded": 2}

    v1_text = dumps_labels(v2, LabelFormat.V1, first_instance_only=True)
    assert json.loads(v1_text)[K1]["labels"]["curve-lv-endo"]["x"] == "10.0 12.6 20.0"
    back = read_labels(dumps_labels(read_labels(v1_text.encode()), LabelFormat.V2).encode())
    assert back.format is LabelFormat.V2
    for name, before in v2.images[K1].items():
        after = back.images[K1][name]
        assert after.state is before.state, name
        if before.state.drawn:
            # kept: first instance's nodes at 1 dp; lost: conf, straight, extra instances
            np.testing.assert_allclose(after.xy, np.round(before.xy, 1), atol=1e-9)
            assert len(after.instances) == 1
            assert after.instances[0].conf is None and after.instances[0].straight is None


def test_duplicate_suffix_and_repeated_keys_keep_later_entry() -> None:
    k = key(3)
    text = (
        '{"' + k + '": {"labels": {"lv-ivs-top": {"type": "point", "x": "1.0", "y": "1.0"}}}, '
        '"' + k + '_(1)": {"labels": {"lv-ivs-top": {"type": "point", "x": "2.0", "y": "2.0"}}}, '
        '"' + key(4) + '": {"labels": {"lv-ivs-top": {"type": "off", "x": "", "y": ""}, '
        '"lv-ivs-top": {"type": "point", "x": "3.0", "y": "3.0"}}}}'
    )
    lf = read_labels(text.encode())
    assert lf.images[k]["lv-ivs-top"].xy.tolist() == [[2.0, 2.0]]
    assert lf.images[key(4)]["lv-ivs-top"].xy.tolist() == [[3.0, 3.0]]
    warnings = [p for p in lf.problems if p.severity is Severity.WARNING]
    assert [(p.key, p.label) for p in warnings] == [(k + "_(1)", None), (key(4), "lv-ivs-top")]
    assert "earlier key" in warnings[0].message and "repeated" in warnings[1].message
    infos = [p for p in lf.problems if p.severity is Severity.INFO]
    assert [p.key for p in infos] == [k + "_(1)"]


def test_key_without_png_is_normalised_and_reported() -> None:
    lf = read_labels(json.dumps({K1[:-4]: {"labels": {}}}).encode())
    assert list(lf.images) == [K1]
    (p,) = lf.problems
    assert p.severity is Severity.INFO and p.key == K1[:-4] and "normalised" in p.message


def test_unknown_label_and_extras_are_info_not_error() -> None:
    text = json.dumps(
        {
            K1: {
                "labels": {
                    "my-new-point": {"type": "point", "x": 4, "y": "5"},
                    "lv-ivs-top": {"type": "off", "x": "1.0", "y": "2.0", "vis": "off"},
                },
                "user": "someone",
            }
        }
    )
    lf = read_labels(text.encode(), strict=True)
    assert lf.images[K1]["my-new-point"].xy.tolist() == [[4.0, 5.0]]  # bare JSON number works
    assert all(p.severity is Severity.INFO for p in lf.problems)
    msgs = {(p.key, p.label): p.message for p in lf.problems}
    assert "not in the registry" in msgs[(None, "my-new-point")]
    assert "coordinates ignored" in msgs[(K1, "lv-ivs-top")]
    assert "user" in msgs[(K1, None)]


def test_bom_and_crlf_are_accepted() -> None:
    data = b"\xef\xbb\xbf" + V1_CANONICAL.replace("}}, ", "}},\r\n").encode()
    assert dumps_labels(read_labels(data)) == V1_CANONICAL


def test_write_is_atomic_and_refusal_leaves_file(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_text("old")
    v2 = read_labels(V2_TEXT.encode())
    with pytest.raises(LabelError):
        write_labels(v2, out, LabelFormat.V1)
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    write_labels(v2, out)
    assert read_labels(out).images[K1]["systolic-peak"] == v2.images[K1]["systolic-peak"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_missing_file_is_label_error(tmp_path: Path) -> None:
    with pytest.raises(LabelError, match="cannot read") as info:
        read_labels(tmp_path / "nope.json")
    assert info.value.file == str(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (Label(LabelState.POINT), "point label has no instances"),
        (Label.curve([[1.0, 2.0]]), "curve instance has 1 node(s)"),
        (Label.point(float("nan"), 1.0), "non-finite coordinate"),
        (Label.point(1.0, 2.0, conf=2.0), "conf 2.0 outside [0, 1]"),
    ],
)
@pytest.mark.parametrize("fmt", [LabelFormat.V1, LabelFormat.V2])
def test_writer_refuses_labels_the_reader_would_reject(
    label: Label, message: str, fmt: LabelFormat
) -> None:
    lf = LabelFile({K1: {"lv-ivs-top": label}}, source="made.json")
    with pytest.raises(LabelError, match=re.escape(message)) as info:
        dumps_labels(lf, fmt)
    assert (info.value.file, info.value.key, info.value.field) == ("made.json", K1, "lv-ivs-top")


def test_known_images_reported_at_read_time() -> None:
    lf = read_labels(V1_CANONICAL.encode(), known_images={K1})
    assert [(p.key, p.message) for p in lf.problems] == [(K2, "image not found in the png-cache")]
    with pytest.raises(LabelError, match="not found in the png-cache"):
        read_labels(V1_CANONICAL.encode(), known_images={K1}, strict=True)


def test_label_file_from_mapping_normalises_keys() -> None:
    from echomark.errors import ImageKeyError
    from echomark.labels.io import label_file_from_mapping

    lf = label_file_from_mapping({K1[:-4]: {"lv-ivs-top": Label.point(1.0, 2.0)}})
    assert list(lf.images) == [K1] and lf.wrapped and lf.format is LabelFormat.V1
    assert json.loads(dumps_labels(lf))[K1]["labels"]["lv-ivs-top"]["x"] == "1.0"
    with pytest.raises(ImageKeyError):
        label_file_from_mapping({"nope": {}})
