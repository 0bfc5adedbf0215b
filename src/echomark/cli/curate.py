"""``echomark curate``: DICOM files -> de-identified PNG frames in the release layout."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

COMMAND = "curate"

_EPILOG = """\
outputs in DIR:
  png-cache/<class>/<h0h1>/<h2h3>/<class>-<64hex>-<NNNN>.png   de-identified frames
  manifest.csv                  one row per video: size, timing, device, calibration, masking
  <class>_database_physical.csv FileHash, PhysicalDeltaX, PhysicalDeltaY (cm per pixel)
  curate/records/<code>.json    per-file report: what was masked and how
  png-cache.zip                 with --zip (deterministic)

Codes are SHA-256 of the file bytes, or HMAC-SHA256 with the secret from --key-file or
$ECHOMARK_CODE_KEY (then nobody holding the originals can link a code back to a file).
Frames are 8-bit grey, or RGB when the scan area holds real colour (e.g. colour Doppler).
Re-running resumes: existing frames are kept, so an interrupted run finishes byte-identical.

servers (pip install 'echomark[pacs]'):
  dicomweb+http://HOST:PORT/PATH   QIDO-RS query, WADO-RS retrieve of each instance as stored
  dimse://AET@HOST:PORT            C-FIND + C-GET (as --calling-aet)
  e.g. echomark curate dicomweb+http://pacs:8042/dicom-web --query ModalitiesInStudy=US
         --query StudyDate=20200101-20201231 --out DIR
Credentials: $ECHOMARK_DICOMWEB_TOKEN, $ECHOMARK_DICOMWEB_USER/$ECHOMARK_DICOMWEB_PASSWORD or
~/.netrc (never on the command line). A re-run fetches only what DIR has not curated yet.
See docs/pacs.md for how codes are formed for each source.

Exit codes: 0 all inputs curated or skipped with a reason, 1 some failed, 2 bad usage or a
server that cannot be queried; 70, 74, 75, 130 and 141 as for every verb (echomark --help).
"""


def add_parser(subparsers: Any) -> None:
    """Register ``echomark curate``."""
    p = subparsers.add_parser(
        COMMAND,
        help="DICOM ultrasound -> de-identified png-cache (masking, OCR, calibration CSV)",
        description="Curate ultrasound DICOM files (files, folders, DICOMDIRs) into a "
        "de-identified png-cache in the Unity Imaging release layout.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sources", nargs="+", metavar="SRC",
                   help="DICOM file, folder, DICOMDIR, or server (dicomweb+http://..., dimse://...)")  # fmt: skip
    p.add_argument("--class", dest="dataset_class", default="01", metavar="CC",
                   help="dataset class: 01 development, 02 external validation (default 01)")  # fmt: skip
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--zip", action="store_true", help="also write DIR/png-cache.zip")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes, parallel over files and frame ranges (default 1)")  # fmt: skip
    p.add_argument("--key-file", type=Path, metavar="F",
                   help="secret for keyed codes (default: $ECHOMARK_CODE_KEY if set)")  # fmt: skip
    p.add_argument("--code-from", choices=("file", "content"), default="file",
                   help="codes from the file bytes (default, as the release) or the DICOM content "
                   "(the same over DICOMweb, DIMSE and disk; docs/pacs.md)")  # fmt: skip
    p.add_argument("--no-ocr", action="store_true",
                   help="skip burnt-in text detection (text inside the scan area stays!)")  # fmt: skip
    p.add_argument("--compress-level", type=int, default=None, metavar="L",
                   help="PNG zlib level 0-9 (default 1: 3x faster to write than 6, ~10%% larger)")  # fmt: skip
    p.add_argument("--query", action="append", default=[], metavar="KEY=VALUE",
                   help="server query, DICOM keyword = value (repeatable), e.g. ModalitiesInStudy=US")  # fmt: skip
    p.add_argument("--calling-aet", default="ECHOMARK", metavar="AET",
                   help="our AE title for dimse:// servers (default ECHOMARK)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds a server may take to connect or send the next bytes (default 30)")  # fmt: skip
    p.add_argument("--retries", type=int, default=3, metavar="N",
                   help="retries of a transient server error, waits doubling from 0.5 s (default 3)")  # fmt: skip
    p.add_argument("--pull-batch", type=int, default=64, metavar="N",
                   help="server instances fetched and curated per pass (default 64): bounds the "
                   "temporary spool and what a killed run fetches again")  # fmt: skip
    p.add_argument("--dask", metavar="ADDR",
                   help="run on Dask: local:N (a LocalCluster of N processes) or tcp://HOST:PORT "
                   "(every worker must see DIR and the inputs at the same paths; docs/scale-out.md)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Curate; exit 1 when any input failed."""
    from echomark.cache.png import DEFAULT_COMPRESS_LEVEL
    from echomark.dicom.codes import CodeSource, load_code_key
    from echomark.dicom.curate import CurateOptions, Outcome
    from echomark.errors import ConfigError
    from echomark.sources.base import RetryPolicy, is_server_spec, parse_queries
    from echomark.workflows.curate import run_curation

    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    level = DEFAULT_COMPRESS_LEVEL if args.compress_level is None else args.compress_level
    if not 0 <= level <= 9:
        raise ConfigError(f"--compress-level must be 0-9, got {level}")
    options = CurateOptions(
        dataset_class=args.dataset_class,
        out_dir=args.out,
        workers=args.workers,
        ocr=not args.no_ocr,
        compress_level=level,
        key=load_code_key(args.key_file),
        zip=args.zip,
        code_source=CodeSource(args.code_from),
    )

    def log(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr)

    servers = [s for s in args.sources if is_server_spec(s)]
    if args.query and not servers:
        raise ConfigError("--query applies to servers only (dicomweb+http://..., dimse://...)")
    if args.retries < 0 or args.timeout <= 0:
        raise ConfigError("--retries must be >= 0 and --timeout > 0")
    if args.dask and args.workers != 1:
        raise ConfigError("--dask and --workers exclude each other (the cluster sets the workers)")
    result, pulls = run_curation(
        [s for s in args.sources if not is_server_spec(s)],
        servers,
        options,
        query=parse_queries(args.query),
        policy=RetryPolicy(retries=args.retries, timeout_s=args.timeout),
        calling_aet=args.calling_aet,
        dask=args.dask or "",
        progress=not args.quiet,
        log=log,
        pull_batch=args.pull_batch,
    )
    total = result.frames_written + result.frames_skipped
    rate = result.frames_written / result.seconds if result.seconds > 0 else 0.0
    summary = {
        "out": str(args.out),
        "curated": result.count(Outcome.CURATED),
        "skipped": result.count(Outcome.SKIPPED),
        "duplicates": result.count(Outcome.DUPLICATE),
        "failed": result.count(Outcome.FAILED),
        "frames": total,
        "frames_written": result.frames_written,
        "frames_already_present": result.frames_skipped,
        "seconds": round(result.seconds, 2),
        "frames_per_s": round(rate, 1),
        "failures": [{"code": f.code, "reason": f.reason} for f in result.failed],
    }
    if pulls:
        summary["servers"] = [
            {"server": sp.label, "listed": sp.state.listed, "already_curated": sp.state.already,
             "fetched": sp.state.fetched, "failed": sp.state.failed}
            for sp in pulls
        ]  # fmt: skip
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(
            f"curated {summary['curated']} videos ({total} frames: {result.frames_written} "
            f"written, {result.frames_skipped} already present) in {result.seconds:.1f} s; "
            f"{summary['skipped']} skipped, {summary['duplicates']} duplicates, "
            f"{summary['failed']} failed -> {args.out}"
        )
    return 1 if result.failed else 0
