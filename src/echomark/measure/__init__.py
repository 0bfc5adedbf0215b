"""Clinical measurements in mm: calibration, PLAX, A4C, cines, agreement statistics."""

from __future__ import annotations

from typing import Any

__all__ = ["demo_agreement", "measure_labels"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``echomark.measure.calibration`` (used by curation) stays a light import.
    if name == "demo_agreement":
        from echomark.measure.demo import demo_agreement

        return demo_agreement
    if name == "measure_labels":
        from echomark.measure.pipeline import measure_labels

        return measure_labels
    raise AttributeError(f"module 'echomark.measure' has no attribute {name!r}")
