"""Pulling instances from a server into curation, resumable without refetching.

A pull lists the server's matching instances, leaves out those this output folder has
already curated (or skipped), fetches the rest one at a time and hands each to
``echomark.dicom.curate`` as an :class:`~echomark.dicom.curate.Instance`. What was fetched
is remembered in ``DIR/curate/fetched.log``: one line per instance, an opaque instance id
(SHA-256, or HMAC-SHA256 under the code key, of its three UIDs: the UIDs themselves are
never written) and the code of its bytes, or ``skip``. The log is append-only and each line
is one ``write`` of a few dozen bytes, so a killed run leaves at most one torn last line,
which is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from echomark.dicom.codes import bytes_code
from echomark.dicom.curate import (
    WORK_DIR,
    CurateOptions,
    FileResult,
    Instance,
    Outcome,
    complete_records,
    input_code,
)
from echomark.errors import SourceError
from echomark.sources.base import MAX_CONSECUTIVE_FAILURES, InstanceRef, InstanceSource

#: Ledger of fetched instances inside ``DIR``.
LEDGER_NAME = "fetched.log"
#: Ledger value for an instance curation skipped (not an ultrasound image, ...).
SKIP = "skip"
_HEX = frozenset("0123456789abcdef")


def instance_id(ref: InstanceRef, key: bytes | None) -> str:
    """Opaque 64-hex id of a server instance (its UIDs never leave memory)."""
    uids = "\0".join((ref.study, ref.series, ref.sop)).encode("ascii", "replace")
    return bytes_code(b"echomark-instance\0" + uids, key)


class FetchLedger:
    """The append-only record of what a folder has fetched (see the module docstring)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / WORK_DIR / LEDGER_NAME
        self.entries: dict[str, str] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="ascii", errors="replace").splitlines():
                parts = line.split(" ")
                if len(parts) == 2 and len(parts[0]) == 64 and set(parts[0]) <= _HEX:
                    value = parts[1]
                    if value == SKIP or (len(value) == 64 and set(value) <= _HEX):
                        self.entries[parts[0]] = value

    def add(self, iid: str, value: str) -> None:
        """Remember one instance (a single small append: atomic enough, see above)."""
        if self.entries.get(iid) == value:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{iid} {value}\n".encode("ascii"))
        finally:
            os.close(fd)
        self.entries[iid] = value


@dataclass
class PullState:
    """What one pull did besides curating (filled while the instances stream).

    Attributes:
        listed: Instances the server listed (after de-duplication).
        already: Instances left out because this folder has them curated or skipped.
        fetched: Instances fetched.
        failed: Instances that could not be fetched.
        names: Display name -> instance id of each fetched instance.
    """

    listed: int = 0
    already: int = 0
    fetched: int = 0
    failed: int = 0
    names: dict[str, str] = field(default_factory=dict)


def pull(
    source: InstanceSource,
    options: CurateOptions,
    state: PullState,
    say: Callable[[str], None] = lambda line: None,
) -> Iterator[Instance]:
    """Instances of ``source`` not yet curated in ``options.out_dir``, fetched lazily.

    Args:
        source: An opened source.
        options: The curation run's options (folder, class, code key).
        state: Filled with counts as the pull proceeds.
        say: Log line sink.

    Yields:
        One :class:`Instance` per instance to curate; one with ``error`` set for each that
        could not be fetched. After :data:`MAX_CONSECUTIVE_FAILURES` failures in a row the
        rest are reported failed without asking the server again.

    Raises:
        SourceError: Listing failed (unreachable server, refused, unauthorised, ...).
    """
    out_dir = Path(options.out_dir)
    ledger = FetchLedger(out_dir)
    settings = options.settings()
    done = {
        rec["hex"]
        for rec in complete_records(out_dir)
        if rec.get("settings") == settings and rec.get("class") == options.dataset_class
    }
    refs = source.list_instances()
    state.listed = len(refs)
    streak = 0
    stopped = ""
    for ref in refs:
        iid = instance_id(ref, options.key)
        have = ledger.entries.get(iid)
        if have is not None and (have == SKIP or have in done):
            state.already += 1
            continue
        name = f"{source.label} instance {iid[:12]}"
        if stopped:
            state.failed += 1
            yield Instance(name, error=stopped)
            continue
        try:
            data = source.fetch(ref)
        except SourceError as exc:
            state.failed += 1
            streak += 1
            if streak >= MAX_CONSECUTIVE_FAILURES:
                stopped = (
                    f"not fetched: {MAX_CONSECUTIVE_FAILURES} failures in a row ({exc.message})"
                )
                say(f"{source.label}: stopping the pull, {stopped}")
            yield Instance(name, error=exc.message)
            continue
        streak = 0
        state.fetched += 1
        state.names[name] = iid
        ledger.add(iid, input_code(data, options))
        yield Instance(name, data)


def record_skips(out_dir: Path, state: PullState, files: list[FileResult]) -> None:
    """Remember the instances curation skipped, so a rerun does not fetch them again."""
    ledger = FetchLedger(out_dir)
    for res in files:
        iid = state.names.get(res.path)
        if iid is not None and res.outcome is Outcome.SKIPPED:
            ledger.add(iid, SKIP)
