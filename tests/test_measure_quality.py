"""The quality gate on inputs a synthetic-only model must not be trusted with.

A real SonoSite A4C cine, pure speckle, a black cine and a PLAX cine measured as A4C: no
value outside its hard limits is ever reported ``ok``, and the report says why. Each with a
random network that "sees" landmarks everywhere, and with a tiny network trained for a few
seconds on synthetic cines only (its tune-calibrated thresholds saved beside ``best.pt``).
"""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from echomark.cli.main import main
from echomark.labels.schema import LabelFile
from echomark.labels.vocabulary import Measurement, spec
from echomark.measure.pipeline import RowKind, measure_labels
from echomark.measure.qc import (
    QcConfig,
    Status,
    area_length_verdict,
    calibrate,
    decide_view,
    interval_verdict,
    read_qc_config,
)

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")


def _gate_holds(out: Path) -> list[dict[str, str]]:
    """Every ok value lies inside its hard limits; every value outside them says why."""
    rows = list(csv.DictReader((out / "measurements.csv").open()))
    assert rows
    for r in rows:
        value = float(r["value"]) if r["value"] else math.nan
        lo, hi = spec(r["measurement"]).limits
        inside = math.isfinite(value) and lo <= value <= hi
        if r["status"] == "ok":
            assert inside, r
            assert r["kind"] != "frame" or r["reasons"] == ""
        else:
            assert r["reasons"], r  # a flagged or rejected value always says why
        if math.isfinite(value) and not inside:
            assert r["status"] == "rejected" and "hard limits" in r["reasons"], r
    return rows


def _banner(out: Path) -> str:
    html = (out / "report.html").read_text()
    assert "class='banner'" in html
    return html


@pytest.fixture(scope="module")
def seeing_model(tmp_path_factory) -> Path:
    """A tiny random network that "sees" landmarks everywhere, some at low confidence."""
    from predict_helpers import tiny_checkpoint

    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    return tiny_checkpoint(path, head_bias=-1.2, head_std=0.3)


@pytest.fixture(scope="module")
def synthetic_model(tmp_path_factory) -> Path:
    """A tiny network trained for a few seconds on synthetic PLAX + A4C cines only.

    Training saves its tune-calibrated quality-gate thresholds beside ``best.pt``.
    """
    from echomark.synth.config import DatasetConfig
    from echomark.synth.dataset import write_dataset
    from echomark.train import load_config, run_training

    root = tmp_path_factory.mktemp("synthetic-model")
    data = root / "data"
    write_dataset(data, DatasetConfig(n_videos=6, n_external=0, size=(96, 128),
                                      frames_per_video=8, labelled_per_video=4))  # fmt: skip
    cfg = load_config("demo", [
        f"data.images={data / 'png-cache.zip'}", f"data.labels={data / 'labels.zip'}",
        f"out_dir={root / 'run'}", "dataset.input_hw=[64,64]", "epochs=10", "tune_every=1",
        "workers=0", "batch_size=4", "optim.lr=0.01", "data.max_tune_images=8",
    ])  # fmt: skip
    result = run_training(cfg, progress=False)
    assert result.best_path is not None
    return result.best_path


def _write_avi(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def test_views_name_applies_to_every_video_and_a_csv_still_works(tmp_path):
    from echomark.workflows.measure import resolve_views

    assert resolve_views("A4C", ["01-a", "01-b"]) == {"01-a": "A4C", "01-b": "A4C"}
    table = tmp_path / "views.csv"
    table.write_text("FileHash,view\n01-a,PLAX\n")
    assert resolve_views(str(table), ["01-a"]) == {"01-a": "PLAX"}
    assert main(["measure", str(tmp_path / "none.json"), "--views", "XYZ",
                 "--out", str(tmp_path / "o")]) == 2  # fmt: skip


def test_real_sonosite_cine_with_a_synthetic_only_model(tmp_path, seeing_model, capsys):
    import hashlib

    from pydicom.data import get_testdata_file

    dcm = get_testdata_file("color3d_jpeg_baseline.dcm")
    video = "00-" + hashlib.sha256(Path(dcm).read_bytes()).hexdigest()
    views = tmp_path / "views.csv"
    views.write_text(f"FileHash,view\n{video},A4C\n")  # the view given, as in the issue
    out = tmp_path / "sono"
    rc = main(["measure", dcm, "--checkpoint", str(seeing_model), "--frames", "0:16",
               "--views", str(views), "--no-ocr", "--out", str(out), "--json"])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    rows = _gate_holds(out)
    assert rc in (0, 1, 3)
    # nothing the network says about this cine is trusted, not even the heart rate timed
    # from its (rejected) ED/ES frames
    assert not any(r["status"] == "ok" for r in rows if r["kind"] != "frame")
    assert not any(r["status"] == "ok" for r in rows if r["measurement"] == "heart_rate")
    assert rc == 3 and summary["means"] == []
    html = _banner(out)
    assert "No value passed the quality gate" in html
    assert any("low label confidence" in r["reasons"] or "unlike the training" in r["reasons"]
               for r in rows)  # fmt: skip


@pytest.mark.slow  # trains the model for ~10 s
def test_real_sonosite_cine_with_a_model_trained_on_synthetic_data(
    tmp_path, synthetic_model, capsys
):
    import hashlib

    from pydicom.data import get_testdata_file

    from echomark.measure.qc import qc_beside

    saved = read_qc_config(qc_beside(synthetic_model))
    assert saved.source.startswith("tune split, epoch") and saved.conf_thresholds
    dcm = get_testdata_file("color3d_jpeg_baseline.dcm")
    video = "00-" + hashlib.sha256(Path(dcm).read_bytes()).hexdigest()
    views = tmp_path / "views.csv"
    views.write_text(f"FileHash,view\n{video},A4C\n")
    out = tmp_path / "sono"
    rc = main(["measure", dcm, "--checkpoint", str(synthetic_model), "--frames", "0:16",
               "--views", str(views), "--no-ocr", "--out", str(out), "--json"])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    rows = _gate_holds(out)  # nothing outside its hard limits is ok; every other value says why
    assert rc in (0, 1, 3)
    # the thresholds training saved with the model were used, and the report says so
    meta = json.loads((out / "measurements.json").read_text())
    assert meta["qc_source"] == saved.source
    html = _banner(out)
    assert html.count(saved.source) >= 1
    flagged = [r for r in rows if r["status"] != "ok"]
    assert flagged and all(r["reasons"] for r in flagged)
    assert all(m["status"] == "ok" for m in summary["means"])  # means use ok values only


@pytest.mark.parametrize("model", ["seeing_model", "synthetic_model"])
@pytest.mark.parametrize("kind", ["speckle", "black"])
def test_speckle_and_black_cines(tmp_path, request, capsys, kind, model):
    seeing_model = request.getfixturevalue(model)
    rng = np.random.default_rng(0)
    if kind == "speckle":
        frames = [rng.rayleigh(40.0, (96, 128)).clip(0, 255).astype(np.uint8) for _ in range(8)]
    else:
        frames = [np.zeros((96, 128), np.uint8) for _ in range(8)]
    avi = _write_avi(tmp_path / f"{kind}.avi", frames)
    views = tmp_path / "views.csv"
    import hashlib

    video = "00-" + hashlib.sha256(avi.read_bytes()).hexdigest()
    views.write_text(f"FileHash,view\n{video},A4C\n")
    out = tmp_path / "out"
    rc = main(["measure", str(avi), "--checkpoint", str(seeing_model), "--mm-per-px", "0.3",
               "--views", str(views), "--no-ocr", "--out", str(out)])  # fmt: skip
    last = capsys.readouterr().out.strip().splitlines()[-1]
    rows = _gate_holds(out)
    assert not any(r["status"] == "ok" and r["kind"] != "frame" for r in rows)
    assert rc == 3 and last.startswith("no measurement passed the quality gate")
    _banner(out)


def test_plax_cine_measured_as_a4c_is_rejected(tmp_path):
    synth = pytest.importorskip("echomark.synth.cine")
    from echomark.calibration import Calibration

    cine = synth.make_cine("PLAX", 3, n_frames=20, render=False)
    video = "01-" + "e" * 64
    lf = LabelFile(images={f"{video}-{f:04d}.png": lab for f, lab in cine.labels.items()})
    cal = Calibration.from_cm_per_px(*cine.spacing_cm_per_px)
    res = measure_labels(lf, cal, views={video: "A4C"})
    assert res.rows and not res.any_ok
    assert all(r.status is Status.REJECTED for r in res.rows)
    assert any(
        "view given as A4C but the labels show PLAX" in x for r in res.rows for x in r.reasons
    )
    # without the view it is measured as what it is
    res = measure_labels(lf, cal)
    assert {r.view for r in res.rows} == {"PLAX"} and res.any_ok


def test_heart_rate_is_only_as_good_as_the_frames_it_was_timed_from():
    synth = pytest.importorskip("echomark.synth.cine")
    from echomark.calibration import Calibration

    cine = synth.make_cine("A4C", 4, n_frames=40, render=False)
    video = "01-" + "d" * 64
    lf = LabelFile(images={f"{video}-{f:04d}.png": lab for f, lab in cine.labels.items()})
    good = Calibration.from_cm_per_px(*cine.spacing_cm_per_px)
    dt = cine.spec.frame_time_ms / 1000.0
    hr = [r for r in measure_labels(lf, good, frame_time_s={video: dt}).rows
          if r.measurement is Measurement.heart_rate]  # fmt: skip
    assert len(hr) == 1 and hr[0].status is Status.OK
    # a spacing 40x too large puts every LV value outside its hard limits: the ED/ES frames
    # are rejected, so the rate timed from them must not pass either
    bad = Calibration.from_cm_per_px(*(40 * v for v in cine.spacing_cm_per_px))
    hr = [r for r in measure_labels(lf, bad, frame_time_s={video: dt}).rows
          if r.measurement is Measurement.heart_rate]  # fmt: skip
    assert len(hr) == 1 and hr[0].status is not Status.OK and hr[0].reasons


def test_a_frame_with_nothing_measurable_is_not_ok():
    synth = pytest.importorskip("echomark.synth.cine")
    from echomark.calibration import Calibration

    cine = synth.make_cine("A4C", 4, n_frames=12, render=False)
    video = "01-" + "c" * 64
    images = {f"{video}-{f:04d}.png": lab for f, lab in cine.labels.items()}
    images[f"{video}-0012.png"] = {}  # a frame where nothing was found
    cal = Calibration.from_cm_per_px(*cine.spacing_cm_per_px)
    res = measure_labels(LabelFile(images=images), cal)
    vs = res.series[video]
    assert vs.frame_status[12] is Status.REJECTED
    assert vs.frame_status[0] is Status.OK


def test_view_from_all_evidence_not_one_faint_point():
    synth = pytest.importorskip("echomark.synth.cine")
    from echomark.labels.schema import Label

    cine = synth.make_cine("A4C", 1, n_frames=6, render=False)
    frames = []
    for lab in cine.labels.values():
        lab = dict(lab)
        lab["lv-ivs-top"] = Label.point(10.0, 10.0, conf=0.17)  # a faint PLAX point
        frames.append(lab)
    d = decide_view(frames)
    assert d.view == "A4C" and d.verdict.status is Status.OK
    strong = [{**f, **{n: Label.point(5.0, 5.0, conf=0.9) for n in
                       ("lv-ivs-top", "lv-ivs-bottom", "lv-pw-top", "lv-pw-bottom")}}
              for f in frames]  # fmt: skip
    assert "views conflict" in decide_view(strong).verdict.reasons[0]


def test_a_threshold_rests_on_enough_predictions() -> None:
    # synthetic-v1's apex, in miniature: the two most confident right, half of the rest wrong
    conf = [0.95, 0.94] + [0.9 - 0.01 * i for i in range(20)]
    err = [1.0, 1.0] + [1.0 if i % 2 else 9.0 for i in range(20)]
    assert calibrate({"a": conf}, {"a": err}, [], min_support=1).threshold("a") == 0.94
    assert calibrate({"a": conf}, {"a": err}, []).threshold("a") == 1.0  # MIN_SUPPORT = 10
    # a lone confident miss at the top no longer pins a good label at 1.0
    good = [0.99] + [0.9 - 0.01 * i for i in range(40)]
    good_err = [20.0] + [1.0] * 40
    assert calibrate({"a": good}, {"a": good_err}, [], min_support=1).threshold("a") == 1.0
    assert calibrate({"a": good}, {"a": good_err}, []).threshold("a") == pytest.approx(0.51)
    # fewer predictions than the support: no threshold can be trusted
    assert calibrate({"a": [0.9] * 9}, {"a": [1.0] * 9}, []).threshold("a") == 1.0
    assert calibrate({"a": [0.9] * 10}, {"a": [1.0] * 10}, []).threshold("a") == 0.9
    with pytest.raises(ValueError, match="min_support"):
        calibrate({"a": [0.9]}, {"a": [1.0]}, [], min_support=0)


def test_checks_and_calibrated_thresholds(tmp_path):
    assert interval_verdict(1600.0, 60.0).status is Status.FLAGGED  # the 1.6 s "systole"
    assert interval_verdict(300.0, 75.0).status is Status.OK
    assert interval_verdict(500.0, 110.0).status is Status.FLAGGED  # too long for the rate
    assert area_length_verdict(0.0003, 7.0).status is Status.FLAGGED
    cfg = calibrate(
        {"lv-apex-endo": [0.9, 0.7, 0.2]}, {"lv-apex-endo": [1, 2, 40]}, [0.6, 0.8], min_support=1
    )
    assert cfg.threshold("lv-apex-endo") == 0.7 and cfg.threshold("other") == 0.5
    path = tmp_path / "qc.json"
    path.write_text(cfg.to_json())
    back = read_qc_config(path)
    assert back.conf_thresholds == {"lv-apex-endo": 0.7} and back.source == "tune split"
    bad = tmp_path / "bad.json"
    bad.write_text('{"conf_thresholds": {"x": 2}}')
    from echomark.errors import InputError

    with pytest.raises(InputError, match="outside"):
        read_qc_config(bad)
    # a threshold table flags a value whose label is below its threshold
    synth = pytest.importorskip("echomark.synth.cine")
    from echomark.calibration import Calibration
    from echomark.labels.schema import Label

    cine = synth.make_cine("PLAX", 0, n_frames=30, render=False)
    video = "01-" + "f" * 64
    images = {}
    for f, lab in cine.labels.items():
        lab = dict(lab)
        p = lab["lv-ivs-top"]
        if p.instances:
            lab["lv-ivs-top"] = Label.point(*p.instances[0].xy[0], conf=0.4)
        images[f"{video}-{f:04d}.png"] = lab
    cal = Calibration.from_cm_per_px(*cine.spacing_cm_per_px)
    res = measure_labels(LabelFile(images=images), cal, qc=QcConfig({"lv-ivs-top": 0.6}))
    ivs = [r for r in res.rows if r.measurement is Measurement.IVS and math.isfinite(r.value)]
    assert ivs and all(r.status is Status.FLAGGED for r in ivs)
    lvid = [r for r in res.rows if r.measurement is Measurement.LVID and math.isfinite(r.value)]
    assert lvid and all(r.status is Status.OK for r in lvid)  # LVID does not use that label
    # summaries use ok values only: no IVSd mean, LVIDd mean present
    means = {r.measurement: r for r in res.rows if r.kind is RowKind.MEAN}
    assert math.isnan(means[Measurement.IVSd].value)
    assert means[Measurement.IVSd].reasons[0] == "no beat passed the quality gate"
    assert math.isfinite(means[Measurement.LVIDd].value)


def test_calibrate_qc_from_tune_predictions(tmp_path):
    synth = pytest.importorskip("echomark.synth.cine")
    from echomark.labels.io import write_labels
    from echomark.labels.schema import Label, LabelFormat

    cine = synth.make_cine("PLAX", 5, n_frames=20, render=False)
    video = "01-" + "a" * 64
    truth, pred = {}, {}
    for f, lab in cine.labels.items():
        key = f"{video}-{f:04d}.png"
        truth[key] = lab
        p = lab["lv-ivs-top"]
        if p.instances:
            x, y = p.instances[0].xy[0]
            good = f % 2 == 0  # confident and right, or unsure and 20 px off
            pred[key] = {"lv-ivs-top": Label.point(x, y + (0.5 if good else 20.0),
                                                   conf=0.9 if good else 0.3)}  # fmt: skip
    write_labels(LabelFile(images=truth), tmp_path / "truth.json")
    write_labels(LabelFile(images=pred), tmp_path / "pred.json", format=LabelFormat.V2)
    rc = main(["measure", str(tmp_path / "pred.json"), "--calibrate-qc",
               str(tmp_path / "truth.json"), "--out", str(tmp_path / "model")])  # fmt: skip
    assert rc == 0
    cfg = read_qc_config(tmp_path / "model" / "qc.json")
    assert cfg.threshold("lv-ivs-top") == pytest.approx(0.9)
    # measuring predictions with --checkpoint uses the thresholds beside that checkpoint
    (tmp_path / "model" / "best.pt").write_bytes(b"")
    out = tmp_path / "meas"
    rc = main(["measure", str(tmp_path / "truth.json"), "--mm-per-px", "0.2", "--checkpoint",
               str(tmp_path / "model" / "best.pt"), "--out", str(out)])  # fmt: skip
    assert rc in (0, 1)
    assert json.loads((out / "measurements.json").read_text())["qc_source"] == cfg.source


def _outline_reshaped_after_es(reshape_x):  # type: ignore[no-untyped-def]
    """Measure a synthetic A4C cine with one LV outline reshaped, 4 frames after its first ES.

    ``reshape_x`` maps the outline's x coordinates to new ones. Returns the result, the
    unchanged cine's phases, the reshaped frame and that frame's disks-volume row.
    """
    synth = pytest.importorskip("echomark.synth.cine")
    from dataclasses import replace

    from echomark.calibration import Calibration
    from echomark.labels.schema import Instance, Label, LabelState

    cine = synth.make_cine("A4C", 4, n_frames=40, render=False)
    video = "01-" + "b" * 64
    images = {f"{video}-{f:04d}.png": dict(lab) for f, lab in cine.labels.items()}
    cal = Calibration.from_cm_per_px(*cine.spacing_cm_per_px)
    base = measure_labels(LabelFile(images=images), cal).series[video].phases
    assert base is not None and base.es
    f = (base.es[0] + 4) % 40
    key = f"{video}-{f:04d}.png"
    old = images[key]["curve-lv-endo"].instances[0]
    xy = old.xy.copy()
    xy[:, 0] = reshape_x(xy[:, 0])
    images[key]["curve-lv-endo"] = Label(LabelState.CURVE, (replace(old, xy=xy),))
    assert isinstance(images[key]["curve-lv-endo"].instances[0], Instance)
    res = measure_labels(LabelFile(images=images), cal)
    vol = [r for r in res.rows if r.frame == f and r.measurement is Measurement.LV_volume_A4C_disks]
    return res, res.series[video], base, f, vol


def test_a_collapsed_outline_is_never_taken_for_end_systole():
    """A frame whose own LV outline is impossible (collapsed onto one wall) is no ES candidate.

    A synthetic-only model on the real SonoSite cine collapses the outline in a few frames;
    their tiny volume made them the series' minimum, so they were picked as end-systole.
    """
    # collapse the outline of a frame between ES and the next ED onto its septal wall
    _, vs, base, f, area = _outline_reshaped_after_es(lambda x: x.min() + 0.02 * (x - x.min()))
    assert area and area[0].status is Status.REJECTED  # the gate saw it
    assert f not in vs.phases.es and f not in vs.phases.ed
    assert vs.phases.es == base.es and vs.phases.ed == base.ed


def test_the_ed_es_interval_is_only_as_good_as_its_frames():
    synth = pytest.importorskip("echomark.synth.cine")
    from echomark.calibration import Calibration

    cine = synth.make_cine("A4C", 4, n_frames=40, render=False)
    video = "01-" + "a" * 64
    lf = LabelFile(images={f"{video}-{f:04d}.png": lab for f, lab in cine.labels.items()})
    dt = cine.spec.frame_time_ms / 1000.0

    def intervals(cal: Calibration) -> list:  # type: ignore[type-arg]
        rows = measure_labels(lf, cal, frame_time_s={video: dt}).rows
        return [r for r in rows if r.measurement is Measurement.ED_to_ES_interval]

    good = intervals(Calibration.from_cm_per_px(*cine.spacing_cm_per_px))
    assert good and all(r.status is Status.OK for r in good)
    # the same frames with every LV value impossible: the timing alone must not pass
    bad = intervals(Calibration.from_cm_per_px(*(40 * v for v in cine.spacing_cm_per_px)))
    assert bad and all(r.status is not Status.OK and r.reasons for r in bad)


def test_an_outline_whose_area_does_not_fit_its_length_is_no_cycle_extreme():
    """A narrowed (not collapsed) outline: a possible volume, an implausible shape.

    On the real SonoSite cine a synthetic-only model pinches some outlines to a sliver of
    3-26 mL; flagged for their shape, they were still picked as end-systole.
    """

    def quarter_width(x):  # type: ignore[no-untyped-def]
        mid = 0.5 * (x.min() + x.max())
        return mid + 0.25 * (x - mid)  # a quarter of the width: ~1/16 of the volume

    res, vs, base, f, vol = _outline_reshaped_after_es(quarter_width)
    assert vol and vol[0].status is Status.FLAGGED  # possible, so not rejected...
    assert any("does not fit the LV length" in r for r in vol[0].reasons)  # ...but misshapen
    assert vol[0].value < min(
        r.value
        for r in res.rows
        if r.measurement is Measurement.LV_volume_A4C_disks and r.frame != f
    )  # the series' minimum: without the rule it would be end-systole
    assert f not in vs.phases.es and f not in vs.phases.ed
    assert vs.phases.es == base.es and vs.phases.ed == base.ed
