"""The packaged label registry: every reference name, kinds, views, colours, channel order."""

from __future__ import annotations

import re

import numpy as np
import pytest

from echomark.errors import ConfigError
from echomark.labels.registry import (
    LabelKind,
    View,
    channels_for_views,
    keys_json,
    kinds_for,
    load_registry,
    parse_registry,
)


def _words(text: str) -> list[str]:
    return text.split()


# Every name of the table in reference-unity-code.md §1.5, brace patterns expanded by hand.
REFERENCE_POINTS = _words("""
lv-apex-endo lv-apex-epi mv-ant-hinge mv-post-hinge
mv-ant-wall-hinge mv-inf-wall-hinge lv-apex-trabec lv-apex-midmyo mv-ant-wall-hinge-midmyo
mv-inf-wall-hinge-midmyo
tv-ant-hinge tv-sep-hinge rv-apex-endo la-roof ra-roof
lv-ivs-top lv-ivs-bottom lv-pw-top lv-pw-bottom rv-top-inner rv-bottom-inner la-top-inner
la-bottom-inner lv-antsep-endo-apex lv-antsep-endo-base lv-antsep-rv-apex lv-antsep-rv-base
lv-post-endo-apex lv-post-endo-base lv-post-epi-apex lv-post-epi-base
ao-valve-top-inner ao-valve-bottom-inner ao-sinus-top-inner ao-sinus-bottom-inner
ao-sinus-top-outer ao-stj-top-inner ao-stj-bottom-inner ao-stj-top-outer ao-asc-top-inner
ao-asc-bottom-inner ao-asc-top-outer lvot-top-inner lvot-bottom-inner av-centre
systolic-peak systolic-curve-start systolic-curve-end e-peak a-peak
""")
REFERENCE_CURVES = _words("""
curve-lv-endo curve-lv-endo-jump curve-mv-hinge-connect curve-mv-ant-apex-connect
curve-mv-post-apex-connect curve-lv-trabec curve-lv-midmyo
curve-rv-endo curve-la-endo curve-ra-endo
curve-lv-antsep-endo curve-lv-antsep-rv curve-lv-post-endo curve-lv-post-epi curve-lv-ed-connect
curve-systolic curve-flow
curve-effusion-lv-visceral curve-effusion-lv-parietal curve-effusion-rv-visceral
curve-effusion-rv-parietal
""")
DERIVED = _words("""
curve-mv-hinge-connect curve-mv-ant-apex-connect curve-mv-post-apex-connect
lv-antsep-endo-apex lv-antsep-endo-base lv-antsep-rv-apex lv-antsep-rv-base
lv-post-endo-apex lv-post-endo-base lv-post-epi-apex lv-post-epi-base curve-lv-ed-connect
""")
AUXILIARY = _words("""
curve-lv-endo-jump curve-mv-hinge-connect curve-mv-ant-apex-connect curve-mv-post-apex-connect
curve-lv-ed-connect
""")


def test_every_reference_name_is_registered_with_its_kind() -> None:
    reg = load_registry()
    assert len(REFERENCE_POINTS) == 50 and len(REFERENCE_CURVES) == 21
    missing = [n for n in REFERENCE_POINTS + REFERENCE_CURVES if n not in reg]
    assert missing == []
    assert set(reg) == set(REFERENCE_POINTS + REFERENCE_CURVES)
    assert all(reg[n].kind is LabelKind.POINT for n in REFERENCE_POINTS)
    assert all(reg[n].kind is LabelKind.CURVE for n in REFERENCE_CURVES)
    assert sorted(n for n, s in reg.items() if s.derived) == sorted(DERIVED)
    assert sorted(n for n, s in reg.items() if s.auxiliary) == sorted(AUXILIARY)
    assert all(s.description for s in reg.values())


def test_views_spot_checks() -> None:
    reg = load_registry()
    assert set(reg["curve-lv-endo"].views) == {View.A4C, View.A2C, View.A3C}
    assert reg["tv-sep-hinge"].views == (View.A4C,)
    assert reg["lv-ivs-top"].views == (View.PLAX,)
    assert reg["av-centre"].views == (View.PLAX_AO,)
    assert reg["e-peak"].views == (View.DOPPLER,)


def _lab(hexes: list[str]) -> np.ndarray:
    rgb = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in hexes]) / 255.0
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def test_colours_distinct_and_readable_on_dark_grey() -> None:
    reg = load_registry()
    colours = [s.colour for s in reg.values()]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)
    assert len(set(colours)) == len(colours)
    rgb = np.array([s.rgb for s in reg.values()])
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    luminance = lin @ [0.2126, 0.7152, 0.0722]
    grey = 0.0513  # relative luminance of #404040
    assert ((luminance + 0.05) / (grey + 0.05)).min() >= 3.0  # WCAG contrast for graphics
    lab = _lab(colours)
    dist = np.linalg.norm(lab[:, None] - lab[None], axis=-1) + np.eye(len(lab)) * 1e9
    assert dist.min() > 15.0  # CIE76 delta E between any two labels


def test_channels_for_views_order_and_flags() -> None:
    reg = load_registry()
    order = list(reg)
    plax = channels_for_views([View.PLAX])
    assert plax == sorted(plax, key=order.index)
    assert plax[:4] == ["lv-ivs-top", "lv-ivs-bottom", "lv-pw-top", "lv-pw-bottom"]
    assert not any(reg[n].derived for n in plax)
    with_derived = channels_for_views(["PLAX"], include_derived=True)
    assert set(with_derived) - set(plax) == {n for n in DERIVED if View.PLAX in reg[n].views}
    assert "curve-lv-endo-jump" not in channels_for_views(["A4C"], include_auxiliary=False)
    both = channels_for_views(["A2C", View.PLAX])
    assert both == [n for n in order if n in set(plax) | set(channels_for_views(["A2C"]))]
    assert channels_for_views([]) == []
    with pytest.raises(ConfigError, match="known views"):
        channels_for_views(["A6C"])


def test_load_registry_returns_a_copy_and_kinds_for() -> None:
    reg = load_registry()
    reg.clear()
    assert len(load_registry()) == 71
    assert kinds_for(["curve-flow", "a-peak"]) == [LabelKind.CURVE, LabelKind.POINT]
    with pytest.raises(ConfigError, match="not in the registry"):
        kinds_for(["nope"])
    entry = keys_json(["av-centre"])["av-centre"]
    assert entry["type"] == "point" and entry["active"] == "yes"
    assert len(entry["rgb"].split()) == 3


HEADER = "name,kind,views,colour,derived,auxiliary,description\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("a,point,PLAX,#ff0000,no,no,x\na,point,PLAX,#00ff00,no,no,y\n", "duplicate label name"),
        ("a,point,PLAX,red,no,no,x\n", "colour must be #rrggbb"),
        ("a,line,PLAX,#ff0000,no,no,x\n", "'line' is not a valid LabelKind"),
        ("a,point,A6C,#ff0000,no,no,x\n", "'A6C' is not a valid View"),
        ("a,point,PLAX,#ff0000,maybe,no,x\n", "expected yes/no"),
        ("A B,point,PLAX,#ff0000,no,no,x\n", "bad label name"),
    ],
)
def test_parse_registry_rejects_bad_rows(row: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_registry(HEADER + row, source="r.csv")


def test_parse_registry_missing_column() -> None:
    with pytest.raises(ConfigError, match="missing column"):
        parse_registry("name,kind\na,point\n")
