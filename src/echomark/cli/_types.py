"""argparse value types that check numbers where they enter: finite and within sane bounds."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def bounded_float(
    low: float, high: float, *, low_open: bool = False, unit: str = ""
) -> Callable[[str], float]:
    """A float type accepting finite values in ``[low, high]`` (``(low, high]`` if ``low_open``).

    >>> t = bounded_float(0, 1000, low_open=True, unit="ms")
    >>> t("33.3")
    33.3
    >>> t("-33")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: must be a number in (0, 1000] ms, got '-33'
    """
    bracket = "(" if low_open else "["
    where = f"{bracket}{low:g}, {high:g}]{' ' + unit if unit else ''}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or value > high:
            raise argparse.ArgumentTypeError(f"must be a number in {where}, got {text!r}")
        return value

    return parse


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An int type accepting ``low..high``.

    >>> bounded_int(1, 4)("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: must be a whole number in 1..4, got '0'
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number in {low}..{high}, got {text!r}"
            )
        return value

    return parse
