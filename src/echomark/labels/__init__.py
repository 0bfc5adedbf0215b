"""Label schema, reading/writing of the release JSON forms, validation and the registry."""

from echomark.labels.schema import (
    ImageLabels,
    Instance,
    Label,
    LabelFile,
    LabelFormat,
    LabelState,
)

__all__ = ["ImageLabels", "Instance", "Label", "LabelFile", "LabelFormat", "LabelState"]
