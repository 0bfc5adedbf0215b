"""PLAX LV dimensions (IVS, LVID, LVPW) and the indices derived from them (RWT, mass, FS)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from echomark.calibration import Calibration, distance_mm
from echomark.labels.schema import ImageLabels
from echomark.measure._labels import DEFAULT_MIN_CONF, get_point

IVS_TOP = "lv-ivs-top"
IVS_BOTTOM = "lv-ivs-bottom"
PW_TOP = "lv-pw-top"
PW_BOTTOM = "lv-pw-bottom"

#: The four PLAX landmarks, anterior to posterior.
PLAX_POINTS = (IVS_TOP, IVS_BOTTOM, PW_TOP, PW_BOTTOM)


@dataclass(frozen=True)
class PlaxDimensions:
    """Linear PLAX dimensions of one frame, in mm (NaN where a landmark is missing).

    Attributes:
        ivs_mm: Interventricular septum thickness (lv-ivs-top ↔ lv-ivs-bottom).
        lvid_mm: LV internal diameter (lv-ivs-bottom ↔ lv-pw-top).
        lvpw_mm: LV posterior wall thickness (lv-pw-top ↔ lv-pw-bottom).
    """

    ivs_mm: float
    lvid_mm: float
    lvpw_mm: float


def plax_dimensions(
    labels: ImageLabels, cal: Calibration, *, min_conf: float = DEFAULT_MIN_CONF
) -> PlaxDimensions:
    """IVS, LVID and LVPW of one frame from its four PLAX landmarks.

    Args:
        labels: The frame's labels (expert or predicted).
        cal: Pixel spacing; anisotropic pixels are handled.
        min_conf: Predicted points at or below this confidence count as missing.

    Returns:
        The three dimensions in mm.
    """
    pts = [get_point(labels, name, min_conf) for name in PLAX_POINTS]

    def dist(i: int) -> float:
        a, b = pts[i], pts[i + 1]
        return math.nan if a is None or b is None else distance_mm(a, b, cal)

    return PlaxDimensions(dist(0), dist(1), dist(2))


def relative_wall_thickness(lvidd_mm: float, lvpwd_mm: float) -> float:
    """Relative wall thickness, ASE 2015: ``2 · LVPWd / LVIDd`` (dimensionless).

    >>> relative_wall_thickness(50.0, 10.0)
    0.4
    """
    return 2.0 * lvpwd_mm / lvidd_mm if lvidd_mm > 0 else math.nan


def lv_mass_g(ivsd_mm: float, lvidd_mm: float, lvpwd_mm: float) -> float:
    """LV mass by the ASE-corrected cube formula (Devereux), in g.

    ``0.8 · 1.04 · ((IVSd + LVIDd + LVPWd)³ − LVIDd³) + 0.6`` with dimensions in cm.

    >>> round(lv_mass_g(10.0, 50.0, 10.0), 2)
    181.98
    """
    ivs, lvid, pw = ivsd_mm / 10.0, lvidd_mm / 10.0, lvpwd_mm / 10.0
    return 0.8 * 1.04 * ((ivs + lvid + pw) ** 3 - lvid**3) + 0.6


def fractional_shortening_pct(lvidd_mm: float, lvids_mm: float) -> float:
    """Fractional shortening ``100 · (LVIDd − LVIDs) / LVIDd`` in %.

    >>> fractional_shortening_pct(50.0, 30.0)
    40.0
    """
    return 100.0 * (lvidd_mm - lvids_mm) / lvidd_mm if lvidd_mm > 0 else math.nan
