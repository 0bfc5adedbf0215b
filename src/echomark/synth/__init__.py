"""Synthetic echocardiography cines and DICOMs with exact ground truth (numpy).

* :func:`make_cine` — one seeded PLAX or A4C cine in memory: uint8 frames, labels of every
  channel name, exact measurements, spacing, frame time, ED/ES frames.
* :func:`write_dataset` — a whole dataset in the release layout (``echomark synth``), as
  described by a :class:`DatasetConfig`.
* :mod:`echomark.synth.dicom` — DICOMs with fake PHI for the curation tests.

See ``docs/synthetic-data.md`` for the phantom and the truth definitions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from echomark.synth.config import DatasetConfig

if TYPE_CHECKING:
    from echomark.synth.cine import (
        SYNTH_VIEWS,
        SynthCine,
        VideoSpec,
        channel_names,
        frame_labels,
        make_cine,
        sample_video,
    )
    from echomark.synth.dataset import write_dataset

__all__ = [
    "SYNTH_VIEWS",
    "DatasetConfig",
    "SynthCine",
    "VideoSpec",
    "channel_names",
    "frame_labels",
    "make_cine",
    "sample_video",
    "write_dataset",
]

#: Loaded on first use, so that importing :mod:`echomark.synth.config` (the CLI parser does)
#: does not pull in numpy, the phantom and the label registry; the writer adds OpenCV.
_LAZY = {
    "SYNTH_VIEWS": "cine",
    "SynthCine": "cine",
    "VideoSpec": "cine",
    "channel_names": "cine",
    "frame_labels": "cine",
    "make_cine": "cine",
    "sample_video": "cine",
    "write_dataset": "dataset",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
