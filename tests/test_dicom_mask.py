import numpy as np

from echomark.calibration import UltrasoundRegion
from echomark.dicom import mask as m
from echomark.synth.dicom import FakePHI, render_frames, sector_geometry


def _region(x0, y0, x1, y1, fmt=1):
    return UltrasoundRegion(x0, y0, x1, y1, fmt, 1, 3, 3, 0.05, 0.05)


def test_region_rects_fit_misfit_and_kinds():
    rects, problems = m.region_rects([_region(10, 20, 99, 79), _region(0, 0, 5, 5, fmt=4)], 80, 100)
    assert rects == [(10, 20, 99, 79)] and problems == []  # the waveform region is not kept
    rects, problems = m.region_rects([_region(10, 20, 199, 79)], 80, 100)
    assert rects == [] and "does not fit the 80x100" in problems[0]
    assert m.region_rects([], 80, 100) == ([], ["no SequenceOfUltrasoundRegions"])
    assert m.region_rects([_region(0, 0, 5, 5, fmt=4)], 80, 100)[0] == []


def test_render_and_apply_keep_round_trip():
    spec = m.MaskSpec(
        m.MaskMethod.REGIONS, 6, 8, keep_rects=[(2, 1, 6, 4)], text_rects=[(3, 2, 4, 2)]
    )
    again = m.MaskSpec.from_json(spec.to_json())
    keep = m.render_keep(again)
    assert keep.sum() == 5 * 4 - 2 and not keep[2, 3] and keep[1, 2] and not keep[0, 0]
    img = np.full((6, 8, 3), 200, np.uint8)
    out = m.apply_keep(img, keep)
    assert out[keep].min() == 200 and out[~keep].max() == 0
    band = m.MaskSpec(m.MaskMethod.BAND, 20, 4, band_rows=m.band_rows(20))
    assert m.render_keep(band)[:2].sum() == 0 and m.render_keep(band)[2:].all()


def _synthetic(rows=120, cols=160, frames=8):
    return render_frames(rows, cols, frames, 3, FakePHI())


def test_motion_polygon_covers_sector_not_header():
    frames = _synthetic()
    poly = m.motion_polygon(list(frames))
    keep = m.render_keep(m.MaskSpec(m.MaskMethod.MOTION, 120, 160, keep_polygon=poly))
    (ax, ay), radius, _ = sector_geometry(120, 160)
    assert keep[int(ay + radius * 0.8), int(ax)]  # deep in the sector
    assert not keep[: int(ay) - 4].any()  # the burnt-in header bar is outside
    assert not keep[:, :5].any()  # so are the black corners


def test_fan_polygon_skips_header_bar_and_finds_fan():
    frame = _synthetic(frames=1)[0]
    poly = m.fan_polygon(frame)
    keep = m.render_keep(m.MaskSpec(m.MaskMethod.FAN, 120, 160, keep_polygon=poly))
    (ax, ay), radius, _ = sector_geometry(120, 160)
    assert keep[int(ay + radius * 0.8), int(ax)]
    assert not keep[:10].any()
    assert m.fan_polygon(np.zeros((50, 60), np.uint8)) == []


def test_static_image_keeps_static_text_and_colour_fraction():
    frames = _synthetic()
    static = m.static_image(list(frames))
    bar = 14
    assert static[:bar].max() > 200  # the burnt-in header text...
    assert np.array_equal(static[:bar], frames[0][:bar])  # ...survives the median unchanged
    keep = np.ones(frames.shape[1:], bool)
    assert m.colour_fraction(list(frames), keep) == 0.0
    rgb = render_frames(120, 160, 3, 1, FakePHI(), colour_box=True)
    assert m.colour_fraction(list(rgb), keep) > 0.01
