"""``echomark measure --sr DIR [--stow URL]``: write the DICOM SR reports, store them to a PACS."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from echomark.dicom.codes import file_code
from echomark.dicom.memory import ADHOC_CLASS
from echomark.dicom.read import SkipFile, is_dicom_file, read_header
from echomark.errors import ConfigError, SourceError
from echomark.fileio import atomic_path
from echomark.measure.pipeline import MeasureResult
from echomark.measure.sr import SourceInstance, build_report, reported, study_key
from echomark.sources.base import DEFAULT_TIMEOUT_S, parse_server_spec


def source_instances(inputs: Sequence[Path]) -> dict[str, SourceInstance]:
    """Video code -> header of each DICOM input (named as ``measure`` names DICOM videos)."""
    out: dict[str, SourceInstance] = {}
    for path in inputs:
        if path.is_file() and is_dicom_file(path):
            try:
                ds = read_header(path)
            except SkipFile:
                continue
            out[f"{ADHOC_CLASS}-{file_code(path)}"] = SourceInstance(ds)
    return out


def write_reports(result: MeasureResult, inputs: Sequence[Path], out_dir: Path) -> list[Path]:
    """One SR file per study into ``out_dir``: ``sr-<study key>.dcm`` (atomic writes).

    Raises:
        ConfigError: highdicom is not installed.
    """
    try:
        import highdicom  # noqa: F401
    except ModuleNotFoundError:
        raise ConfigError("--sr needs highdicom: pip install 'echomark[sr]'") from None
    sources = source_instances(inputs)
    by_study = defaultdict(list)
    for row in reported(result.rows):
        by_study[study_key(row)].append(row)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for key in sorted(by_study):
        ds = build_report(by_study[key], key, sources)
        # The file name must not carry a UID: study keys are hashes or video codes.
        path = out_dir / f"sr-{key.replace('+', '_')[:80]}.dcm"
        with atomic_path(path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
        paths.append(path)
    return paths


def stow(paths: Sequence[Path], server: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> int:
    """STOW-RS the reports to ``dicomweb+http(s)://...``; the number stored.

    Credentials as for curation (environment or netrc).

    Raises:
        SourceError: The server refuses or cannot be reached.
        ConfigError: Bad server spec or dicomweb-client missing.
    """
    import pydicom

    from echomark.sources.base import RetryPolicy, SourceKind
    from echomark.sources.dicomweb import DicomWebSource

    spec = parse_server_spec(server)
    if spec.kind is not SourceKind.DICOMWEB:
        raise ConfigError("--stow needs a dicomweb+http(s):// server", file=server)
    source = DicomWebSource(spec, query={}, policy=RetryPolicy(retries=0, timeout_s=timeout_s))
    try:
        datasets = [pydicom.dcmread(os.fspath(p)) for p in paths]
        if not datasets:
            return 0
        try:
            reply = source.client.store_instances(datasets)
        except Exception as exc:
            raise source.failure("STOW-RS store", exc) from None
        failed = getattr(reply, "FailedSOPSequence", None) or []
        if failed:
            raise SourceError(f"STOW-RS refused {len(failed)} of {len(datasets)} reports",
                              file=spec.label)  # fmt: skip
        return len(datasets)
    finally:
        source.close()
