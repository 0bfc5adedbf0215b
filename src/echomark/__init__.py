"""echomark: AI on echocardiograms in the Unity Imaging dataset format.

The names below are the stable Python API (``docs/api.md``). They load on first use
(PEP 562), so ``import echomark`` imports neither numpy nor torch:

>>> import echomark
>>> echomark.read_labels.__module__
'echomark.labels.io'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from echomark.cache.keys import ImageKey
    from echomark.cache.store import FrameStore, open_store
    from echomark.calibration import Calibration
    from echomark.dicom.memory import CuratedCine, curate_in_memory
    from echomark.labels.io import read_labels, write_labels
    from echomark.labels.schema import ImageLabels, Label, LabelFile, LabelState
    from echomark.labels.splits import read_split
    from echomark.labels.vocabulary import Measurement
    from echomark.measure.pipeline import MeasureResult, measure_labels
    from echomark.models.zoo import list_models, resolve_model
    from echomark.predict.session import Predictor
    from echomark.synth.cine import SynthCine, make_cine
    from echomark.synth.config import DatasetConfig
    from echomark.synth.dataset import write_dataset

#: Public name -> module that defines it (imported on first attribute access).
_EXPORTS = {
    # labels: read / write the release JSON (v1 strings, v2 instance lists), typed
    "Label": "echomark.labels.schema",
    "LabelFile": "echomark.labels.schema",
    "LabelState": "echomark.labels.schema",
    "ImageLabels": "echomark.labels.schema",
    "read_labels": "echomark.labels.io",
    "read_split": "echomark.labels.splits",
    "Measurement": "echomark.labels.vocabulary",
    "write_labels": "echomark.labels.io",
    # png-cache: folder or zip of frames, by image key
    "ImageKey": "echomark.cache.keys",
    "FrameStore": "echomark.cache.store",
    "open_store": "echomark.cache.store",
    # a DICOM cine decoded and masked as curation does, with its calibration and frame time
    "CuratedCine": "echomark.dicom.memory",
    "curate_in_memory": "echomark.dicom.memory",
    # synthetic echoes with exact truth
    "SynthCine": "echomark.synth.cine",
    "make_cine": "echomark.synth.cine",
    "DatasetConfig": "echomark.synth.config",
    "write_dataset": "echomark.synth.dataset",
    # measurement from labels (mm, beats, EF, GLS)
    "Calibration": "echomark.calibration",
    "MeasureResult": "echomark.measure.pipeline",
    "measure_labels": "echomark.measure.pipeline",
    # prediction (needs the torch or onnx extra)
    "Predictor": "echomark.predict.session",
    # named models: shipped with echomark or on ECHOMARK_MODEL_PATH (needs the torch extra)
    "list_models": "echomark.models.zoo",
    "resolve_model": "echomark.models.zoo",
}

__all__ = [
    "Calibration",
    "CuratedCine",
    "DatasetConfig",
    "FrameStore",
    "ImageKey",
    "ImageLabels",
    "Label",
    "LabelFile",
    "LabelState",
    "MeasureResult",
    "Measurement",
    "Predictor",
    "SynthCine",
    "__version__",
    "curate_in_memory",
    "list_models",
    "make_cine",
    "measure_labels",
    "open_store",
    "read_labels",
    "read_split",
    "resolve_model",
    "write_dataset",
    "write_labels",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'echomark' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
