"""The generator keeps every labelled LV inside the sector: contours traceable, calipers placeable."""

from dataclasses import replace

import numpy as np
import pytest

from echomark.errors import InputError
from echomark.labels.schema import LabelState
from echomark.synth.cine import fit_lv_in_sector, make_cine, sample_video

PLAX_LV = ("lv-ivs-top", "lv-ivs-bottom", "lv-pw-top", "lv-pw-bottom")


@pytest.mark.parametrize("varied", [False, True], ids=["default", "varied"])
@pytest.mark.parametrize("view", ["PLAX", "A4C", "A2C", "A3C"])
def test_labelled_lv_is_inside_the_sector_on_every_frame(view: str, varied: bool) -> None:
    # 20 draws per case at a small image: before the fit, 45 % of varied A4C draws (and
    # some A2C/A3C/PLAX ones) had an LV contour or caliper outside the sector
    for seed in range(20):
        cine = make_cine(view, seed, n_frames=12, size=(96, 120), render=False, varied=varied)
        for f, labels in cine.labels.items():
            if view == "PLAX":
                states = {labels[n].state for n in PLAX_LV}
                assert states == {LabelState.POINT}, (seed, f, states)
            else:
                assert labels["curve-lv-endo"].state is LabelState.CURVE, (seed, f)


def test_a_placement_that_fits_is_kept_and_one_that_does_not_is_moved() -> None:
    spec = sample_video("A4C", np.random.default_rng(3), size=(192, 240), varied=True)
    assert fit_lv_in_sector(spec) is spec  # no draw spent, nothing changed
    out = replace(spec, pose=replace(spec.pose, tx_cm=spec.pose.tx_cm + 6.0))
    moved = fit_lv_in_sector(out)
    assert moved.anatomy is spec.anatomy and moved.pose != out.pose
    assert fit_lv_in_sector(moved) is moved


def test_a_sector_too_small_for_any_placement_is_an_input_error() -> None:
    spec = sample_video("A4C", np.random.default_rng(3), size=(192, 240))
    g = spec.geometry
    k = 2.0 / g.depth_cm  # a 2 cm deep sector (4 cm zoomed out) cannot hold an LV
    tiny = replace(
        g, depth_cm=2.0, dx_cm_per_px=k * g.dx_cm_per_px, dy_cm_per_px=k * g.dy_cm_per_px
    )
    with pytest.raises(InputError, match="does not fit"):
        fit_lv_in_sector(replace(spec, geometry=tiny))
