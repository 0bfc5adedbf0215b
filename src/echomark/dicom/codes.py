"""Video codes of DICOM files: SHA-256 of the file bytes, or a keyed HMAC-SHA256.

The plain SHA-256 code can be recomputed by anyone holding the original file, which links a
released video back to it. The keyed mode (secret from ``--key-file`` or the environment
variable ``ECHOMARK_CODE_KEY``) prevents that: without the secret the code reveals nothing.
Either way the code is 64 lower-case hex digits and identical files get identical codes.

Codes are taken from the file bytes by default (:attr:`CodeSource.FILE`), as the release
does. A DIMSE transfer re-encodes the data set, so the same instance pulled over DIMSE has
other bytes and another file code. :attr:`CodeSource.CONTENT` hashes what curation reads
instead: every public data element except the file meta group and group lengths, each as
tag + decoded value, sequences recursively, and the pixel data frame by frame (the
compressed frames for encapsulated syntaxes, so fragmentation and offset tables do not
count). Equal content codes therefore mean equal curated output; a server that transcodes
the pixels gives another code (never a false match).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from enum import Enum
from pathlib import Path
from typing import Any

from echomark.errors import ConfigError, InputError

#: Environment variable holding the secret for keyed codes.
KEY_ENV = "ECHOMARK_CODE_KEY"
#: Shortest accepted secret, in bytes.
MIN_KEY_BYTES = 16
_CHUNK = 1 << 20


class CodeSource(str, Enum):
    """What a code is computed from."""

    FILE = "file"
    """The file bytes (the release's scheme; differs between transports)."""

    CONTENT = "content"
    """The public data elements and pixel frames (the same over DICOMweb, DIMSE, disk)."""


class CodeMode(str, Enum):
    """How a file's 64-hex code is derived."""

    SHA256 = "sha256"
    """SHA-256 of the file bytes (reproducible by anyone with the file)."""

    HMAC_SHA256 = "hmac-sha256"
    """HMAC-SHA256 of the file bytes with a secret key (unlinkable without the key)."""


def file_code(path: str | os.PathLike[str], key: bytes | None = None) -> str:
    """The 64-hex code of a file: SHA-256, or HMAC-SHA256 when ``key`` is given.

    Args:
        path: The file.
        key: Secret for the keyed mode; None for plain SHA-256.

    Returns:
        64 lower-case hex digits.

    Raises:
        InputError: The file cannot be read.
    """
    h = hmac.new(key, digestmod=hashlib.sha256) if key is not None else hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", file=str(path)) from None
    return h.hexdigest()


def bytes_code(data: bytes, key: bytes | None = None) -> str:
    """:func:`file_code` of in-memory bytes.

    >>> bytes_code(b"")[:16]
    'e3b0c44298fc1c14'
    >>> bytes_code(b"", b"k" * 16) != bytes_code(b"")
    True
    """
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def load_code_key(key_file: str | os.PathLike[str] | None = None) -> bytes | None:
    """The secret for keyed codes, from ``key_file`` or ``$ECHOMARK_CODE_KEY``; else None.

    A key file's trailing newline is ignored. The secret must have at least
    :data:`MIN_KEY_BYTES` bytes.

    Raises:
        ConfigError: The key file is unreadable or the secret is too short.
    """
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise ConfigError(
                f"cannot read key file ({exc.strerror})", file=str(key_file)
            ) from None
        source = str(key_file)
    else:
        env = os.environ.get(KEY_ENV)
        if not env:
            return None
        key = env.encode("utf-8")
        source = f"${KEY_ENV}"
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"secret must have at least {MIN_KEY_BYTES} bytes", file=source)
    return key


def content_code(data: str | os.PathLike[str] | bytes, key: bytes | None = None) -> str:
    """The 64-hex :attr:`CodeSource.CONTENT` code of a DICOM file (path or bytes).

    Raises:
        InputError: The file cannot be read or parsed.
    """
    from io import BytesIO

    import pydicom
    from pydicom.errors import InvalidDicomError

    h = hmac.new(key, digestmod=hashlib.sha256) if key is not None else hashlib.sha256()
    h.update(b"echomark-content-code-v1\0")
    name = "<bytes>" if isinstance(data, bytes) else str(data)
    try:
        ds = pydicom.dcmread(BytesIO(data) if isinstance(data, bytes) else data)
        _feed(h, ds, ds.file_meta.get("TransferSyntaxUID"))
    except (OSError, InvalidDicomError, ValueError, EOFError, KeyError) as exc:
        raise InputError(f"cannot read the DICOM content ({exc})", file=name) from None
    return h.hexdigest()


def _feed(h: Any, ds: Any, syntax: Any) -> None:
    """Hash ``ds``'s public elements, each length-prefixed so no two datasets collide."""
    from pydicom.encaps import generate_frames

    for elem in ds:
        tag = elem.tag
        if tag.is_private or tag.element == 0 or tag.group == 0x0002:
            continue
        h.update(f"({int(tag):08x}".encode())
        if elem.VR == "SQ":
            for item in elem.value:
                h.update(b"[")
                _feed(h, item, syntax)
                h.update(b"]")
        elif tag == 0x7FE00010 and syntax is not None and syntax.is_encapsulated:
            n = int(ds.get("NumberOfFrames", 1) or 1)
            for frame in generate_frames(elem.value, number_of_frames=n):
                h.update(b"F" + hashlib.sha256(frame).digest())
        else:
            value = elem.value
            text = value.hex() if isinstance(value, bytes) else repr(value)
            raw = text.encode("utf-8", "surrogateescape")
            h.update(len(raw).to_bytes(8, "big") + raw)
        h.update(b")")
