"""The top-level Python API: lazy exports, Predictor inputs, and docs/api.md run as doctests."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import echomark
from echomark.errors import InputError
from echomark.predict.session import array_frames
from echomark.synth.dicom import write_us_dicom
from predict_helpers import CHANNELS, tiny_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Head bias > 0 makes the random net mark every label present, so outputs have content.
    folder = tmp_path_factory.mktemp("api")
    return tiny_checkpoint(folder / "tiny.pt", head_bias=0.5, head_std=0.01)


def test_docs_api_examples_run(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from echomark.models.zoo import ENV_VAR
    from echomark.predict.export import export_model_dir

    monkeypatch.chdir(tiny.parent)
    write_us_dicom("a4c.dcm", frames=4)
    extra = {"training_data": "random weights (docs)"}
    export_model_dir(tiny, tiny.parent / "zoo" / "tiny-demo", card_extra=extra, overwrite=True)
    monkeypatch.setenv(ENV_VAR, str(tiny.parent / "zoo"))
    res = doctest.testfile(
        str(ROOT / "docs" / "api.md"),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
    )
    assert res.attempted >= 25
    assert res.failed == 0


def test_import_echomark_is_lazy_and_fast() -> None:
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "import echomark\n"
        "dt = time.perf_counter() - t\n"
        "import json\n"
        "print(json.dumps({'s': dt, 'heavy': [m for m in ('numpy', 'torch', 'scipy', "
        "'echomark.labels') if m in sys.modules]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got["heavy"] == []
    # About 10 ms alone (typing is most of it); generous for a loaded 2-core machine.
    assert got["s"] < 0.5


def test_every_exported_name_resolves_and_unknown_ones_fail() -> None:
    for name in echomark.__all__:
        assert getattr(echomark, name) is not None
        assert name in dir(echomark)
    assert echomark.Predictor.__module__ == "echomark.predict.session"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = echomark.nope  # type: ignore[attr-defined]


def test_array_frames_shapes_and_keys() -> None:
    grey = np.arange(30, dtype=np.uint8).reshape(5, 6)
    (one,) = array_frames(grey)
    assert one.key.startswith("00-") and one.key.endswith("-0000.png")
    assert np.array_equal(one.load(), grey)
    rgb = np.stack([grey] * 3, axis=-1)
    assert array_frames(rgb)[0].load().shape == (5, 6, 3)
    rgba = np.concatenate([rgb, np.full((5, 6, 1), 255, np.uint8)], axis=-1)
    assert array_frames(rgba)[0].load().shape == (5, 6, 3)
    cine = np.stack([grey, grey + 1, grey + 2])
    frames = array_frames(cine)
    assert [f.index for f in frames] == [0, 1, 2]
    assert len({f.video for f in frames}) == 1
    assert frames[1].neighbour is not None
    assert np.array_equal(frames[1].neighbour(1), grey + 2)
    assert frames[2].neighbour(1) is None
    # Same pixels, same keys; other pixels, another video.
    assert [f.key for f in array_frames(cine.copy())] == [f.key for f in frames]
    assert array_frames(cine[:2])[0].video != frames[0].video
    assert len(array_frames(np.zeros((2, 4, 5, 3), np.uint8))) == 2
    with pytest.raises(InputError, match="uint8"):
        array_frames(grey.astype(np.float32))
    with pytest.raises(InputError, match="got \\(2, 2, 2, 2, 2\\)"):
        array_frames(np.zeros((2, 2, 2, 2, 2), np.uint8))
    with pytest.raises(InputError):
        array_frames(np.zeros((0, 4, 5), np.uint8))


def test_predictor_outputs_match_between_array_and_png(tiny: Path, tmp_path: Path) -> None:
    from PIL import Image

    model = echomark.Predictor(tiny)
    assert model.channels == CHANNELS
    frame = echomark.make_cine("A4C", 2, n_frames=1, size=(96, 128)).frames[0]
    from_array = model.predict_frame(frame)
    Image.fromarray(frame).save(tmp_path / "f.png")
    (from_png,) = model.predict(tmp_path / "f.png").images.values()
    assert from_array == from_png
    with pytest.raises(InputError, match="one frame"):
        model.predict_frame(np.zeros((2, 8, 8), np.uint8))
