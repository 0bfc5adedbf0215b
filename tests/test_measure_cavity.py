"""ED/ES from the LV cavity's brightness (measure.cavity): signal, refusals, choice, CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from echomark.calibration import Calibration
from echomark.cli.main import main
from echomark.labels.schema import ImageLabels, Label, LabelFile, LabelState
from echomark.labels.vocabulary import Measurement
from echomark.measure.cavity import (
    CAVITY_SIGNAL_NAME,
    CavitySignal,
    PhaseSource,
    cavity_signal,
)
from echomark.measure.pipeline import measure_labels

SQUARE = np.array([[10.0, 10.0], [29.0, 10.0], [29.0, 29.0], [10.0, 29.0]])


def _stack(levels: list[float], hw: tuple[int, int] = (40, 40)) -> dict[int, np.ndarray]:
    """Frames whose 20 x 20 square (the 'cavity') has the given grey, the rest 200."""
    out = {}
    for i, g in enumerate(levels):
        img = np.full(hw, 200, np.uint8)
        img[10:30, 10:30] = g
        out[i] = img
    return out


def test_the_signal_is_the_mean_grey_inside_the_shared_region() -> None:
    frames = _stack([40.0, 60.0, 90.0, 60.0])
    # three outlines hold the square, one is off to the side: only the square is shared
    outlines = {0: SQUARE, 1: SQUARE, 2: SQUARE, 3: SQUARE + 9.0}
    got = cavity_signal(outlines, frames.items())
    assert isinstance(got, CavitySignal)
    assert (got.region_px, got.outlines) == (400, 4)
    assert got.values == {0: 40.0, 1: 60.0, 2: 90.0, 3: 60.0}
    # a colour frame counts as its grey mean
    rgb = {i: np.repeat(f[:, :, None], 3, axis=2) for i, f in frames.items()}
    assert cavity_signal(outlines, rgb.items()) == got


@pytest.mark.parametrize(
    ("outlines", "frames", "why"),
    [
        ({0: SQUARE, 1: SQUARE}, _stack([40.0, 90.0]), "only 2 frames have an LV outline"),
        (dict.fromkeys(range(3), SQUARE), {}, "no frame pixels"),
        (
            dict.fromkeys(range(3), SQUARE),
            {0: np.zeros((40, 40), np.uint8), 1: np.zeros((40, 41), np.uint8)},
            "the frames differ in size",
        ),
        (
            dict.fromkeys(range(3), SQUARE / 4.0),
            _stack([40.0, 90.0, 60.0]),
            "the outlines share only 36 pixels",
        ),
        (
            dict.fromkeys(range(3), SQUARE),
            _stack([60.0, 61.0, 60.0]),
            "the cavity's brightness does not change over the cine",
        ),
    ],
)
def test_a_signal_that_cannot_be_trusted_says_why(
    outlines: dict[int, np.ndarray], frames: dict[int, np.ndarray], why: str
) -> None:
    assert cavity_signal(outlines, frames.items()) == why


VIDEO = "01-" + "c" * 64


def _cine() -> tuple[dict[str, ImageLabels], dict[str, np.ndarray], Calibration, list[int]]:
    """A rendered synthetic A4C cine: its true labels, pixels by key, spacing, true EDs."""
    synth = pytest.importorskip("echomark.synth.cine")
    cine = synth.make_cine("A4C", 5, n_frames=48, size=(160, 200))
    images = {f"{VIDEO}-{f:04d}.png": dict(lab) for f, lab in cine.labels.items()}
    pixels = {f"{VIDEO}-{f:04d}.png": cine.frames[f] for f in cine.labels}
    cal = Calibration.from_cm_per_px(*cine.spacing_cm_per_px)
    truth = measure_labels(LabelFile(images=images), cal).series[VIDEO].phases
    assert truth is not None and len(truth.ed) >= 2
    return images, pixels, cal, list(truth.ed)


def _shrink(labels: ImageLabels, factor: float) -> ImageLabels:
    """The labels with the LV outline pulled towards its centre line (a narrowed outline)."""
    out = dict(labels)
    inst = labels["curve-lv-endo"].instances[0]
    xy = inst.xy.copy()
    mid = 0.5 * (xy[:, 0].min() + xy[:, 0].max())
    xy[:, 0] = mid + factor * (xy[:, 0] - mid)
    out["curve-lv-endo"] = Label(LabelState.CURVE, (replace(inst, xy=xy),))
    return out


def test_cavity_phases_survive_outlines_that_fail_around_end_diastole() -> None:
    """Narrowed outlines around each ED move the size series' ED; the cavity's do not.

    The real SonoSite cine did this to the synthetic-only model: its outlines pinch around
    end-diastole, and ED/ES on the volume series missed the readers' frames.
    """
    images, pixels, cal, true_ed = _cine()
    bad = dict(images)
    for ed in true_ed:
        for f in range(ed - 2, ed + 3):
            key = f"{VIDEO}-{f:04d}.png"
            if key in bad:
                bad[key] = _shrink(bad[key], 0.75)

    def near(found: list[int]) -> bool:
        return all(min(abs(e - f) for f in found) <= 1 for e in true_ed)

    size = measure_labels(LabelFile(images=bad), cal, phases_from=PhaseSource.SIZE)
    assert size.series[VIDEO].phases is not None
    assert not near(list(size.series[VIDEO].phases.ed)), "the test must break the size series"
    cav = measure_labels(
        LabelFile(images=bad), cal, pixels=pixels.get, phases_from=PhaseSource.CAVITY
    )
    vs = cav.series[VIDEO]
    assert vs.phase_source == CAVITY_SIGNAL_NAME and vs.phases is not None
    assert near(list(vs.phases.ed)), (vs.phases.ed, true_ed)
    assert set(vs.phase_signal) == {int(k[-8:-4]) for k in images}
    edv = [
        r for r in cav.rows if r.measurement is Measurement.LVEDV_A4C_disks and r.beat is not None
    ]
    assert edv and all(r.frame in vs.phases.ed for r in edv)


def test_auto_uses_the_cavity_only_when_most_outlines_fail_the_gate() -> None:
    images, pixels, cal, _ = _cine()
    # expert labels pass the gate: the volume series drives ED/ES
    trusted = measure_labels(LabelFile(images=images), cal, pixels=pixels.get)
    assert trusted.series[VIDEO].phase_source == Measurement.LV_volume_A4C_disks.value
    assert trusted.series[VIDEO].phase_signal == {}

    def unsure(labels: ImageLabels) -> ImageLabels:
        return {
            n: Label(lab.state, tuple(replace(i, conf=0.3) for i in lab.instances))
            for n, lab in labels.items()
        }

    # every label below the default 0.5 threshold: the frames are flagged, the cavity drives
    doubted = {k: unsure(v) for k, v in images.items()}
    auto = measure_labels(LabelFile(images=doubted), cal, pixels=pixels.get)
    assert auto.series[VIDEO].phase_source == CAVITY_SIGNAL_NAME
    # without pixels, auto quietly keeps the size series; an explicit cavity request says why
    quiet = measure_labels(LabelFile(images=doubted), cal)
    assert quiet.series[VIDEO].phase_source == Measurement.LV_volume_A4C_disks.value
    assert not quiet.series[VIDEO].phase_note
    asked = measure_labels(LabelFile(images=images), cal, phases_from=PhaseSource.CAVITY)
    assert asked.series[VIDEO].phase_source == Measurement.LV_volume_A4C_disks.value
    assert [asked.series[VIDEO].phase_note] == [
        f"{CAVITY_SIGNAL_NAME} not used: no frame pixels (give the images)"
    ]


def test_measure_cli_takes_phases_from_and_reports_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from echomark.cache.keys import ImageKey
    from echomark.cache.writer import CacheWriter
    from echomark.labels.io import write_labels

    images, pixels, cal, _ = _cine()
    labels = tmp_path / "labels.json"
    write_labels(LabelFile(images=images), labels)
    writer = CacheWriter(tmp_path)
    for key, img in pixels.items():
        writer.write(ImageKey.parse(key), img)
    common = ["measure", str(labels), "--mm-per-px", str(cal.dx_mm_per_px), "--no-cine-outputs"]
    out = tmp_path / "m"
    rc = main([*common, "--images", str(tmp_path / "png-cache"), "--phases-from", "cavity",
               "--out", str(out)])  # fmt: skip
    assert rc == 0
    got = json.loads((out / "measurements.json").read_text())
    assert got["videos"][VIDEO]["phase_source"] == CAVITY_SIGNAL_NAME
    assert got["videos"][VIDEO]["phase_note"] is None
    # asked for without the frames: the size series, and the reason in the file
    rc = main([*common, "--phases-from", "cavity", "--out", str(tmp_path / "p")])
    assert rc == 0
    got = json.loads((tmp_path / "p" / "measurements.json").read_text())["videos"][VIDEO]
    assert got["phase_source"] == Measurement.LV_volume_A4C_disks.value
    assert "no frame pixels" in got["phase_note"]
    capsys.readouterr()
    assert main([*common, "--phases-from", "ecg", "--out", str(tmp_path / "n")]) == 2
    # the command line offers exactly the pipeline's choices (it does not import them)
    choices = capsys.readouterr().err.split("choose from ")[1].split(")")[0]
    assert sorted(c.strip(" '") for c in choices.split(",")) == sorted(p.value for p in PhaseSource)
