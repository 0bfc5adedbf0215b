"""The CLI's error boundary: exit codes, one-line messages, logging and captured warnings."""

from __future__ import annotations

import errno
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from types import TracebackType
from typing import TextIO

from echomark.errors import EchomarkError


class ExitCode(IntEnum):
    """Exit codes of every ``echomark`` verb (documented in ``echomark --help``)."""

    OK = 0
    #: The job ran but found problems (failed checks, skipped inputs).
    PROBLEMS = 1
    #: Bad input or usage: a file, key, field or option that cannot be used.
    INPUT = 2
    #: The operating system refused a read or write: disk full, read-only, permissions
    #: (sysexits' EX_IOERR).
    SYSTEM = 74
    #: Another echomark process holds the output folder; try again later (EX_TEMPFAIL).
    BUSY = 75
    #: A bug in echomark (rerun with --debug and report it).
    INTERNAL = 70
    #: Interrupted (Ctrl-C).
    INTERRUPTED = 130
    #: The reader of our output went away (e.g. piped into ``head``).
    BROKEN_PIPE = 141


#: One line per code for ``--help``.
EXIT_CODES_HELP = (
    "exit codes: 0 success; 1 the job ran but found problems (failed checks, skipped inputs); "
    "2 bad input or usage; 3 (measure) no value passed the quality gate; 70 internal error "
    "(rerun with --debug and report it); 74 the system refused a read or write (disk full, "
    "read-only, permissions); 75 another echomark process holds the output folder; 130 "
    "interrupted; 141 output pipe closed."
)


def _where(exc: OSError) -> str:
    return f" {exc.filename}" if exc.filename else ""


def describe(exc: BaseException) -> tuple[ExitCode, str]:
    """The exit code and one-line message (what, which file, what to do) of an exception."""
    from echomark.errors import OutputBusyError

    if isinstance(exc, OutputBusyError):
        return ExitCode.BUSY, str(exc)
    if isinstance(exc, EchomarkError):
        text = str(exc)
        if "Original Traceback" in text:
            # Re-raised from a DataLoader worker: the message is the worker's last line.
            last = [line for line in text.splitlines() if line.strip()][-1]
            text = last.split(": ", 1)[1] if last.startswith("echomark.errors.") else last
        return ExitCode.INPUT, text
    if isinstance(exc, MemoryError):
        return ExitCode.SYSTEM, "out of memory; use smaller inputs or batches, or more memory"
    if isinstance(exc, OSError):
        where = _where(exc)
        if isinstance(exc, FileExistsError):
            return ExitCode.INPUT, f"already exists:{where}; choose another path"
        if isinstance(exc, NotADirectoryError):
            return ExitCode.INPUT, f"a file stands where a folder is needed:{where}"
        if isinstance(exc, IsADirectoryError):
            return ExitCode.INPUT, f"is a folder, a file is needed:{where}"
        if isinstance(exc, FileNotFoundError):
            return ExitCode.INPUT, f"not found:{where}"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return (
                ExitCode.SYSTEM,
                f"no space left on the device writing{where}; free space or choose another --out",
            )
        if exc.errno == errno.EROFS:
            return ExitCode.SYSTEM, f"read-only file system:{where}; choose a writable --out"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return (
                ExitCode.SYSTEM,
                f"permission denied:{where}; check the file's permissions or choose another path",
            )
        reason = exc.strerror or str(exc) or type(exc).__name__
        return ExitCode.SYSTEM, f"{reason}:{where}"
    if type(exc).__module__ == "cv2":
        cv_lines = str(exc).strip().splitlines()
        last = cv_lines[-1] if cv_lines else type(exc).__name__
        return ExitCode.INPUT, f"OpenCV could not process an image ({last.strip()})"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (
        ExitCode.INTERNAL,
        f"internal error ({type(exc).__name__}{': ' + first if first else ''}); rerun with "
        "--debug for the traceback and please report it",
    )


class _OneLineFormatter(logging.Formatter):
    """``echomark VERB: warning: text`` on one line; info lines as they are."""

    def __init__(self, prog: str) -> None:
        super().__init__()
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        text = " ".join(record.getMessage().split())
        if record.levelno >= logging.WARNING:
            return f"{self.prog}: {record.levelname.lower()}: {text}"
        return text


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Library warnings (pydicom, numpy, matplotlib...) as one echomark log line."""
    origin = Path(filename).parts
    lib = next(
        (p for p in ("pydicom", "numpy", "matplotlib", "torch", "PIL", "cv2") if p in origin), ""
    )
    source = f" (from {lib})" if lib else ""
    logging.getLogger("echomark").warning("%s%s: %s", category.__name__, source, message)


@contextmanager
def logging_for(prog: str, verbosity: int, stream: TextIO | None = None) -> Iterator[None]:
    """Route echomark's log records and Python warnings to one-line stderr messages.

    Args:
        prog: ``echomark VERB`` (prefix of warnings and errors).
        verbosity: -1 quiet (warnings and errors only), 0 normal, 1+ debug.
        stream: Where lines go (default: the current ``sys.stderr``).
    """
    logger = logging.getLogger("echomark")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_OneLineFormatter(prog))
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(
        logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    )
    logger.propagate = False
    old_show = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        # The interpreter's filters stay (ResourceWarning and DeprecationWarning remain
        # hidden from users); only how a shown warning is printed changes.
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            yield
    finally:
        warnings.showwarning = old_show
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def quiet_broken_pipe() -> None:
    """After the reader of stdout went away: point stdout at /dev/null so exit stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a descriptor (tests)
        pass


def format_traceback(exc: BaseException) -> str:
    """The traceback text shown with ``--debug``."""
    import traceback

    tb: TracebackType | None = exc.__traceback__
    return "".join(traceback.format_exception(type(exc), exc, tb))
