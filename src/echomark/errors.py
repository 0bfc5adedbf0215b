"""Exception hierarchy shared by every echomark subpackage."""

from __future__ import annotations


class EchomarkError(Exception):
    """Base class for every error echomark raises on purpose.

    The CLI turns any ``EchomarkError`` into one line on stderr and exit code 2.
    """


class InputError(EchomarkError):
    """Bad user input: a file, key or field that cannot be used.

    Args:
        message: What is wrong.
        file: The file (or zip member) concerned, if any.
        key: The image key concerned, if any.
        field: The label name or field concerned, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.key = key
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, self.key, self.field) if p)
        return f"{where}: {self.message}" if where else self.message


class LabelError(InputError):
    """A label file or label entry is malformed."""


class ImageKeyError(InputError):
    """An image key or png-cache path does not follow the release layout."""


class CacheError(InputError):
    """A png-cache folder or zip is missing, unreadable or unsafe."""


class DicomError(InputError):
    """A DICOM file cannot be read, decoded or calibrated."""


class CalibrationError(InputError):
    """No usable physical pixel spacing could be found."""


class ConfigError(InputError):
    """A configuration file or ``--set`` override is invalid."""


class SourceError(InputError):
    """A PACS or other remote source cannot be reached, refuses us, or sends bad data.

    ``file`` names the server (never with credentials); the message says what failed.
    """


class LabelConflictError(LabelError):
    """A label save was based on a version of the labels that is no longer current."""


class MissingFrameError(CacheError):
    """A well-formed image key whose frame is not in the png-cache."""


#: Optional dependency (top-level module) -> the pip extra of echomark that installs it.
EXTRA_OF_MODULE = {
    "torch": "torch",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "rapidocr": "ocr",
    "gdcm": "gdcm",
    "starlette": "web",
    "uvicorn": "web",
    "dicomweb_client": "pacs",
    "pynetdicom": "pacs",
    "dask": "dask",
    "distributed": "dask",
    "highdicom": "sr",
}


def missing_extra_message(module: str) -> str | None:
    """How to install the extra that provides ``module``; None when it is not optional.

    >>> missing_extra_message("torch.nn")
    "needs torch, which is not installed: pip install 'echomark[torch]'"
    >>> missing_extra_message("numpy") is None
    True
    """
    top = module.split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return f"needs {top}, which is not installed: pip install 'echomark[{extra}]'"


class OutputBusyError(EchomarkError):
    """Another process holds the lock of an output folder."""
