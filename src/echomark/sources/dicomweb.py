"""DICOMweb source: QIDO-RS query and WADO-RS retrieve of each instance's stored bytes.

Instances are retrieved one by one with ``transfer-syntax=*`` so that the server sends the
bytes it stores: without it a server may transcode (Orthanc returns JPEG Lossless files
decompressed), and a study- or series-level retrieve can fail outright where two patients
share a Study UID (Orthanc answers 404). Credentials come from ``$ECHOMARK_DICOMWEB_TOKEN``
(bearer), ``$ECHOMARK_DICOMWEB_USER``/``$ECHOMARK_DICOMWEB_PASSWORD`` (basic), or the
netrc file (``$NETRC`` or ``~/.netrc``), never from the command line.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from echomark.errors import SourceError
from echomark.sources.base import (
    InstanceRef,
    RetryPolicy,
    ServerSpec,
    check_instance,
    dedupe,
    describe,
)

#: Environment variables for credentials.
TOKEN_ENV = "ECHOMARK_DICOMWEB_TOKEN"
USER_ENV = "ECHOMARK_DICOMWEB_USER"
PASSWORD_ENV = "ECHOMARK_DICOMWEB_PASSWORD"
#: WADO-RS Accept header asking for the stored bytes, whatever their transfer syntax.
ACCEPT_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
#: HTTP statuses worth retrying (overload, gateway trouble, rate limits).
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: Most QIDO pages read for one search (a guard against servers that repeat pages).
MAX_PAGES = 10_000

_STUDY_UID, _SERIES_UID, _SOP_UID, _SOP_CLASS = "0020000D", "0020000E", "00080018", "00080016"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_reason(status: int, label: str) -> str:
    """What an HTTP error status means for a pull, in one line."""
    if status == 401:
        return (
            "HTTP 401 Unauthorized: the server wants credentials "
            f"(${USER_ENV}/${PASSWORD_ENV}, ${TOKEN_ENV} or ~/.netrc)"
        )
    if status == 403:
        return "HTTP 403 Forbidden: these credentials may not read this server"
    if status == 404:
        return "HTTP 404 Not Found (wrong base path, or the instance is gone)"
    return f"HTTP {status}"


def split_multipart(content_type: str, body: bytes) -> list[bytes]:
    r"""The parts of a ``multipart/related`` body (RFC 2046), headers stripped.

    >>> body = b'--b\r\nContent-Type: x\r\n\r\nAB\r\n--b\r\n\r\nC\r\n--b--\r\n'
    >>> split_multipart('multipart/related; boundary=b', body)
    [b'AB', b'C']

    Raises:
        ValueError: No boundary, or a part without a header end.
    """
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise ValueError("multipart reply without a boundary")
    delim = b"--" + m.group(1).encode("ascii")
    parts: list[bytes] = []
    # The body is CRLF--boundary separated; the first delimiter may open the body.
    chunks = (b"\r\n" + body).split(b"\r\n" + delim)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        _head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without a header end")
        parts.append(content)
    else:
        raise ValueError("multipart reply truncated (no closing boundary)")
    return parts


class DicomWebSource:
    """Lists instances with QIDO-RS and fetches their stored bytes with WADO-RS.

    Args:
        spec: Parsed server spec.
        query: QIDO study-level filters (DICOM keyword -> value).
        policy: Retries and timeouts.
    """

    def __init__(self, spec: ServerSpec, *, query: Mapping[str, str], policy: RetryPolicy) -> None:
        import requests
        from dicomweb_client.api import DICOMwebClient

        self.label = spec.label
        self.url = spec.url
        self.query = dict(query)
        self.policy = policy
        self.session = requests.Session()
        token = os.environ.get(TOKEN_ENV)
        user = os.environ.get(USER_ENV)
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        elif user:
            self.session.auth = (user, os.environ.get(PASSWORD_ENV, ""))
        # Otherwise requests reads the netrc file itself for this host.
        # A proxy must never see loopback traffic (an HTTP_PROXY in the environment would
        # otherwise catch it); explicit None beats the environment.
        self.proxies: dict[str, Any] = (
            {"http": None, "https": None} if _is_loopback(spec.host) else {}
        )
        self.session.proxies.update(self.proxies)
        self.client = DICOMwebClient(
            self.url, session=self.session, timeout=policy.timeout_s, proxies=None
        )
        # One retry policy for everything (ours): the client's own would double it.
        self.client.set_http_retry_params(retry=False)

    def _transient(self, exc: BaseException) -> bool:
        import requests

        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            return exc.response.status_code in TRANSIENT_STATUS
        return isinstance(exc, requests.ConnectionError | requests.Timeout)

    def failure(self, what: str, exc: BaseException) -> SourceError:
        """A one-line :class:`SourceError` for a failed request (names the server)."""
        import requests

        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            reason = http_reason(exc.response.status_code, self.label)
        elif isinstance(exc, requests.ConnectTimeout):
            reason = f"no answer within {self.policy.timeout_s:g} s (connect timeout)"
        elif isinstance(exc, requests.ReadTimeout) or "timed out" in str(exc).lower():
            # requests reports a stall while reading the body as a ConnectionError.
            reason = f"transfer stalled for {self.policy.timeout_s:g} s (read timeout)"
        elif isinstance(exc, requests.ConnectionError):
            reason = "cannot connect (host unreachable, refused or reset)"
        else:
            reason = describe(exc)
        tries = self.policy.retries + 1
        again = f" after {tries} attempts" if self._transient(exc) and tries > 1 else ""
        return SourceError(f"{what} failed{again}: {reason}", file=self.label)

    def list_instances(self) -> list[InstanceRef]:
        """QIDO-RS: matching studies, then every instance of each (deduplicated).

        Raises:
            SourceError: The server cannot be reached or refuses the query.
        """
        studies = self._search(
            "QIDO-RS study search",
            lambda offset: self.client.search_for_studies(
                search_filters=self.query or None, offset=offset or None
            ),
        )
        refs: list[InstanceRef] = []
        for uid in sorted({_value(s, _STUDY_UID) for s in studies} - {""}):
            found = self._search(
                "QIDO-RS instance search",
                lambda offset, u=uid: self.client.search_for_instances(  # type: ignore[misc]
                    study_instance_uid=u, offset=offset or None
                ),
            )
            for inst in found:
                sop = _value(inst, _SOP_UID)
                if sop:
                    refs.append(
                        InstanceRef(
                            _value(inst, _STUDY_UID) or uid,
                            _value(inst, _SERIES_UID),
                            sop,
                            _value(inst, _SOP_CLASS),
                        )
                    )
        return dedupe(refs)

    def _search(
        self, what: str, page: Callable[[int], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """All results of a QIDO search, page by page.

        A server may cap a reply's length (then the next page starts at ``offset``); paging
        stops at an empty page or one with nothing new, since some servers ignore ``offset``
        for some filters and would otherwise repeat the same page forever.
        """
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            offset = len(out)
            try:
                got = self.policy.run(lambda: page(offset), self._transient)  # noqa: B023
            except Exception as exc:
                raise self.failure(what, exc) from None
            new = [r for r in got if json.dumps(r, sort_keys=True) not in seen]
            if not new:
                break
            seen.update(json.dumps(r, sort_keys=True) for r in new)
            out += new
        return out

    def _get(self, ref: InstanceRef) -> bytes:
        url = f"{self.url}/studies/{ref.study}/series/{ref.series}/instances/{ref.sop}"
        resp = self.session.get(
            url,
            headers={"Accept": ACCEPT_STORED},
            timeout=self.policy.timeout_s,
            proxies=self.proxies,
        )
        resp.raise_for_status()
        ctype = resp.headers.get("Content-Type", "")
        if ctype.startswith("application/dicom"):  # some servers skip the multipart wrapper
            return resp.content
        try:
            parts = split_multipart(ctype, resp.content)
        except ValueError as exc:
            raise CorruptInstance(str(exc)) from None
        if len(parts) != 1:
            raise CorruptInstance(f"{len(parts)} parts where one instance was asked for")
        return parts[0]

    def fetch(self, ref: InstanceRef) -> bytes:
        """WADO-RS retrieve of one instance's stored bytes, checked to be that instance.

        Raises:
            SourceError: Retrieval failed after retries, or the reply is not the instance.
        """
        try:
            data = self.policy.run(lambda: self._get(ref), self._transient)
        except CorruptInstance as exc:
            raise SourceError(f"WADO-RS retrieve sent a corrupt instance: {exc}",
                              file=self.label) from None  # fmt: skip
        except Exception as exc:
            raise self.failure("WADO-RS retrieve", exc) from None
        check_instance(data, ref, self.label)
        return data

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()


class CorruptInstance(Exception):  # noqa: N818 - internal signal, turned into SourceError
    """A reply that cannot be the instance asked for."""


def _value(item: Mapping[str, Any], tag: str) -> str:
    values = item.get(tag, {}).get("Value") or [""]
    return str(values[0])
