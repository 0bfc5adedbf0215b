"""Synthetic ultrasound DICOMs with fake PHI, for testing de-identification and curation.

Each file is a seeded multi-frame cine (pydicom ``Dataset`` built in memory, fresh UIDs
derived from the seed): a moving speckle sector, fake patient data in the header tags
(name, ID, birth date, institution, physicians, dates, accession number) and the same
patient's name, ID and date of birth burnt into the pixels twice, in a header bar above the
sector *and* inside the sector. ``SequenceOfUltrasoundRegions`` describes the sector; it can be
left out or made inconsistent with the pixel matrix to exercise the fallbacks.

Every identifying string is listed by :meth:`FakePHI.strings` so tests can assert that none
reaches an output. pydicom and OpenCV are imported inside the functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from echomark.fileio import atomic_path

_FIRST = ("ALONSO", "BEATRIZ", "CASIMIR", "DOROTEA", "EUSEBIO", "FILOMENA", "GASPAR", "HORTENSIA")
_LAST = ("QUIXOTE", "VALDIVIESO", "ZAMBRANO", "KOWALCZYK", "FITZWILLIAM", "OYELARAN", "HUXTABLE")


@dataclass(frozen=True)
class FakePHI:
    """Fake patient and study identifiers (none belongs to a real person).

    Attributes:
        given: Given name.
        family: Family name.
        patient_id: Patient ID (burnt in too).
        birth_date: Date of birth, DICOM ``YYYYMMDD``.
        institution: InstitutionName.
        referring: ReferringPhysicianName (DICOM PN).
        accession: AccessionNumber.
        study_date: StudyDate ``YYYYMMDD``.
    """

    given: str = "ALONSO"
    family: str = "QUIXOTE"
    patient_id: str = "ZX4471902"
    birth_date: str = "19580317"
    institution: str = "Rocinante General Hospital"
    referring: str = "PANZA^SANCHO"
    accession: str = "ACC99231"
    study_date: str = "20240229"

    @classmethod
    def random(cls, seed: int) -> FakePHI:
        """Seeded fake identifiers."""
        rng = np.random.default_rng(seed)
        year = int(rng.integers(1930, 2005))
        month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
        return cls(
            given=str(rng.choice(_FIRST)),
            family=str(rng.choice(_LAST)),
            patient_id=f"ZX{int(rng.integers(1_000_000, 9_999_999))}",
            birth_date=f"{year:04d}{month:02d}{day:02d}",
            institution=f"{rng.choice(_LAST).title()} Memorial Hospital",
            referring=f"{rng.choice(_LAST)}^{rng.choice(_FIRST)}",
            accession=f"ACC{int(rng.integers(10_000, 99_999))}",
            study_date=f"20{int(rng.integers(10, 25)):02d}0{int(rng.integers(1, 10))}15",
        )

    @property
    def patient_name(self) -> str:
        """DICOM PN form ``FAMILY^GIVEN``."""
        return f"{self.family}^{self.given}"

    @property
    def birth_date_display(self) -> str:
        """Date of birth as burnt in: ``DD/MM/YYYY``."""
        d = self.birth_date
        return f"{d[6:8]}/{d[4:6]}/{d[0:4]}"

    def burnt_lines(self) -> tuple[str, str]:
        """The two text lines burnt into the pixels."""
        return (
            f"{self.given} {self.family}",
            f"ID {self.patient_id} DOB {self.birth_date_display}",
        )

    def strings(self) -> list[str]:
        """Every identifying string (header and pixels) that must never reach an output."""
        return [
            self.given,
            self.family,
            self.patient_name,
            self.patient_id,
            self.birth_date,
            self.birth_date_display,
            self.institution,
            self.referring,
            self.accession,
            self.study_date,
        ]

    def ocr_tokens(self) -> list[str]:
        """Burnt-in tokens an OCR of an output must not find (case-insensitive)."""
        return [self.given, self.family, self.patient_id, self.birth_date_display]


class Regions(str, Enum):
    """What ``SequenceOfUltrasoundRegions`` the synthetic file carries."""

    FIT = "fit"
    """One 2-D tissue region around the sector, inside the pixel matrix."""

    MISFIT = "misfit"
    """The region of a 2x larger image (as after a resize): must be rejected."""

    NONE = "none"
    """No regions: curation must fall back to motion or fan detection."""


#: Height of the burnt-in header bar as a fraction of the image height.
HEADER_FRACTION = 0.14


def sector_geometry(rows: int, cols: int) -> tuple[tuple[float, float], float, float]:
    """Apex ``(x, y)``, radius and half-angle (radians) of the synthetic sector."""
    top = rows * HEADER_FRACTION + 4
    return (cols / 2.0, top), rows - top - 6, np.deg2rad(38.0)


def render_frames(
    rows: int, cols: int, frames: int, seed: int, phi: FakePHI, *, colour_box: bool = False
) -> npt.NDArray[np.uint8]:
    """Cine pixels: (T, H, W) grey, or (T, H, W, 3) RGB with a colour-Doppler box.

    The sector holds speckle that changes every frame and a bright wall that moves; the
    header bar and the in-sector text are identical in every frame.
    """
    import cv2

    rng = np.random.default_rng(seed)
    (ax, ay), radius, half = sector_geometry(rows, cols)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    r = np.hypot(xx - ax, yy - ay)
    theta = np.arctan2(xx - ax, yy - ay)
    sector = (r <= radius) & (np.abs(theta) <= half) & (yy >= ay)
    base = rng.rayleigh(38.0, size=(rows, cols))
    out = np.zeros((frames, rows, cols), np.uint8)
    for t in range(frames):
        phase = 2 * np.pi * t / max(frames, 2)
        speckle = 0.6 * base + 0.4 * rng.rayleigh(38.0, size=(rows, cols))
        wall_r = radius * (0.55 + 0.08 * np.sin(phase))
        wall = 140.0 * np.exp(-(((r - wall_r) / 4.0) ** 2))
        img = np.where(sector, np.clip(speckle + wall, 0, 230), 0.0)
        out[t] = img.astype(np.uint8)
    bar = round(rows * HEADER_FRACTION)
    line1, line2 = phi.burnt_lines()
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, max(0.3, cols / 800.0), 1
    texts = [(line1, (4, int(bar * 0.45))), (line2, (4, int(bar * 0.92)))]
    # The same identifiers inside the scan sector, where region masking keeps them.
    y_in = int(ay + radius * 0.30)
    for line, y in ((line1, y_in), (line2, y_in + int(rows * 0.07))):
        (width, _), _ = cv2.getTextSize(line, font, scale, thick)
        texts.append((line, (int(ax - width / 2), y)))
    for t in range(frames):
        frame = out[t]
        frame[:bar] = 45
        for line, origin in texts:
            cv2.putText(frame, line, origin, font, scale, 255, thick, cv2.LINE_AA)
    if not colour_box:
        return out
    rgb = np.repeat(out[..., None], 3, axis=3)
    x0, x1 = int(ax - radius * 0.25), int(ax + radius * 0.25)
    y0, y1 = int(ay + radius * 0.55), int(ay + radius * 0.85)
    for t in range(frames):
        flow = rng.random((y1 - y0, x1 - x0)) < 0.6
        red = np.where(flow, 200, rgb[t, y0:y1, x0:x1, 0])
        blue = np.where(flow, 30, rgb[t, y0:y1, x0:x1, 2])
        rgb[t, y0:y1, x0:x1, 0] = red
        rgb[t, y0:y1, x0:x1, 2] = blue
    return rgb


def synth_us_dataset(
    *,
    seed: int = 0,
    rows: int = 240,
    cols: int = 320,
    frames: int = 12,
    phi: FakePHI | None = None,
    regions: Regions | str = Regions.FIT,
    colour_box: bool = False,
    rle: bool = False,
    cm_per_px: float = 0.05,
) -> Any:
    """A synthetic multi-frame ultrasound ``Dataset`` with fake PHI (see the module docstring).

    Args:
        seed: Seeds pixels and UIDs (same seed, same bytes).
        rows: Image height.
        cols: Image width.
        frames: Number of frames (>= 1).
        phi: Fake identifiers (default ``FakePHI.random(seed)``).
        regions: Which ``SequenceOfUltrasoundRegions`` to write.
        colour_box: RGB with a colour-Doppler box inside the sector, else MONOCHROME2.
        rle: Compress with RLE Lossless instead of Explicit VR Little Endian.
        cm_per_px: PhysicalDeltaX/Y of the region.

    Returns:
        A pydicom ``FileDataset`` ready for ``save_as``.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import UID, ExplicitVRLittleEndian, RLELossless, generate_uid

    phi = phi or FakePHI.random(seed)
    regions = Regions(regions)
    pixels = render_frames(rows, cols, frames, seed, phi, colour_box=colour_box)

    def uid(kind: str) -> str:
        return str(generate_uid(entropy_srcs=[f"echomark-synth-{seed}-{rows}x{cols}-{kind}"]))

    sop_class = UID("1.2.840.10008.5.1.4.1.1.3.1")  # Ultrasound Multi-frame Image Storage
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = UID(uid("sop"))
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("series")
    ds.Modality = "US"
    ds.Manufacturer = "Echomark Synthetic"
    ds.ManufacturerModelName = "SYN-1"
    ds.PatientName = phi.patient_name
    ds.PatientID = phi.patient_id
    ds.PatientBirthDate = phi.birth_date
    ds.PatientSex = "O"
    ds.InstitutionName = phi.institution
    ds.ReferringPhysicianName = phi.referring
    ds.AccessionNumber = phi.accession
    ds.StudyDate = phi.study_date
    ds.SeriesDate = phi.study_date
    ds.ContentDate = phi.study_date
    ds.StudyTime = "101500"
    ds.OperatorsName = phi.referring
    ds.StudyDescription = "Echocardiogram (synthetic)"
    ds.BurnedInAnnotation = "YES"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "CARDIOLOGY"]
    ds.NumberOfFrames = frames
    ds.FrameTime = 33.3
    ds.FrameIncrementPointer = 0x00181063
    ds.Rows, ds.Columns = rows, cols
    if colour_box:
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if regions is not Regions.NONE:
        (ax, ay), radius, half = sector_geometry(rows, cols)
        x0 = int(np.floor(ax - radius * np.sin(half))) - 2
        x1 = int(np.ceil(ax + radius * np.sin(half))) + 2
        y0, y1 = int(ay) - 2, int(np.ceil(ay + radius)) + 2
        factor = 2 if regions is Regions.MISFIT else 1
        item = Dataset()
        item.RegionSpatialFormat = 1
        item.RegionDataType = 1
        item.RegionFlags = 0
        item.RegionLocationMinX0 = max(0, x0) * factor
        item.RegionLocationMinY0 = max(0, y0) * factor
        item.RegionLocationMaxX1 = min(cols - 1, x1) * factor
        item.RegionLocationMaxY1 = min(rows - 1, y1) * factor
        item.PhysicalUnitsXDirection = 3
        item.PhysicalUnitsYDirection = 3
        item.PhysicalDeltaX = cm_per_px / factor
        item.PhysicalDeltaY = cm_per_px / factor
        item.ReferencePixelX0 = int(ax) * factor
        item.ReferencePixelY0 = int(ay) * factor
        ds.SequenceOfUltrasoundRegions = DicomSequence([item])
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    if rle:
        # Keep the seeded SOP Instance UID (pydicom would draw a fresh one): same seed, same bytes.
        ds.compress(RLELossless, np.ascontiguousarray(pixels), generate_instance_uid=False)
    return ds


def write_us_dicom(path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Write :func:`synth_us_dataset` (same keyword arguments) to ``path``; returns it."""
    ds = synth_us_dataset(**kwargs)
    p = Path(path)
    with atomic_path(p) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return p
