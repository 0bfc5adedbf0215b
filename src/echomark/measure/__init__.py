"""Clinical measurements in mm from labels: PLAX, A4C, cines, agreement statistics, the report."""

from __future__ import annotations

from echomark.measure.demo import demo_agreement
from echomark.measure.pipeline import measure_labels

__all__ = ["demo_agreement", "measure_labels"]
