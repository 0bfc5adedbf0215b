"""``echomark labels validate|stats|convert``: check, count and convert label JSON files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from echomark.labels.schema import LabelProblem

COMMAND = "labels"

_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``labels`` and its three actions."""
    p = subparsers.add_parser(
        COMMAND,
        help="validate, count and convert label JSON (labels.zip, a folder or a .json)",
        description="Validate, count and convert label files in the release JSON forms "
        "(v1 strings, v2 instance lists). PATH is labels.zip (read in place), a folder "
        "holding labels-<split>.json, or one .json file.",
    )
    sub = p.add_subparsers(dest="action", metavar="<action>")
    sub.required = True

    v = sub.add_parser(
        "validate",
        help="report every problem as 'file: key: label: what'",
        description="Report every problem, one line each: 'file: key: label: what'. "
        "Exit 0 clean (info lines allowed), 1 errors or warnings found, 2 unreadable "
        "input or (with --strict) the first error.",
    )
    v.add_argument("path", help="labels.zip, a folder, or a .json file")
    v.add_argument(
        "--split", help="one split (all/train/tune/ival/...); default every labels-*.json present"
    )
    v.add_argument(
        "--images",
        metavar="CACHE",
        help="png-cache folder or png-cache.zip: report keys with no image",
    )
    v.add_argument("--strict", action="store_true", help="stop at the first error (exit 2)")
    v.add_argument(
        "--min-severity",
        choices=("info", "warning", "error"),
        default="info",
        help="print problems at least this serious (default info)",
    )
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(func=run)

    s = sub.add_parser(
        "stats",
        help="images, videos, label states per label and per view",
        description="Count images, videos, and label states per label and per view.",
    )
    s.add_argument("path", help="labels.zip, a folder, or a .json file")
    s.add_argument("--split", help="one split; default every labels-*.json present")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=run)

    c = sub.add_parser(
        "convert",
        help="rewrite labels as v1 (release strings) or v2 (instance lists), atomically",
        description="Rewrite a label file in the canonical v1 or v2 layout. The input is "
        "read strictly (any error: exit 2, nothing written) unless --lenient. v1 keeps one "
        "instance per label at 1 decimal and drops conf and straight_segment.",
    )
    c.add_argument("input", help="labels.zip, a folder, or a .json file")
    c.add_argument(
        "output",
        help="output .json file, or .zip (a zip holding labels-<split>.json); replaced atomically",
    )
    c.add_argument("--to", required=True, choices=("v1", "v2"), help="output form")
    c.add_argument("--split", default=None, help="split to read from a zip/folder (default all)")
    c.add_argument(
        "--lenient",
        action="store_true",
        help="write unusable labels as blurred (reported) instead of refusing",
    )
    c.add_argument(
        "--first-instance",
        action="store_true",
        help="for v1, keep the first instance of multi-instance labels",
    )
    c.add_argument(
        "--wrapper",
        choices=("auto", "yes", "no"),
        default="auto",
        help="'labels' wrapper per image: auto = as read for the same form, else v1 yes / v2 no",
    )
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action; returns the exit code."""
    if args.action == "validate":
        return _validate(args)
    if args.action == "stats":
        return _stats(args)
    return _convert(args)


def _problem_line(p: LabelProblem) -> str:
    """One problem as printed: errors bare, others tagged ``[warning]`` / ``[info]``."""
    from echomark.labels.schema import Severity

    tag = "" if p.severity is Severity.ERROR else f"[{p.severity.value}] "
    return f"{tag}{p}"


def _splits_to_read(path: str, split: str | None) -> list[str | None]:
    """Which splits to read: the one asked for, every one present, or [None] for a file."""
    from echomark.errors import LabelError
    from echomark.labels.splits import available_splits, is_zip_file

    if split is not None:
        return [split]
    p = Path(path)
    if p.is_file() and not is_zip_file(p):
        return [None]
    found = available_splits(p)
    if not found:
        raise LabelError("no labels-<split>.json found", file=path)
    return list(found)


def _validate(args: argparse.Namespace) -> int:
    from echomark.errors import LabelError
    from echomark.labels.schema import LabelFile, Severity
    from echomark.labels.splits import check_list, check_splits, read_split, read_split_list
    from echomark.labels.validate import check_inside_images, check_known_images, count_problems

    known: set[str] | None = None
    store: Any = None
    if args.images:
        from echomark.cache.store import open_store

        store = open_store(args.images)
        known = {k.name for k in store.keys()}

    def image_size(key: str) -> tuple[int, int] | None:
        from echomark.cache.png import png_size

        if known is None or key not in known:
            return None
        return png_size(store.read_bytes(key)[:33])

    files: dict[str, LabelFile] = {}
    problems: list[LabelProblem] = []
    for split in _splits_to_read(args.path, args.split):
        lf = read_split(args.path, split, strict=args.strict, progress=not args.quiet)
        files[split or lf.source] = lf
        problems += lf.problems
        listed = read_split_list(args.path, split or "all")
        if listed is not None:
            problems += check_list(
                lf,
                listed,
                f"labels-{split}.txt" if split else Path(args.path).with_suffix(".txt").name,
            )
        if known is not None:
            problems += check_known_images(lf, known, strict=args.strict)
            problems += check_inside_images(lf, image_size)
    problems += check_splits(files)
    if args.strict:
        for p in problems:
            if p.severity is Severity.ERROR:
                raise LabelError(p.message, file=p.file, key=p.key, field=p.label)

    counts = count_problems(problems)
    limit = _SEVERITY_RANK[args.min_severity]
    shown = [p for p in problems if _SEVERITY_RANK[p.severity.value] <= limit]
    if args.json:
        out: dict[str, Any] = {
            "files": [
                {
                    "source": lf.source,
                    "images": len(lf.images),
                    "format": lf.format.value,
                    "wrapped": lf.wrapped,
                }
                for lf in files.values()
            ],
            "counts": counts,
            "problems": [p.to_dict() for p in shown],
        }
        print(json.dumps(out, indent=1))
    else:
        for p in shown:
            print(_problem_line(p))
        n_images = sum(len(lf.images) for lf in files.values())
        print(
            f"checked {len(files)} file(s), {n_images} image entries: {counts['error']} "
            f"error(s), {counts['warning']} warning(s), {counts['info']} info",
            file=sys.stderr,
        )
    return 1 if counts["error"] or counts["warning"] else 0


def _stats(args: argparse.Namespace) -> int:
    from echomark.labels.splits import read_split
    from echomark.labels.stats import label_stats

    results = [
        label_stats(read_split(args.path, split, progress=not args.quiet))
        for split in _splits_to_read(args.path, args.split)
    ]
    if args.json:
        print(json.dumps({"files": [r.to_dict() for r in results]}, indent=1))
        return 0
    for r in results:
        print(f"{r.source}: {r.images} images, {r.videos} videos")
        if r.views:
            print("  views (images with a drawn label of the view / drawn labels):")
            for view, c in r.views.items():
                print(f"    {view:<9} {c['images']:>7} {c['drawn']:>8}")
        if r.states:
            width = max(24, *(len(n) for n in r.states))
            cols = ("point", "curve", "off", "blurred", "missing")
            print(f"  {'label':<{width}} " + " ".join(f"{c:>7}" for c in cols))
            for name, c in r.states.items():
                mark = " (not in registry)" if name in r.unknown else ""
                print(f"  {name:<{width}} " + " ".join(f"{c[k]:>7}" for k in cols) + mark)
    return 0


def _convert(args: argparse.Namespace) -> int:
    from echomark.errors import InputError
    from echomark.labels.io import dumps_labels, v1_losses, write_labels
    from echomark.labels.schema import LabelFormat, Severity
    from echomark.labels.splits import read_split

    out = Path(args.output)
    if out.suffix.lower() not in (".json", ".zip"):
        raise InputError("output must end in .json (a label file) or .zip", file=str(out))
    if out.is_dir():
        raise InputError("output is a folder; give a .json or .zip file name", file=str(out))
    lf = read_split(args.input, args.split, strict=not args.lenient, progress=not args.quiet)
    for p in lf.problems:
        print(_problem_line(p), file=sys.stderr)
    fmt = LabelFormat(args.to)
    wrapped = {"auto": None, "yes": True, "no": False}[args.wrapper]
    if fmt is LabelFormat.V1:
        lost = v1_losses(lf)
        notes = [
            f"{lost['conf']} label(s) lose conf" if lost["conf"] else "",
            f"{lost['straight_segment']} curve(s) lose straight_segment"
            if lost["straight_segment"]
            else "",
            f"{lost['rounded']} label(s) rounded to 1 decimal" if lost["rounded"] else "",
            f"{lost['extra_instances']} extra instance(s) dropped"
            if lost["extra_instances"] and args.first_instance
            else "",
        ]
        if any(notes):
            print("v1: " + "; ".join(n for n in notes if n), file=sys.stderr)
    if out.suffix.lower() == ".zip":
        import zipfile

        from echomark.fileio import atomic_path

        text = dumps_labels(lf, fmt, wrapped=wrapped, first_instance_only=args.first_instance)
        member = f"labels-{args.split or 'all'}.json"
        with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            # A fixed date keeps the zip byte-identical for the same labels.
            zf.writestr(zipfile.ZipInfo(member, (1980, 1, 1, 0, 0, 0)), text)
    else:
        write_labels(lf, out, fmt, wrapped=wrapped, first_instance_only=args.first_instance)
    print(f"wrote {args.output} ({len(lf.images)} images, {fmt.value})")
    return 1 if any(p.severity is Severity.ERROR for p in lf.problems) else 0
