"""Shared checks for the annotator tests (HTTP API and real browser)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def assert_cli_validates_strict(labels: Path) -> None:
    """The saved label file passes ``echomark labels validate --strict`` in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "echomark", "labels", "validate", "--strict", str(labels)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
