"""Entry point of the ``echomark`` command: finds the verb modules and dispatches."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from echomark import __version__
from echomark.cli._boundary import (
    EXIT_CODES_HELP,
    ExitCode,
    describe,
    format_traceback,
    logging_for,
    quiet_broken_pipe,
)
from echomark.errors import missing_extra_message

#: Verbs in the order ``--help`` lists them (pipeline order); others follow alphabetically.
_ORDER = (
    "synth", "curate", "labels", "cache", "train", "predict", "evaluate",
    "measure", "export", "models", "model-info", "view", "serve", "demo",
)  # fmt: skip


def _check_requires(mod_names: Sequence[str]) -> None:
    """Raise ModuleNotFoundError for the first of ``mod_names`` that cannot be imported.

    Looks the modules up without importing them, so a verb that needs torch fails at once
    instead of after minutes of work.
    """
    for name in mod_names:
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: message (see PROG --help)`` and exit 2."""
        self.exit(ExitCode.INPUT, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


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


def _add_common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """-v/-q/--debug on ``parser`` and every nested sub-parser.

    Below the top level the defaults are suppressed, so ``echomark -v labels stats`` and
    ``echomark labels stats -v`` both work.
    """

    def defaults(value: object) -> dict[str, Any]:
        return {"default": value if top else argparse.SUPPRESS}

    group = parser.add_argument_group("output")
    group.add_argument(
        "-v", "--verbose", action="count", help="more detail (repeatable)", **defaults(0)
    )
    group.add_argument(
        "-q", "--quiet", action="count", help="only warnings and errors", **defaults(0)
    )
    group.add_argument(
        "--debug", action="store_true", help="show the traceback of an error", **defaults(False)
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_common(sub, top=False)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per verb."""
    parser = _Parser(
        prog="echomark",
        description="AI on echocardiograms: curate -> labels -> train -> predict -> "
        "evaluate -> measure, in the Unity Imaging dataset format.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("--version", action="version", version=f"echomark {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    sub.required = True
    for mod in _verb_modules():
        mod.add_parser(sub)
    for verb in sub.choices.values():
        if verb.epilog is None:
            verb.epilog = EXIT_CODES_HELP
    _add_common(parser, top=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``echomark`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    Every failure a user can cause ends as one line on stderr, ``echomark VERB: error:
    what (which file): what to do``, and an :class:`~echomark.cli._boundary.ExitCode`;
    ``--debug`` prints the traceback first. A closed output pipe ends quietly.
    An optional dependency that is missing is one line naming the pip extra (exit 2).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else ExitCode.INPUT
    prog = f"echomark {args.command}"
    verbosity = int(args.verbose or 0) - int(args.quiet or 0)
    with logging_for(prog, verbosity):
        try:
            _check_requires(getattr(args, "requires", ()))
            return int(args.func(args) or 0)
        except ModuleNotFoundError as exc:
            message = missing_extra_message(exc.name or "")
            if message is None:
                code, message = describe(exc)
            else:
                code = ExitCode.INPUT
            if args.debug:
                print(format_traceback(exc), file=sys.stderr, end="")
            print(f"{prog}: error: {message}", file=sys.stderr)
            return code
        except BrokenPipeError:
            quiet_broken_pipe()
            return ExitCode.BROKEN_PIPE
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return ExitCode.INTERRUPTED
        except Exception as exc:
            code, message = describe(exc)
            message = " ".join(message.split())  # one line, whatever a library put in it
            if args.debug:
                print(format_traceback(exc), file=sys.stderr, end="")
            with contextlib.suppress(BrokenPipeError):
                print(f"{prog}: error: {message}", file=sys.stderr)
            return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
