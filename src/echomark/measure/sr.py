"""DICOM SR out: one TID 1500 Measurement Report per study, built with highdicom.

Each reported value is its own measurement group (TID 1501): the value with its standard
code (LOINC for the named echo measurements, DICOM for strain), UCUM unit, method (method of
disks, single plane or biplane), finding site (left ventricle), the source instance and
frame it was measured on when the input was DICOM, and a qualitative evaluation holding its
quality-gate status (``ok``, ``flagged``, ``rejected``; private scheme ``99ECHOMARK``). The
group's tracking identifier names the echomark row (``measurement kind video beat``), so a
report read back with pydicom gives exactly the rows of ``measurements.csv``
(:func:`read_report`). Values that could not be measured (NaN) are left out.

A report is a clinical document that goes back to the hospital's archive, so unlike
curation outputs it carries the source study's patient and study attributes (copied by
highdicom from the source DICOM). Measured from a png-cache or labels there is no source
DICOM: the report then has a new study of its own with empty patient attributes, says so
in its series description, and references no instances.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from echomark.labels.vocabulary import Measurement
from echomark.measure.pipeline import MeasurementRow, RowKind

#: Private coding scheme for the quality-gate status.
SCHEME = "99ECHOMARK"
#: Series descriptions of the two kinds of report.
FROM_DICOM = "echomark measurements"
FROM_LABELS = "echomark measurements (no source DICOM referenced)"
#: Patient/study attributes highdicom copies from the first evidence instance.
_TYPE2_FROM_EVIDENCE = (
    "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber",
    "StudyID", "StudyDate", "StudyTime", "ReferringPhysicianName",
)  # fmt: skip
#: Row kinds reported (per-frame series stay in the CSV).
REPORTED_KINDS = (RowKind.BEAT, RowKind.MEAN, RowKind.STUDY)


@dataclass(frozen=True)
class SrConcept:
    """How one vocabulary measurement is coded in a report."""

    code: tuple[str, str, str]
    unit: tuple[str, str, str]
    method: tuple[str, str, str] | None = None


_MM = ("mm", "UCUM", "millimeter")
_ML = ("ml", "UCUM", "milliliter")
_PCT = ("%", "UCUM", "percent")
_MOD_1 = ("125208", "DCM", "Method of Disks, Single Plane")
_MOD_2 = ("125207", "DCM", "Method of Disks, Biplane")
_GLS = ("130670", "DCM", "Longitudinal Lagrangian Strain")

#: The measurements a report holds and their codes.
SR_CONCEPTS: dict[Measurement, SrConcept] = {
    Measurement.IVSd: SrConcept(("18154-5", "LN", "Interventricular Septum Diastolic Thickness"), _MM),
    Measurement.LVIDd: SrConcept(("29436-3", "LN", "Left Ventricle Internal End Diastolic Dimension"), _MM),
    Measurement.LVPWd: SrConcept(("18152-9", "LN", "Left Ventricle Posterior Wall Diastolic Thickness"), _MM),
    Measurement.LVEDV_A4C_disks: SrConcept(("79999-9", "LN", "Left ventricular end diastolic volume single plane 4C (MOD)"), _ML, _MOD_1),
    Measurement.LVESV_A4C_disks: SrConcept(("80004-5", "LN", "Left ventricular end systolic volume single plane 4C (MOD)"), _ML, _MOD_1),
    Measurement.EF_A4C_disks: SrConcept(("79993-2", "LN", "Left ventricular ejection fraction single plane 4C (MOD)"), _PCT, _MOD_1),
    Measurement.LVEDV_A2C_disks: SrConcept(("79998-1", "LN", "Left ventricular end diastolic volume single plane 2C (MOD)"), _ML, _MOD_1),
    Measurement.LVESV_A2C_disks: SrConcept(("80003-7", "LN", "Left ventricular end systolic volume single plane 2C (MOD)"), _ML, _MOD_1),
    Measurement.EF_A2C_disks: SrConcept(("79992-4", "LN", "Left ventricular ejection fraction single plane 2C (MOD)"), _PCT, _MOD_1),
    Measurement.LVEDV_biplane_disks: SrConcept(("79996-5", "LN", "Left ventricular end diastolic volume biplane (MOD)"), _ML, _MOD_2),
    Measurement.LVESV_biplane_disks: SrConcept(("80001-1", "LN", "Left ventricular end systolic volume biplane (MOD)"), _ML, _MOD_2),
    Measurement.EF_biplane: SrConcept(("79991-6", "LN", "Left ventricular ejection fraction biplane (MOD)"), _PCT, _MOD_2),
    Measurement.GLS_A4C_endocardial_contour: SrConcept(_GLS, _PCT),
    Measurement.GLS_A2C_endocardial_contour: SrConcept(_GLS, _PCT),
}  # fmt: skip


@dataclass(frozen=True)
class SourceInstance:
    """The DICOM a video was measured from (its header only).

    Attributes:
        dataset: pydicom header (patient, study, series, SOP attributes).
    """

    dataset: Any


def reported(rows: Sequence[MeasurementRow]) -> list[MeasurementRow]:
    """The rows a report holds: beat, mean and study values of coded measurements."""
    return [
        r
        for r in rows
        if r.kind in REPORTED_KINDS and r.measurement in SR_CONCEPTS and math.isfinite(r.value)
    ]


def study_key(row: MeasurementRow) -> str:
    """The study a row is reported in (its video when no study is known)."""
    return row.study or row.video


def tracking_text(row: MeasurementRow) -> str:
    """The tracking identifier naming a row: ``measurement kind video beat``."""
    beat = "-" if row.beat is None else str(row.beat)
    return f"{row.measurement.value} {row.kind.value} {row.video} {beat}"


def csv_value(value: float) -> float:
    """A value as ``measurements.csv`` writes it (6 decimals), so the report matches it."""
    return round(value, 6)


def _code(hd: Any, triple: tuple[str, str, str]) -> Any:
    return hd.sr.CodedConcept(value=triple[0], scheme_designator=triple[1], meaning=triple[2])


def build_report(
    rows: Sequence[MeasurementRow],
    key: str,
    sources: Mapping[str, SourceInstance],
    *,
    instance_number: int = 1,
) -> Any:
    """One study's Comprehensive 3D SR (TID 1500) of ``rows``.

    Args:
        rows: The study's reported rows (:func:`reported`).
        key: The study key (seeds the report's UIDs: same rows, same UIDs).
        sources: Video code -> its source DICOM, where measured from DICOM.
        instance_number: InstanceNumber of the report.

    Returns:
        A highdicom ``Comprehensive3DSR`` (a pydicom ``Dataset``).
    """
    import highdicom as hd
    from pydicom.dataset import Dataset
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    from echomark import __version__

    seed = [key, *(f"{tracking_text(r)}={csv_value(r.value)!r}:{r.status.value}" for r in rows)]
    evidence = []
    for video in sorted({r.video for r in rows} & set(sources)):
        ds = copy.deepcopy(sources[video].dataset)
        for attr in _TYPE2_FROM_EVIDENCE:  # highdicom copies these; absent is allowed (empty)
            if attr not in ds:
                setattr(ds, attr, "")
        evidence.append(ds)
    from_dicom = bool(evidence)
    if not from_dicom:
        ds = Dataset()
        ds.StudyInstanceUID = generate_uid(entropy_srcs=["echomark-sr-study", key])
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=["echomark-sr-evidence", key])
        ds.SOPInstanceUID = generate_uid(entropy_srcs=["echomark-sr-evidence-sop", key])
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
        for attr in _TYPE2_FROM_EVIDENCE:
            setattr(ds, attr, "")
        evidence = [ds]
    algorithm = hd.sr.AlgorithmIdentification(name="echomark", version=__version__)
    lv = hd.sr.FindingSite(anatomic_location=codes.SCT.LeftVentricle)
    status_name = hd.sr.CodedConcept("quality-status", SCHEME, "Quality gate status")
    groups = []
    for row in rows:
        concept = SR_CONCEPTS[row.measurement]
        refs = None
        src = sources.get(row.video)
        if src is not None:
            frames = [row.frame + 1] if row.frame is not None else None
            refs = [
                hd.sr.SourceImageForMeasurement(
                    referenced_sop_class_uid=str(src.dataset.SOPClassUID),
                    referenced_sop_instance_uid=str(src.dataset.SOPInstanceUID),
                    referenced_frame_numbers=frames,
                )
            ]
        text = tracking_text(row)
        tracking = hd.sr.TrackingIdentifier(
            uid=generate_uid(entropy_srcs=["echomark-sr-row", key, text]), identifier=text
        )
        measurement = hd.sr.Measurement(
            name=_code(hd, concept.code),
            value=csv_value(row.value),
            unit=_code(hd, concept.unit),
            method=_code(hd, concept.method) if concept.method else None,
            finding_sites=[lv],
            algorithm_id=algorithm,
            referenced_images=refs,
        )
        status = hd.sr.CodedConcept(row.status.value, SCHEME, row.status.value)
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=tracking,
                finding_sites=[lv],
                measurements=[measurement],
                qualitative_evaluations=[hd.sr.QualitativeEvaluation(status_name, status)],
                algorithm_id=algorithm,
            )
        )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=["echomark-device"]), name="echomark"
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.SCT.Echocardiography,
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=generate_uid(entropy_srcs=["echomark-sr-series", *seed]),
        series_number=9001,
        sop_instance_uid=generate_uid(entropy_srcs=["echomark-sr-sop", *seed]),
        instance_number=instance_number,
        manufacturer="echomark",
        is_complete=True,
        record_evidence=from_dicom,
    )
    sr.SeriesDescription = FROM_DICOM if from_dicom else FROM_LABELS
    if not from_dicom:
        # highdicom lists every evidence item; the stand-in study has no instance to list.
        for attr in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
            if attr in sr:
                delattr(sr, attr)
    return sr


@dataclass(frozen=True)
class ReadBack:
    """One value read back from a report."""

    tracking: str
    code: str
    value: float
    unit: str
    status: str
    frames: tuple[int, ...]


def read_report(ds: Any) -> list[ReadBack]:
    """Every measurement group of a report as written by :func:`build_report`."""
    out: list[ReadBack] = []

    def items(node: Any) -> list[Any]:
        return list(getattr(node, "ContentSequence", []) or [])

    def name(item: Any) -> str:
        seq = getattr(item, "ConceptNameCodeSequence", None)
        return str(seq[0].CodeValue) if seq else ""

    for container in items(ds):
        if name(container) != "126010":  # Imaging Measurements
            continue
        for group in items(container):
            tracking, status, nums = "", "", []
            for item in items(group):
                if item.ValueType == "TEXT" and name(item) == "112039":  # Tracking Identifier
                    tracking = str(item.TextValue)
                elif item.ValueType == "CODE" and name(item) == "quality-status":
                    status = str(item.ConceptCodeSequence[0].CodeValue)
                elif item.ValueType == "NUM":
                    nums.append(item)
            for num in nums:
                mv = num.MeasuredValueSequence[0]
                frames: list[int] = []
                for sub in items(num):
                    if sub.ValueType == "IMAGE":
                        ref = sub.ReferencedSOPSequence[0]
                        value = getattr(ref, "ReferencedFrameNumber", None)
                        if value is not None:
                            frames += [
                                int(f)
                                for f in (value if isinstance(value, list | tuple) else [value])
                            ]
                out.append(
                    ReadBack(
                        tracking=tracking,
                        code=name(num),
                        value=float(mv.NumericValue),
                        unit=str(mv.MeasurementUnitsCodeSequence[0].CodeValue),
                        status=status,
                        frames=tuple(frames),
                    )
                )
    return out
