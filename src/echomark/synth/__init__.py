"""Synthetic echocardiography cines and DICOMs with exact ground truth (numpy).

* :func:`make_cine` — one seeded PLAX or A4C cine in memory: uint8 frames, labels of every
  channel name, exact measurements, spacing, frame time, ED/ES frames.
* :func:`write_dataset` — a whole dataset in the release layout (``echomark synth``), as
  described by a :class:`DatasetConfig`.
* :mod:`echomark.synth.dicom` — DICOMs with fake PHI for the curation tests.

See ``docs/synthetic-data.md`` for the phantom and the truth definitions.
"""

from __future__ import annotations

from typing import Any

from echomark.synth.cine import (
    SYNTH_VIEWS,
    SynthCine,
    VideoSpec,
    channel_names,
    frame_labels,
    make_cine,
    sample_video,
)
from echomark.synth.config import DatasetConfig

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


def __getattr__(name: str) -> Any:
    # the writer pulls in the PNG encoder (OpenCV); load it only when asked for
    if name == "write_dataset":
        from echomark.synth.dataset import write_dataset

        return write_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
