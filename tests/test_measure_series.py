import math

import numpy as np
import pytest

from echomark.measure.series import fill_gaps, find_phases, pair_beats, smooth


def _lvid(t):
    # ED (max) at t = 0.1 + k * 0.8 s, ES (min) half a cycle later; heart rate 75/min
    return 45.0 + 8.0 * np.cos(2 * np.pi * (t - 0.1) / 0.8)


@pytest.mark.parametrize("fps", [25.0, 50.0, 80.0])
def test_phases_do_not_depend_on_frame_rate(fps):
    rng = np.random.default_rng(1)
    dt = 1.0 / fps
    frames = np.arange(int(3.2 / dt))
    t = frames * dt
    v = _lvid(t) + rng.normal(0, 0.3, len(t))
    v[5:9] = np.nan  # a gap
    v[rng.choice(len(v), 6, replace=False)] = np.nan
    ph = find_phases(v, frames, dt)
    ed_t = ph.times_s[ph.ed]
    es_t = ph.times_s[ph.es]
    # ED at 0.1 s is only 0.1 s from the start: found by its inner fall alone
    assert ed_t == pytest.approx([0.1, 0.9, 1.7, 2.5], abs=max(1.5 * dt, 0.03))
    assert es_t == pytest.approx([0.5, 1.3, 2.1, 2.9], abs=max(1.5 * dt, 0.03))
    assert len(ph.beats) == 4
    for ed, es in ph.beats:
        assert 0.3 < ph.times_s[es] - ph.times_s[ed] < 0.5


def test_min_distance_in_seconds_suppresses_double_peaks():
    dt = 0.01
    t = np.arange(0, 2.0, dt)
    # a notched maximum: two bumps 0.15 s apart near each ED
    v = _lvid(t) + 1.5 * np.cos(2 * np.pi * t / 0.15)
    ph = find_phases(v, np.arange(len(t)), dt, window_s=0.02)
    assert np.all(np.diff(ph.times_s[ph.ed]) >= 0.3)


def test_fill_gaps_and_smooth():
    out = fill_gaps([np.nan, 2.0, np.nan, 4.0], [0.0, 1.0, 2.0, 3.0])
    assert out.tolist() == [2.0, 2.0, 3.0, 4.0]
    assert np.isnan(fill_gaps([np.nan, np.nan], [0, 1])).all()
    line = np.arange(20.0)
    assert smooth(line, 0.02, window_s=0.1) == pytest.approx(line)  # SG keeps lines
    assert smooth(line[:3], 0.02, window_s=0.5).tolist() == line[:3].tolist()  # too short


def test_sparse_frames_and_errors():
    frames = [0, 10, 20]
    ph = find_phases([1.0, 2.0, 1.0], frames, 0.02)
    assert len(ph.frames) == 21  # put on the full frame grid
    assert math.isnan(ph.raw[5]) and ph.filled[5] == pytest.approx(1.5)
    with pytest.raises(ValueError):
        find_phases([1.0, 2.0], [0, 0], 0.02)
    with pytest.raises(ValueError):
        find_phases([1.0], [0], 0.0)


def test_pair_beats_requires_es_between_eds():
    assert pair_beats([0, 10, 20], [5, 6, 25]) == [(0, 5), (20, 25)]
    assert pair_beats([], [1]) == []


def test_edges_triggered_loop_starts_at_end_diastole():
    dt = 0.02
    t = np.arange(0, 1.0, dt)  # one beat, ECG-triggered: ED in the first frame
    ph = find_phases(_lvid(t + 0.1), np.arange(len(t)), dt)
    assert ph.ed.tolist()[:1] == [0]
    assert ph.beats[0] == (0, round(0.4 / dt))
    # starting mid-way down the slope (value well below the top): no ED invented at frame 0
    ph = find_phases(_lvid(t + 0.3), np.arange(len(t)), dt)
    assert 0 not in ph.ed.tolist()


def test_maxima_edge_rules():
    from echomark.measure.series import maxima

    x = np.array([5.0, 4, 2, 1, 2, 4, 5, 4, 2, 1])
    assert maxima(x, 2, 2.0).tolist() == [0, 6]
    assert maxima(x, 8, 2.0).tolist() == [0]  # distance keeps the first of two equal peaks
    assert maxima([1.0, 2.0, 3.0], 1, 0.5).tolist() == [2]
    assert maxima([1.0], 1, 0.5).tolist() == []
