"""Entry point of the ``echomark`` command: finds the verb modules and dispatches."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from echomark import __version__
from echomark.errors import EchomarkError, missing_extra_message

#: Verbs in the order ``--help`` lists them (pipeline order); others follow alphabetically.
_ORDER = (
    "synth", "curate", "labels", "cache", "train", "predict", "evaluate",
    "measure", "export", "model-info", "view", "serve", "demo",
)  # fmt: skip


def _check_requires(mod_names: Sequence[str]) -> None:
    """Raise ModuleNotFoundError for the first of ``mod_names`` that cannot be imported.

    Looks the modules up without importing them, so a verb that needs torch fails at once
    instead of after minutes of work.
    """
    for name in mod_names:
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _verb_modules() -> list[ModuleType]:
    """Every ``echomark.cli.<module>`` that defines a verb (``COMMAND`` + ``add_parser``).

    Verb modules keep heavy imports (torch, pydicom) inside ``run`` so that building the
    parser stays fast.
    """
    import echomark.cli as pkg

    mods = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_") or info.name == "main":
            continue
        mod = importlib.import_module(f"echomark.cli.{info.name}")
        if hasattr(mod, "COMMAND") and hasattr(mod, "add_parser"):
            mods.append(mod)
    rank = {name: i for i, name in enumerate(_ORDER)}
    return sorted(mods, key=lambda m: (rank.get(m.COMMAND, len(rank)), m.COMMAND))


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per verb."""
    parser = argparse.ArgumentParser(
        prog="echomark",
        description="AI on echocardiograms: curate -> labels -> train -> predict -> "
        "evaluate -> measure, in the Unity Imaging dataset format.",
    )
    parser.add_argument("--version", action="version", version=f"echomark {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True
    for mod in _verb_modules():
        mod.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``echomark`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    Exit codes: 0 success, 1 the job ran but found problems (e.g. failed checks),
    2 bad input or usage, or an optional dependency missing (one line naming the pip extra),
    130 interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        _check_requires(getattr(args, "requires", ()))
        return int(args.func(args) or 0)
    except ModuleNotFoundError as exc:
        message = missing_extra_message(exc.name or "")
        if message is None:
            raise
        print(f"echomark {args.command}: error: {message}", file=sys.stderr)
        return 2
    except EchomarkError as exc:
        print(f"echomark {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"echomark {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
