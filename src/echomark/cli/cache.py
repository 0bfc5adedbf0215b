"""``echomark cache``: list and verify a png-cache folder or zip."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

COMMAND = "cache"


def add_parser(subparsers: Any) -> None:
    """Register ``echomark cache verify|ls``."""
    p = subparsers.add_parser(COMMAND, help="list or verify a png-cache (folder or zip)")
    sub = p.add_subparsers(dest="action", metavar="<action>")
    sub.required = True

    v = sub.add_parser("verify", help="report missing and corrupt PNGs (exit 1 if any)")
    v.add_argument("cache", help="png-cache.zip, a png-cache folder, or a folder holding one")
    v.add_argument("--labels", help="labels.zip, folder or .json whose images must all be present")
    v.add_argument("--split", default="all", help="split of --labels to check (default: all)")
    v.add_argument("--quick", action="store_true", help="check bytes and signatures, skip decoding")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(func=run)

    ls = sub.add_parser("ls", help="list videos (default) or frames")
    ls.add_argument("cache", help="png-cache.zip, a png-cache folder, or a folder holding one")
    ls.add_argument("--frames", action="store_true", help="list every frame key")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; exit 1 when verify finds an error."""
    from echomark.cache.store import open_store

    store = open_store(args.cache)
    if args.action == "ls":
        return _ls(store, args)
    return _verify(store, args)


def _ls(store: Any, args: argparse.Namespace) -> int:
    videos = store.videos()
    if args.json:
        payload: Any
        if args.frames:
            payload = [k.name for k in store.keys()]
        else:
            payload = [{"video": str(v), "frames": len(f)} for v, f in sorted(videos.items())]
        print(json.dumps(payload, indent=1))
        return 0
    if args.frames:
        for k in store.keys():
            print(k.name)
    else:
        for v, f in sorted(videos.items()):
            print(f"{v}  {len(f):5d} frames")
    print(f"{len(videos)} videos, {sum(len(f) for f in videos.values())} frames in {store.location}",
          file=sys.stderr)  # fmt: skip
    return 0


def _verify(store: Any, args: argparse.Namespace) -> int:
    from echomark.cache.verify import Severity, verify_store

    expected = None
    if args.labels:
        from echomark.labels.splits import read_split

        expected = list(read_split(args.labels, args.split).images)
    from echomark.progress import ByteProgress

    bar = None if args.quiet else ByteProgress(len(store), "verifying frames", unit="frame")
    last = [0]

    def step(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - last[0])
        last[0] = done

    try:
        problems = verify_store(store, expected, decode=not args.quick, progress=step)
    finally:
        if bar is not None:
            bar.close()
    n_err = sum(p.severity is Severity.ERROR for p in problems)
    if args.json:
        print(json.dumps({
            "cache": store.location,
            "frames": len(store),
            "errors": n_err,
            "warnings": len(problems) - n_err,
            "problems": [
                {"severity": p.severity.value, "item": p.item, "message": p.message} for p in problems
            ],
        }, indent=1))  # fmt: skip
    else:
        for p in problems:
            print(p)
        status = "OK" if n_err == 0 else "FAILED"
        print(f"{status}: {len(store)} frames, {n_err} errors, {len(problems) - n_err} warnings "
              f"in {store.location}")  # fmt: skip
    return 1 if n_err else 0
