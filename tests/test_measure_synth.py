"""Measurements on engineer S's synthetic cines, whose truth comes from the analytic anatomy."""

import math

import numpy as np
import pytest

from echomark.calibration import Calibration
from echomark.labels.schema import LabelFile
from echomark.labels.vocabulary import Measurement
from echomark.measure.pipeline import RowKind, measure_frame, measure_labels

M = Measurement

synth = pytest.importorskip("echomark.synth.cine")


def _cal(cine):
    return Calibration.from_cm_per_px(*cine.spacing_cm_per_px, source="synth")


@pytest.mark.parametrize("seed", range(4))
def test_plax_dimensions_within_0p2_mm_of_truth(seed):
    cine = synth.make_cine("PLAX", seed, n_frames=30, render=False)
    checked = 0
    for f, labels in cine.labels.items():
        m = measure_frame(labels, _cal(cine), "PLAX")
        for name in ("IVS", "LVID", "LVPW"):
            truth, unit = cine.truth[f][name]
            assert unit == "mm"
            if math.isfinite(m[M(name)]):
                assert abs(m[M(name)] - truth) < 0.2, (seed, f, name, m[M(name)], truth)
                checked += 1
    assert checked >= 60


def test_a4c_length_area_volume_against_truth():
    n_len = n_area = 0
    # many synthetic A4C curves run out of the sector (blurred): pool several videos
    for seed in range(4):
        cine = synth.make_cine("A4C", seed, n_frames=12, render=False)
        n_len, n_area = _check_a4c(cine, n_len, n_area)
    assert n_len >= 10 and n_area >= 5


def _check_a4c(cine, n_len, n_area):
    for f, labels in cine.labels.items():
        m = measure_frame(labels, _cal(cine), "A4C")
        t = cine.truth[f]
        if math.isfinite(m[M.LV_length_A4C]):
            assert m[M.LV_length_A4C] == pytest.approx(t["LV_length"][0], abs=0.2)
            n_len += 1
        if math.isfinite(m[M.LV_area_A4C]):
            assert t["LV_area"][1] == "mm2"
            assert m[M.LV_area_A4C] * 100 == pytest.approx(t["LV_area"][0], rel=0.01)
            al = m[M.LV_volume_A4C_area_length]
            assert al == pytest.approx(t["LV_volume_al"][0], rel=0.015)
            n_area += 1
    return n_len, n_area


@pytest.mark.parametrize("seed", [0, 1])
def test_plax_end_diastole_found_at_the_true_frames(seed):
    cine = synth.make_cine("PLAX", seed, n_frames=90, render=False)
    video = "01-" + "f" * 64
    images = {f"{video}-{f:04d}.png": lab for f, lab in cine.labels.items()}
    res = measure_labels(
        LabelFile(images=images), _cal(cine), frame_time_s=cine.frame_time_ms / 1000.0
    )
    contraction = np.array([cine.spec.phase(i).contraction for i in range(90)])
    true_ed = [i for i in range(1, 89) if contraction[i] <= min(contraction[i - 1 : i + 2])]
    found = sorted(
        {r.frame for r in res.rows if r.kind is RowKind.BEAT and r.measurement is M.LVIDd}
    )
    assert len(found) >= 2
    for f in found:
        assert min(abs(f - t) for t in true_ed) <= 1
    # the ED values are the truth at those frames, to label precision
    for r in res.rows:
        if r.kind is RowKind.BEAT and r.measurement is M.LVIDd:
            assert r.value == pytest.approx(cine.truth[r.frame]["LVID"][0], abs=0.2)


def test_written_dataset_ground_truth_labels_agree_with_truth_csv(tmp_path):
    dataset = pytest.importorskip("echomark.synth.dataset")
    from echomark.labels.splits import read_split
    from echomark.measure import demo_agreement

    data = tmp_path / "synth"
    dataset.write_dataset(
        data, dataset.DatasetConfig(n_videos=2, n_external=0, frames_per_video=30, size=(160, 200))
    )
    labels = read_split(data / "labels.zip", "all")
    res = demo_agreement(predictions=labels, data_dir=data, out_dir=tmp_path / "agr")
    stats = res["measurements"]
    for name in ("IVS", "LVID", "LVPW", "IVSd", "LVIDd", "LVPWd"):
        assert stats[name]["n"] >= 1
        assert abs(stats[name]["bias"]) + 2 * (stats[name]["sd_diff"] or 0) < 0.2, name
    limits = {"LV_length_A4C": 0.2, "LV_area_A4C": 0.2, "LV_volume_A4C_area_length": 1}
    for name, limit in limits.items():
        if name in stats:  # the A4C curve may leave the sector on every labelled frame
            assert stats[name]["mae"] < limit
    assert res.plots and (tmp_path / "agr" / "measurement_agreement.png").stat().st_size > 5000
    assert res["problems"] == []


def test_agreement_covers_every_vocabulary_measurement_in_the_truth(tmp_path):
    """EF, volumes, GLS, biplane: every measurement the synthetic truth has is compared."""
    import csv

    from echomark.labels.splits import read_split
    from echomark.measure import demo_agreement
    from echomark.synth.config import DatasetConfig
    from echomark.synth.dataset import TRUTH_DESCRIPTIONS, write_dataset

    data = tmp_path / "synth"
    cfg = DatasetConfig(n_videos=6, n_external=0, labelled_per_video=30, blur_fraction=0.0,
                        size=(160, 200), views=("PLAX", "A4C", "A2C"), biplane=True)  # fmt: skip
    write_dataset(data, cfg)
    res = demo_agreement(
        predictions=read_split(data / "labels.zip", "all"), data_dir=data, out_dir=tmp_path / "a"
    )
    with (data / "truth.csv").open() as f:
        names = {r["measurement"] for r in csv.DictReader(f)} - TRUTH_DESCRIPTIONS
    stats = res["measurements"]
    assert names == set(stats)
    for name in ("EF_A4C_disks", "EF_A2C_disks", "LVEDV_A2C_disks", "EF_biplane", "FS"):
        assert stats[name]["n"] >= 1 and stats[name]["mae"] < 0.5, name
    assert stats["LVEDV_biplane_disks"]["mae"] < 0.5  # mL, against the method on exact outlines
