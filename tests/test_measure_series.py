"""ED/ES from the LV series itself: no smoothing, no frame time, edges confirmed, sparse frames."""

import math

import numpy as np
import pytest

from echomark.measure.series import (
    Beat,
    CyclePhase,
    extrema,
    find_phases,
    heart_rate_bpm,
    pair_beats,
    value_at,
)


def _lvid(t):
    # ED (max) at t = 0.1 + k * 0.8 s, ES (min) half a cycle later; heart rate 75/min
    return 45.0 + 8.0 * np.cos(2 * np.pi * (t - 0.1) / 0.8)


@pytest.mark.parametrize("fps", [25.0, 50.0, 80.0])
def test_phases_need_no_frame_time_and_do_not_depend_on_frame_rate(fps):
    rng = np.random.default_rng(1)
    dt = 1.0 / fps
    frames = np.arange(int(3.2 / dt))
    t = frames * dt
    v = _lvid(t) + rng.normal(0, 0.3, len(t))
    v[5:9] = np.nan  # a gap
    v[rng.choice(len(v), 6, replace=False)] = np.nan
    ph = find_phases(v, frames)  # no frame time
    # ED at 0.1 s is only 0.1 s from the start: a true turning point, found
    assert np.array(ph.ed) * dt == pytest.approx([0.1, 0.9, 1.7, 2.5], abs=0.05)
    assert np.array(ph.es) * dt == pytest.approx([0.5, 1.3, 2.1, 2.9], abs=0.05)
    assert len(ph.beats) == 4
    for b in ph.beats:
        assert 0.3 < (b.es - b.ed) * dt < 0.5
        assert math.isfinite(v[b.ed]) and math.isfinite(v[b.es])  # measured frames only


def test_frame_time_merges_double_peaks():
    dt = 0.01
    t = np.arange(0, 2.0, dt)
    # a notched maximum: two bumps 0.15 s apart near each ED, deep enough to count
    v = _lvid(t) + 3.0 * np.cos(2 * np.pi * t / 0.15)
    merged = find_phases(v, frame_time_s=dt)
    assert np.all(np.diff(merged.ed) * dt >= 0.3)


def test_exact_peak_frame_is_chosen_not_a_smoothed_neighbour():
    # an asymmetric peak (slow fill, fast ejection) that Savitzky-Golay moved a frame early
    v = [40, 44, 47, 49, 50, 50.6, 51, 45, 38, 33, 31, 33, 36, 39, 42, 45, 47, 48.5, 49.5, 50.2]
    ph = find_phases(v)
    assert ph.ed == [6] and ph.es == [10]
    assert ph.beats == [Beat(6, 10)]


def test_still_contracting_last_frame_is_not_end_systole():
    t = np.arange(0, 1.25, 0.02)  # ends mid-systole of the second beat (ES would be 65)
    v = _lvid(t)
    ph = find_phases(v)
    last = len(t) - 1
    assert last not in ph.es
    assert [(b.ed, b.es) for b in ph.beats] == [(5, 25)]
    assert any(f"ES at frame {last}" in r and "not confirmed" in r for r in ph.refused)
    # a loop that starts mid-way down the slope: no ED invented at frame 0
    ph = find_phases(_lvid(t + 0.3))
    assert 0 not in ph.ed


def test_triggered_loop_starting_at_end_diastole_is_confirmed_by_the_next():
    t = np.arange(0, 1.0, 0.02)  # ED in the first frame and again at 0.8 s
    ph = find_phases(_lvid(t + 0.1))
    assert ph.ed[:1] == [0] and ph.beats[0] == Beat(0, 20)


def test_sparse_labels_pick_among_labelled_frames_and_few_frames_suffice():
    t = np.arange(30) * 0.03
    full = _lvid(t)
    labelled = {0: full[0], 3: full[3], 7: full[7], 13: full[13], 17: full[17], 22: full[22]}
    ph = find_phases(labelled)
    assert set(ph.ed + ph.es) <= set(labelled)
    assert ph.ed == [3] and ph.es == [17]  # the labelled frames nearest the extrema
    ph = find_phases({2: 50.0, 10: 40.0, 20: 50.0})  # three labelled frames are enough
    assert ph.ed == [2, 20] and ph.es == [10] and ph.beats == [Beat(2, 10)]
    assert find_phases({2: 50.0, 10: 40.0}).beats == []


def test_es_before_ed_forms_a_beat_and_given_phases_are_used():
    assert pair_beats([20], [5]) == [Beat(20, 5, es_first=True)]
    assert [(b.ed, b.es) for b in pair_beats([0, 10, 20], [5, 6, 25])] == [(0, 5), (20, 25)]
    given = {4: CyclePhase.ED, 9: CyclePhase.ES}
    ph = find_phases({4: 1.0, 9: 2.0, 12: 3.0}, given=given)
    assert ph.beats == [Beat(4, 9, given=True)]


def test_value_at_marks_interpolation_and_refuses_long_gaps():
    assert value_at({0: 1.0, 2: 3.0}, 2) == (3.0, False)
    assert value_at({0: 1.0, 2: 3.0}, 1) == (2.0, True)
    v, interp = value_at({0: 1.0, 9: 3.0}, 4)
    assert math.isnan(v) and not interp
    assert heart_rate_bpm([0, 30, 60], 1 / 30) == pytest.approx(60.0)
    assert math.isnan(heart_rate_bpm([3], 0.02))


def test_extrema_rules():
    x = [5.0, 4, 2, 1, 2, 4, 5, 4, 2, 1]
    assert extrema(x, 2.0) == [(0, False), (6, True)]
    assert extrema([1.0, 2.0, 3.0], 0.5) == [(2, False)]
    assert extrema([1.0], 0.5) == []
    assert extrema([1.0, 3.0, 2.9, 3.0, 1.0], 0.5) == [(1, True)]  # a notch is not two peaks
    with pytest.raises(ValueError, match="repeat"):
        find_phases([1.0, 2.0], [0, 0])
