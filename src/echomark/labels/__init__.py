"""Label schema, reading/writing of the release JSON forms, validation and the registry."""

from echomark.labels.io import dumps_labels, read_labels, write_labels
from echomark.labels.registry import (
    LabelKind,
    LabelSpec,
    View,
    channels_for_views,
    load_registry,
)
from echomark.labels.schema import (
    ImageLabels,
    Instance,
    Label,
    LabelFile,
    LabelFormat,
    LabelProblem,
    LabelState,
    Severity,
)
from echomark.labels.splits import SPLITS, read_list, read_split

__all__ = [
    "SPLITS",
    "ImageLabels",
    "Instance",
    "Label",
    "LabelFile",
    "LabelFormat",
    "LabelKind",
    "LabelProblem",
    "LabelSpec",
    "LabelState",
    "Severity",
    "View",
    "channels_for_views",
    "dumps_labels",
    "load_registry",
    "read_labels",
    "read_list",
    "read_split",
    "write_labels",
]
