"""The measurement vocabulary: every measurement's name, unit, definition, views and limits.

One table for synthetic truth, measurement, quality control, reports, agreement and DICOM SR.
Names say what was measured and how: ``LVEDV_A4C_disks`` is a single-plane (apical
four-chamber) method-of-disks volume, ``LVEDV_biplane_disks`` the ASE/EACVI-recommended
biplane one; ``GLS_A4C_endocardial_contour`` is the shortening of the traced endocardial
contour in one view, not speckle-tracking global longitudinal strain.

Normal ranges are the ASE/EACVI 2015 chamber-quantification ranges (Lang et al., J Am Soc
Echocardiogr 2015;28:1-39; mean ± 2 SD, the union of the male and female ranges) where that
guideline gives one, else None. Hard limits are echomark's: values no adult heart has, well
outside every published range; a value beyond them is a measurement failure, not a finding.
See ``docs/measure.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from echomark.errors import InputError
from echomark.labels.registry import View

ASE_2015 = "ASE/EACVI 2015 (Lang et al., JASE 2015;28:1-39)"
ASE_2005 = "ASE/EAE 2005 (Lang et al., JASE 2005;18:1440-63)"
ECHOMARK_LIMIT = "echomark: outside every published adult value"


class Phase(str, Enum):
    """When in the cardiac cycle a measurement is taken."""

    FRAME = "frame"
    """Any frame (a per-frame series)."""

    ED = "ED"
    """End-diastole of one beat."""

    ES = "ES"
    """End-systole of one beat."""

    CYCLE = "cycle"
    """Derived from one beat's ED and ES values (EF, FS, GLS) or its timing."""


class Measurement(str, Enum):
    """Every measurement echomark reports; the value is the name used in files."""

    # PLAX, per frame
    IVS = "IVS"
    LVID = "LVID"
    LVPW = "LVPW"
    # PLAX, per beat
    IVSd = "IVSd"
    LVIDd = "LVIDd"
    LVPWd = "LVPWd"
    IVSs = "IVSs"
    LVIDs = "LVIDs"
    LVPWs = "LVPWs"
    FS = "FS"
    RWT = "RWT"
    LV_mass_linear = "LV_mass_linear"
    # A4C, per frame
    LV_length_A4C = "LV_length_A4C"
    LV_area_A4C = "LV_area_A4C"
    LV_volume_A4C_disks = "LV_volume_A4C_disks"
    LV_volume_A4C_area_length = "LV_volume_A4C_area_length"
    LV_endocardial_length_A4C = "LV_endocardial_length_A4C"
    # A4C, per beat
    LV_length_d_A4C = "LV_length_d_A4C"
    LV_length_s_A4C = "LV_length_s_A4C"
    LVEDA_A4C = "LVEDA_A4C"
    LVESA_A4C = "LVESA_A4C"
    LVEDV_A4C_disks = "LVEDV_A4C_disks"
    LVESV_A4C_disks = "LVESV_A4C_disks"
    EF_A4C_disks = "EF_A4C_disks"
    LVEDV_A4C_area_length = "LVEDV_A4C_area_length"
    LVESV_A4C_area_length = "LVESV_A4C_area_length"
    EF_A4C_area_length = "EF_A4C_area_length"
    GLS_A4C_endocardial_contour = "GLS_A4C_endocardial_contour"
    # A2C, per frame
    LV_length_A2C = "LV_length_A2C"
    LV_area_A2C = "LV_area_A2C"
    LV_volume_A2C_disks = "LV_volume_A2C_disks"
    LV_volume_A2C_area_length = "LV_volume_A2C_area_length"
    LV_endocardial_length_A2C = "LV_endocardial_length_A2C"
    # A2C, per beat
    LV_length_d_A2C = "LV_length_d_A2C"
    LV_length_s_A2C = "LV_length_s_A2C"
    LVEDA_A2C = "LVEDA_A2C"
    LVESA_A2C = "LVESA_A2C"
    LVEDV_A2C_disks = "LVEDV_A2C_disks"
    LVESV_A2C_disks = "LVESV_A2C_disks"
    EF_A2C_disks = "EF_A2C_disks"
    LVEDV_A2C_area_length = "LVEDV_A2C_area_length"
    LVESV_A2C_area_length = "LVESV_A2C_area_length"
    EF_A2C_area_length = "EF_A2C_area_length"
    GLS_A2C_endocardial_contour = "GLS_A2C_endocardial_contour"
    # biplane (A4C + A2C of one study)
    LVEDV_biplane_disks = "LVEDV_biplane_disks"
    LVESV_biplane_disks = "LVESV_biplane_disks"
    EF_biplane = "EF_biplane"
    # timing (any view)
    heart_rate = "heart_rate"
    ED_to_ES_interval = "ED_to_ES_interval"


@dataclass(frozen=True)
class MeasurementSpec:
    """One row of the vocabulary.

    Attributes:
        name: The measurement.
        unit: Unit (UCUM-style: ``mm``, ``cm2``, ``mL``, ``%``, ``1``, ``g``, ``/min``, ``ms``).
        definition: What exactly is measured, in one sentence.
        views: Views it is measured in (empty: any view with LV timing).
        phase: Frame, ED, ES or cycle.
        frame_series: For ED/ES values, the per-frame measurement sampled at that phase.
        normal: Adult normal range ``(low, high)`` or None where no guideline gives one.
        normal_source: Where ``normal`` comes from.
        limits: Hard physiological limits ``(low, high)``: outside them, a failure.
        limits_source: Where ``limits`` come from.
        code: ``(scheme, value, meaning)`` of a standard code (LOINC ``LN``) or None.
    """

    name: Measurement
    unit: str
    definition: str
    views: tuple[View, ...]
    phase: Phase
    frame_series: Measurement | None
    normal: tuple[float, float] | None
    normal_source: str
    limits: tuple[float, float]
    limits_source: str
    code: tuple[str, str, str] | None = None


M = Measurement
_PLAX = (View.PLAX,)
_WALL = (2.0, 35.0)
_LVID = (10.0, 100.0)


def _plax() -> list[MeasurementSpec]:
    walls = {
        "IVS": ("interventricular septum thickness", (6.0, 10.0)),
        "LVPW": ("LV posterior wall thickness", (6.0, 10.0)),
    }
    out = [
        MeasurementSpec(
            M.IVS, "mm", "Septal thickness, lv-ivs-top to lv-ivs-bottom, on one frame.",
            _PLAX, Phase.FRAME, None, None, "", _WALL, ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            M.LVID, "mm", "LV internal diameter, lv-ivs-bottom to lv-pw-top, on one frame.",
            _PLAX, Phase.FRAME, None, None, "", _LVID, ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            M.LVPW, "mm", "Posterior wall thickness, lv-pw-top to lv-pw-bottom, on one frame.",
            _PLAX, Phase.FRAME, None, None, "", _WALL, ECHOMARK_LIMIT,
        ),
    ]  # fmt: skip
    codes = {
        "IVSd": ("LN", "18154-5", "Interventricular septum diastolic thickness"),
        "IVSs": ("LN", "18158-6", "Interventricular septum systolic thickness"),
        "LVIDd": ("LN", "29436-3", "Left ventricle internal end diastolic dimension"),
        "LVIDs": ("LN", "29438-9", "Left ventricle internal systolic dimension"),
        "LVPWd": ("LN", "18152-9", "Left ventricle posterior wall diastolic thickness"),
        "LVPWs": ("LN", "18156-0", "Left ventricle posterior wall systolic thickness"),
    }
    lvid_normal = {"d": (37.8, 58.4), "s": (21.6, 39.8)}
    for suffix, phase, when in (("d", Phase.ED, "end-diastole"), ("s", Phase.ES, "end-systole")):
        for base, (what, normal) in walls.items():
            out.append(
                MeasurementSpec(
                    M(base + suffix), "mm", f"PLAX {what} at {when}.", _PLAX, phase, M(base),
                    normal if suffix == "d" else None, ASE_2015 if suffix == "d" else "",
                    _WALL, ECHOMARK_LIMIT, codes[base + suffix],
                )
            )  # fmt: skip
        out.append(
            MeasurementSpec(
                M("LVID" + suffix), "mm", f"PLAX LV internal diameter at {when}.", _PLAX, phase,
                M.LVID, lvid_normal[suffix], ASE_2015, _LVID, ECHOMARK_LIMIT,
                codes["LVID" + suffix],
            )
        )  # fmt: skip
    out += [
        MeasurementSpec(
            M.FS, "%", "Fractional shortening 100·(LVIDd − LVIDs)/LVIDd of one beat.",
            _PLAX, Phase.CYCLE, None, (25.0, 45.0), ASE_2005, (1.0, 70.0), ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            M.RWT, "1", "Relative wall thickness 2·LVPWd/LVIDd.",
            _PLAX, Phase.ED, None, (0.22, 0.42), ASE_2015, (0.1, 1.5), ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            M.LV_mass_linear, "g",
            "LV mass, ASE-corrected cube formula 0.8·1.04·((IVSd+LVIDd+LVPWd)³ − LVIDd³) + 0.6 "
            "(cm).",
            _PLAX, Phase.ED, None, (67.0, 224.0), ASE_2015, (30.0, 800.0), ECHOMARK_LIMIT,
        ),
    ]  # fmt: skip
    return out


def _apical(view: View) -> list[MeasurementSpec]:
    v = view.value
    vw = (view,)
    n = {  # single-plane values have no ASE 2015 normal range
        "length": M(f"LV_length_{v}"),
        "area": M(f"LV_area_{v}"),
        "disks": M(f"LV_volume_{v}_disks"),
        "al": M(f"LV_volume_{v}_area_length"),
        "endo": M(f"LV_endocardial_length_{v}"),
    }
    length_lim, area_lim, vol_lim = (30.0, 150.0), (3.0, 100.0), (3.0, 600.0)
    out = [
        MeasurementSpec(
            n["length"], "mm", f"{v} LV length, endocardial apex to mid mitral annulus, one frame.",
            vw, Phase.FRAME, None, None, "", length_lim, ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            n["area"], "cm2",
            f"{v} LV cavity area inside the endocardial contour closed across the annulus.",
            vw, Phase.FRAME, None, None, "", area_lim, ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            n["disks"], "mL", f"{v} single-plane method-of-disks LV volume (20 disks), one frame.",
            vw, Phase.FRAME, None, None, "", vol_lim, ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            n["al"], "mL", f"{v} single-plane area-length LV volume 8·A²/(3π·L), one frame.",
            vw, Phase.FRAME, None, None, "", vol_lim, ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            n["endo"], "mm", f"{v} arc length of the traced LV endocardial contour, one frame.",
            vw, Phase.FRAME, None, None, "", (40.0, 400.0), ECHOMARK_LIMIT,
        ),
    ]  # fmt: skip
    for ph, d, when in ((Phase.ED, "d", "end-diastole"), (Phase.ES, "s", "end-systole")):
        big = "D" if d == "d" else "S"
        out += [
            MeasurementSpec(
                M(f"LV_length_{d}_{v}"), "mm", f"{v} LV length at {when}.", vw, ph, n["length"],
                None, "", length_lim, ECHOMARK_LIMIT,
            ),
            MeasurementSpec(
                M(f"LVE{big}A_{v}"), "cm2", f"{v} LV cavity area at {when}.", vw, ph, n["area"],
                None, "", area_lim, ECHOMARK_LIMIT,
            ),
            MeasurementSpec(
                M(f"LVE{big}V_{v}_disks"), "mL",
                f"{v} single-plane method-of-disks LV volume at {when}.", vw, ph, n["disks"],
                None, "", vol_lim, ECHOMARK_LIMIT,
            ),
            MeasurementSpec(
                M(f"LVE{big}V_{v}_area_length"), "mL",
                f"{v} single-plane area-length LV volume at {when}.", vw, ph, n["al"],
                None, "", vol_lim, ECHOMARK_LIMIT,
            ),
        ]  # fmt: skip
    out += [
        MeasurementSpec(
            M(f"EF_{v}_disks"), "%", f"{v} single-plane method-of-disks ejection fraction.",
            vw, Phase.CYCLE, None, None, "", (3.0, 95.0), ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            M(f"EF_{v}_area_length"), "%", f"{v} single-plane area-length ejection fraction.",
            vw, Phase.CYCLE, None, None, "", (3.0, 95.0), ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            M(f"GLS_{v}_endocardial_contour"), "%",
            f"Shortening of the traced {v} endocardial contour, 100·(L_ES − L_ED)/L_ED; one "
            "view, not speckle-tracking GLS (no normal range applies).",
            vw, Phase.CYCLE, None, None, "", (-45.0, 10.0), ECHOMARK_LIMIT,
        ),
    ]  # fmt: skip
    return out


def _biplane_and_timing() -> list[MeasurementSpec]:
    both = (View.A4C, View.A2C)
    return [
        MeasurementSpec(
            M.LVEDV_biplane_disks, "mL",
            "Biplane method-of-disks LV volume at end-diastole, Σ π/4·a_i·b_i·L/20 from A4C "
            "and A2C of one study.",
            both, Phase.ED, None, (46.0, 150.0), ASE_2015, (10.0, 600.0), ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            M.LVESV_biplane_disks, "mL", "Biplane method-of-disks LV volume at end-systole.",
            both, Phase.ES, None, (14.0, 61.0), ASE_2015, (3.0, 500.0), ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            M.EF_biplane, "%", "Biplane method-of-disks ejection fraction.",
            both, Phase.CYCLE, None, (52.0, 74.0), ASE_2015, (3.0, 95.0), ECHOMARK_LIMIT,
            ("LN", "10230-1", "Left ventricular Ejection fraction"),
        ),
        MeasurementSpec(
            M.heart_rate, "/min", "Heart rate from the time between consecutive end-diastoles.",
            (), Phase.CYCLE, None, None, "", (25.0, 250.0), ECHOMARK_LIMIT,
        ),
        MeasurementSpec(
            M.ED_to_ES_interval, "ms", "Time from end-diastole to the next end-systole.",
            (), Phase.CYCLE, None, None, "", (80.0, 800.0), ECHOMARK_LIMIT,
        ),
    ]  # fmt: skip


def _table() -> dict[Measurement, MeasurementSpec]:
    specs = [*_plax(), *_apical(View.A4C), *_apical(View.A2C), *_biplane_and_timing()]
    table = {s.name: s for s in specs}
    missing = set(Measurement) - set(table)
    if missing or len(table) != len(specs):  # pragma: no cover - guards edits to the table
        raise AssertionError(f"vocabulary table incomplete: {sorted(missing)}")
    return table


#: The vocabulary: every measurement's spec, in enum order.
VOCABULARY: dict[Measurement, MeasurementSpec] = dict(
    sorted(_table().items(), key=lambda kv: list(Measurement).index(kv[0]))
)

#: Views whose LV is measured with apical volumes (A3C/A5C are not: no ASE volume method).
VOLUME_VIEWS = (View.A4C, View.A2C)


def spec(name: Measurement | str) -> MeasurementSpec:
    """The vocabulary row of a measurement.

    Raises:
        InputError: ``name`` is not in the vocabulary.
    """
    return VOCABULARY[parse(name)]


def parse(name: Measurement | str) -> Measurement:
    """A measurement from its exact name (no aliases).

    >>> parse("LVEDV_A4C_disks") is Measurement.LVEDV_A4C_disks
    True

    Raises:
        InputError: ``name`` is not in the vocabulary.
    """
    if isinstance(name, Measurement):
        return name
    try:
        return Measurement(name)
    except ValueError:
        raise InputError(f"unknown measurement {name!r}", field="measurement") from None


def unit(name: Measurement | str) -> str:
    """The unit of a measurement."""
    return spec(name).unit


def at_phase(frame_series: Measurement, phase: Phase) -> Measurement:
    """The ED or ES measurement that samples a per-frame series (``LVID`` + ED → ``LVIDd``).

    Raises:
        InputError: No such measurement in the vocabulary.
    """
    for s in VOCABULARY.values():
        if s.frame_series is frame_series and s.phase is phase:
            return s.name
    raise InputError(f"no {phase.value} measurement of {frame_series.value}", field="measurement")


def sampled_at(phase: Phase) -> dict[Measurement, Measurement]:
    """Per-frame series -> its ED (or ES) measurement, for the series that have one.

    >>> sampled_at(Phase.ES)[Measurement.LVID].value
    'LVIDs'
    """
    return {
        s.frame_series: s.name
        for s in VOCABULARY.values()
        if s.frame_series is not None and s.phase is phase
    }


def apical(kind: str, view: View) -> Measurement:
    """A per-view apical measurement by kind, e.g. ``apical("LVEDV_{v}_disks", View.A2C)``.

    Args:
        kind: A name template with ``{v}`` where the view goes.
        view: A4C or A2C.
    """
    return parse(kind.format(v=view.value))
