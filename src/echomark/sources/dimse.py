"""DIMSE source: C-FIND (study, series, image levels) and C-GET of each instance (pynetdicom).

A C-GET returns each instance through a C-STORE sub-operation on our association, so the
peer re-encodes the data set: the bytes are not the file it stores (codes differ from a
DICOMweb or disk copy; the pixels do not). One presentation context is offered per
ultrasound storage class *and* transfer syntax, because a peer accepts only one syntax per
context (Orthanc takes the first of a list); with every syntax on offer the peer sends the
pixel data as stored, without transcoding. The peer must know our calling AE title.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from echomark.dicom.read import ULTRASOUND_SOP_CLASSES
from echomark.errors import SourceError
from echomark.sources.base import InstanceRef, RetryPolicy, ServerSpec, check_instance, dedupe

#: Transfer syntaxes offered for each storage class (one presentation context each).
TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless P14
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
)
_FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve - FIND
_GET = "1.2.840.10008.5.1.4.1.2.2.3"  # Study Root Query/Retrieve - GET
_PENDING = (0xFF00, 0xFF01)


class _Transient(Exception):  # noqa: N818 - internal retry signal
    """An association that failed in a way worth retrying (no connection, aborted)."""


class DimseSource:
    """Lists instances with C-FIND and fetches each with C-GET.

    Args:
        spec: Parsed ``dimse://AET@host:port``.
        query: Study-level C-FIND keys (DICOM keyword -> value).
        policy: Retries and timeouts.
        calling_aet: Our AE title (the peer must know it).
    """

    def __init__(
        self,
        spec: ServerSpec,
        *,
        query: Mapping[str, str],
        policy: RetryPolicy,
        calling_aet: str = "ECHOMARK",
    ) -> None:
        from pynetdicom import AE, build_role, evt

        if not calling_aet or len(calling_aet) > 16:
            raise SourceError("calling AE title must have 1-16 characters", file=spec.label)
        self.label = spec.label
        self.spec = spec
        self.query = dict(query)
        self.policy = policy
        self.ae = AE(ae_title=calling_aet)
        for attr in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
            setattr(self.ae, attr, policy.timeout_s)
        self.ae.add_requested_context(_FIND)
        self.ae.add_requested_context(_GET)
        for sop in sorted(ULTRASOUND_SOP_CLASSES):
            for ts in TRANSFER_SYNTAXES:
                self.ae.add_requested_context(sop, [ts])
        self.roles: list[Any] = [
            build_role(sop, scp_role=True) for sop in sorted(ULTRASOUND_SOP_CLASSES)
        ]
        self._received: list[bytes] = []
        self._rejection: list[int] = []
        self._handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_ACSE_RECV, self._on_acse),
        ]
        self._assoc: Any = None

    def _on_store(self, event: Any) -> int:
        # The data set exactly as the peer encoded it, with a file meta header: no decode
        # and re-encode on our side.
        self._received.append(bytes(event.encoded_dataset(include_meta=True)))
        return 0x0000

    def _on_acse(self, event: Any) -> None:
        # An A-ASSOCIATE-RJ carries a diagnostic: 3 calling, 7 called AE title unknown.
        if getattr(event.primitive, "result", None) in (1, 2):
            self._rejection.append(int(getattr(event.primitive, "diagnostic", 0) or 0))

    def _associate(self) -> Any:
        if self._assoc is not None and self._assoc.is_established:
            return self._assoc
        assoc = self.ae.associate(
            self.spec.host,
            self.spec.port,
            ae_title=self.spec.called_aet,
            ext_neg=self.roles,
            evt_handlers=self._handlers,
        )
        if assoc.is_established:
            self._assoc = assoc
            return assoc
        if assoc.is_rejected:
            diagnostic = self._rejection[-1] if self._rejection else None
            if diagnostic == 7:
                why = f"the peer's AE title is not {self.spec.called_aet!r} (wrong called AE title)"
            elif diagnostic == 3:
                why = (
                    f"the peer does not know calling AE title {self.ae.ae_title!r} "
                    "(declare it on the peer, or pass --calling-aet)"
                )
            else:
                why = f"reason code {diagnostic}" if diagnostic is not None else "no reason given"
            raise SourceError(f"association rejected: {why}", file=self.label)
        raise _Transient("cannot connect (host unreachable, port closed, or no answer)")

    def _retry(self, what: str, attempt: Any) -> Any:
        def transient(exc: BaseException) -> bool:
            if isinstance(exc, _Transient):
                self.close()
                return True
            return False

        try:
            return self.policy.run(attempt, transient)
        except _Transient as exc:
            tries = self.policy.retries + 1
            again = f" after {tries} attempts" if tries > 1 else ""
            raise SourceError(f"{what} failed{again}: {exc}", file=self.label) from None

    def _find(self, level: str, keys: Mapping[str, str]) -> list[Any]:
        from pydicom.dataset import Dataset

        ident = Dataset()
        ident.QueryRetrieveLevel = level
        for key, value in keys.items():
            setattr(ident, key, value)

        def attempt() -> list[Any]:
            assoc = self._associate()
            out: list[Any] = []
            for status, found in assoc.send_c_find(ident, _FIND):
                if not status:
                    raise _Transient("C-FIND got no reply (association aborted or timed out)")
                code = int(status.Status)
                if code in _PENDING and found is not None:
                    out.append(found)
                elif code != 0x0000:
                    raise SourceError(f"C-FIND refused (status 0x{code:04X})", file=self.label)
            return out

        result: list[Any] = self._retry(f"C-FIND at {level} level", attempt)
        return result

    def list_instances(self) -> list[InstanceRef]:
        """C-FIND studies (with the query), their series, then their ultrasound images.

        Raises:
            SourceError: The peer cannot be reached, rejects us, or refuses the query.
        """
        refs: list[InstanceRef] = []
        studies = self._find("STUDY", {**self.query, "StudyInstanceUID": ""})
        for study in sorted({str(s.get("StudyInstanceUID", "")) for s in studies} - {""}):
            series = self._find("SERIES", {"StudyInstanceUID": study, "SeriesInstanceUID": ""})
            for se in sorted({str(s.get("SeriesInstanceUID", "")) for s in series} - {""}):
                keys = {"StudyInstanceUID": study, "SeriesInstanceUID": se,
                        "SOPInstanceUID": "", "SOPClassUID": ""}  # fmt: skip
                for image in self._find("IMAGE", keys):
                    sop, cls = (
                        str(image.get("SOPInstanceUID", "")),
                        str(image.get("SOPClassUID", "")),
                    )
                    # Only ultrasound can be curated; other classes have no C-GET context.
                    if sop and (not cls or cls in ULTRASOUND_SOP_CLASSES):
                        refs.append(InstanceRef(study, se, sop, cls))
        return dedupe(refs)

    def fetch(self, ref: InstanceRef) -> bytes:
        """C-GET one instance at IMAGE level; its bytes as the peer encoded them.

        Raises:
            SourceError: The peer cannot be reached, refuses, or sends nothing.
        """
        from pydicom.dataset import Dataset

        ident = Dataset()
        ident.QueryRetrieveLevel = "IMAGE"
        ident.StudyInstanceUID, ident.SeriesInstanceUID = ref.study, ref.series
        ident.SOPInstanceUID = ref.sop

        def attempt() -> bytes:
            assoc = self._associate()
            self._received.clear()
            final = None
            for status, _ in assoc.send_c_get(ident, _GET):
                if not status:
                    raise _Transient("C-GET got no reply (association aborted or timed out)")
                final = int(status.Status)
            if final != 0x0000 or len(self._received) != 1:
                got = "no status" if final is None else f"status 0x{final:04X}"
                raise SourceError(
                    f"C-GET failed ({got}, {len(self._received)} instance(s) received)",
                    file=self.label,
                )
            return self._received[0]

        data: bytes = self._retry("C-GET", attempt)
        check_instance(data, ref, self.label)
        return data

    def close(self) -> None:
        """Release the association."""
        if self._assoc is not None and self._assoc.is_established:
            self._assoc.release()
        self._assoc = None
