"""Video codes of DICOM files: SHA-256 of the file bytes, or a keyed HMAC-SHA256.

The plain SHA-256 code can be recomputed by anyone holding the original file, which links a
released video back to it. The keyed mode (secret from ``--key-file`` or the environment
variable ``ECHOMARK_CODE_KEY``) prevents that: without the secret the code reveals nothing.
Either way the code is 64 lower-case hex digits and identical files get identical codes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from enum import Enum
from pathlib import Path

from echomark.errors import ConfigError, InputError

#: Environment variable holding the secret for keyed codes.
KEY_ENV = "ECHOMARK_CODE_KEY"
#: Shortest accepted secret, in bytes.
MIN_KEY_BYTES = 16
_CHUNK = 1 << 20


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
