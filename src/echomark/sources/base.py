"""What every remote DICOM source shares: instance references, queries, retries, the spec parser."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from io import BytesIO
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from echomark.errors import ConfigError, SourceError

T = TypeVar("T")

#: Default seconds to wait for a connection, an association or the next bytes of a reply.
DEFAULT_TIMEOUT_S = 30.0
#: Default retries of a transient failure (so up to 1 + retries attempts).
DEFAULT_RETRIES = 3
#: First back-off wait; it doubles on each retry.
DEFAULT_BACKOFF_S = 0.5
#: Top-level modules of the ``pacs`` extra.
_PACS_MODULES = frozenset({"dicomweb_client", "pynetdicom", "requests"})
#: Consecutive failed instances after which a pull stops asking the server.
MAX_CONSECUTIVE_FAILURES = 3


class SourceKind(str, Enum):
    """The protocols ``echomark curate`` can pull from."""

    DICOMWEB = "dicomweb"
    DIMSE = "dimse"


@dataclass(frozen=True, order=True)
class InstanceRef:
    """One instance on a server, by its three UIDs (kept in memory only, never written)."""

    study: str
    series: str
    sop: str
    sop_class: str = field(default="", compare=False)


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: ``retries`` more attempts, waits doubling.

    Attributes:
        retries: Extra attempts after the first.
        backoff_s: Wait before the first retry; doubled before each later one.
        timeout_s: Seconds to wait for a connection or the next bytes of a reply.
    """

    retries: int = DEFAULT_RETRIES
    backoff_s: float = DEFAULT_BACKOFF_S
    timeout_s: float = DEFAULT_TIMEOUT_S

    def run(
        self,
        attempt: Callable[[], T],
        transient: Callable[[BaseException], bool],
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """Call ``attempt`` until it succeeds, retrying exceptions that ``transient`` accepts.

        Raises:
            BaseException: The last exception, once retries are used up or at once when
                it is not transient.
        """
        wait = self.backoff_s
        for left in range(self.retries, -1, -1):
            try:
                return attempt()
            except Exception as exc:
                if left == 0 or not transient(exc):
                    raise
            sleep(wait)
            wait *= 2
        raise AssertionError("unreachable")  # pragma: no cover


class InstanceSource(Protocol):
    """A remote store that lists and hands over DICOM instances.

    ``label`` names the server in messages (never with credentials). ``list_instances``
    returns each matching instance once; ``fetch`` returns one instance's bytes in Part 10
    format. Both raise :class:`~echomark.errors.SourceError` with a one-line reason.
    """

    label: str

    def list_instances(self) -> list[InstanceRef]:
        """Every instance matching the query, without duplicates, sorted."""
        ...

    def fetch(self, ref: InstanceRef) -> bytes:
        """The bytes of one instance."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def parse_queries(items: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings -> a query dict keyed by DICOM keyword.

    >>> parse_queries(["ModalitiesInStudy=US", "StudyDate=20200101-20201231"])
    {'ModalitiesInStudy': 'US', 'StudyDate': '20200101-20201231'}

    Raises:
        ConfigError: An item is not ``KEY=VALUE`` or KEY is not a DICOM keyword.
    """
    from pydicom.datadict import keyword_dict

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--query wants KEY=VALUE, got {item!r}")
        if key not in keyword_dict:
            raise ConfigError(f"--query: {key!r} is not a DICOM attribute keyword")
        out[key] = value
    return out


def dedupe(refs: Sequence[InstanceRef]) -> list[InstanceRef]:
    """Refs once each, sorted.

    A server can list one instance twice, e.g. Orthanc when two files share Study/Series
    UIDs under different patients (it then keeps two studies with the same UID).
    """
    return sorted(set(refs))


def is_server_spec(src: str) -> bool:
    """Whether a curate SRC names a server rather than a file or folder."""
    return src.startswith(("dicomweb+http://", "dicomweb+https://", "dimse://"))


@dataclass(frozen=True)
class ServerSpec:
    """A parsed server SRC.

    Attributes:
        kind: Protocol.
        url: For DICOMweb, the base URL without the ``dicomweb+`` prefix.
        host: Host name or address.
        port: TCP port.
        called_aet: For DIMSE, the peer's AE title.
    """

    kind: SourceKind
    url: str
    host: str
    port: int
    called_aet: str = ""

    @property
    def label(self) -> str:
        """How messages name the server."""
        if self.kind is SourceKind.DIMSE:
            return f"dimse://{self.called_aet}@{self.host}:{self.port}"
        return f"dicomweb {self.url}"


def parse_server_spec(src: str) -> ServerSpec:
    """Parse ``dicomweb+http[s]://host:port/path`` or ``dimse://AET@host:port``.

    Credentials in the spec are refused: they would show in process lists and shell history.

    >>> parse_server_spec("dimse://ORTHANC@127.0.0.1:4242").called_aet
    'ORTHANC'
    >>> parse_server_spec("dicomweb+http://pacs:8042/dicom-web").url
    'http://pacs:8042/dicom-web'

    Raises:
        ConfigError: The spec is malformed or carries a password.
    """
    parts = urlsplit(src)
    if parts.password is not None:
        raise ConfigError(
            "credentials do not belong on the command line: use $ECHOMARK_DICOMWEB_USER/"
            "$ECHOMARK_DICOMWEB_PASSWORD, $ECHOMARK_DICOMWEB_TOKEN or ~/.netrc",
            file=f"{parts.scheme}://{parts.hostname}",
        )
    host = parts.hostname or ""
    if not host:
        raise ConfigError("no host in the server address", file=src)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("bad port in the server address", file=src) from None
    if parts.scheme == "dimse":
        aet = parts.username or ""
        if not aet or len(aet) > 16:
            raise ConfigError("dimse:// needs the peer's AE title (1-16 chars): dimse://AET@host:port",
                              file=src)  # fmt: skip
        return ServerSpec(SourceKind.DIMSE, src, host, port or 104, aet)
    if parts.scheme in ("dicomweb+http", "dicomweb+https"):
        if parts.username is not None:
            raise ConfigError("user names go in ~/.netrc or $ECHOMARK_DICOMWEB_USER", file=src)
        scheme = parts.scheme.removeprefix("dicomweb+")
        default = 443 if scheme == "https" else 80
        path = parts.path.rstrip("/")
        url = f"{scheme}://{parts.netloc}{path}"
        return ServerSpec(SourceKind.DICOMWEB, url, host, port or default)
    raise ConfigError("unknown server scheme (dicomweb+http://, dicomweb+https://, dimse://)",
                      file=src)  # fmt: skip


def describe(exc: BaseException) -> str:
    """A short, credential-free reason for a low-level exception."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}"


def open_source(
    spec: ServerSpec,
    *,
    query: Mapping[str, str],
    policy: RetryPolicy,
    calling_aet: str = "ECHOMARK",
) -> InstanceSource:
    """The source for a parsed spec (imports the protocol's library only when used).

    Raises:
        ConfigError: The protocol's library is not installed.
    """
    try:
        if spec.kind is SourceKind.DIMSE:
            from echomark.sources.dimse import DimseSource

            return DimseSource(spec, query=query, policy=policy, calling_aet=calling_aet)
        from echomark.sources.dicomweb import DicomWebSource

        return DicomWebSource(spec, query=query, policy=policy)
    except ModuleNotFoundError as exc:
        if exc.name not in _PACS_MODULES:
            raise
        raise ConfigError(
            f"{spec.kind.value} sources need {exc.name}: pip install 'echomark[pacs]'"
        ) from None


def check_instance(data: bytes, ref: InstanceRef, label: str) -> None:
    """Refuse bytes that are not a DICOM file holding the instance asked for.

    Raises:
        SourceError: Not Part 10, unreadable header, or another SOP Instance UID.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():  # the error below says it in one line
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(BytesIO(data), stop_before_pixels=True)
            sop = str(ds.get("SOPInstanceUID", ""))
    except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError) as exc:
        raise SourceError(f"server sent a corrupt instance ({describe(exc)})", file=label) from None
    if sop != ref.sop:
        raise SourceError("server sent a corrupt instance (not the instance asked for)",
                          file=label)  # fmt: skip
