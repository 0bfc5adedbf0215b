"""Finding DICOM inputs, reading headers, and decoding frames to 8-bit grey or RGB arrays.

Decoders are pinned per transfer syntax so that the same file always gives the same pixels
(lossy JPEG decoders disagree by a few grey levels): Pillow for JPEG Baseline/Extended and
JPEG 2000, python-gdcm (the optional ``gdcm`` extra) for JPEG Lossless and JPEG-LS, pydicom's
own decoder for RLE, numpy for native data. pydicom is imported inside the functions that need
it so that importing this module stays cheap.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from echomark.cache.png import MAX_SIDE_PX
from echomark.errors import DicomError

UInt8Array = npt.NDArray[np.uint8]

#: SOP classes of ultrasound images (current and retired, single and multi-frame).
ULTRASOUND_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.6.1",
        "1.2.840.10008.5.1.4.1.1.6.2",
        "1.2.840.10008.5.1.4.1.1.3.1",
        "1.2.840.10008.5.1.4.1.1.6",
        "1.2.840.10008.5.1.4.1.1.3",
    }
)
#: Media Storage Directory Storage: a DICOMDIR.
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
#: Frame numbers are 4 digits in the release layout.
MAX_FRAMES = 10000
#: Frames sampled per file to set the grey range of deep data (and curation's mask).
SAMPLE_FRAMES = 16


class SkipReason(str, Enum):
    """Why an input file is not curated (these are reported, not errors)."""

    NOT_DICOM = "not a DICOM file"
    DICOMDIR = "DICOMDIR (pass it explicitly to curate the files it references)"
    NO_PIXELS = "no pixel data (not an image)"
    NOT_ULTRASOUND = "not an ultrasound image"


class SkipFile(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by :func:`read_header` for inputs that are skipped with a reason."""

    def __init__(self, reason: SkipReason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}{': ' + detail if detail else ''}")


@dataclass(frozen=True)
class PixelRecipe:
    """How to turn a decoded frame into 8 bits; the same for every frame of a file.

    Attributes:
        photometric: PhotometricInterpretation as stored.
        plugin: pydicom decoding plugin pinned for the transfer syntax ("" = pydicom's choice).
        samples: SamplesPerPixel.
        bits_stored: BitsStored.
        invert: MONOCHROME1 (high values are dark).
        palette_shift: Right shift applied after the palette LUT (8 for 16-bit LUT values).
        grey_lo: Grey level mapped to 0 (only for grey data deeper than 8 bits).
        grey_hi: Grey level mapped to 255 (only for grey data deeper than 8 bits).
    """

    photometric: str
    plugin: str
    samples: int
    bits_stored: int
    invert: bool = False
    palette_shift: int = 0
    grey_lo: float = 0.0
    grey_hi: float = 255.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PixelRecipe:
        """Inverse of :meth:`to_json`."""
        return cls(**data)


def decoder_for(transfer_syntax: str) -> str:
    """The pydicom decoding plugin echomark pins for a transfer syntax UID.

    Returns "" for native (uncompressed) data and syntaxes left to pydicom.

    >>> decoder_for("1.2.840.10008.1.2.4.50"), decoder_for("1.2.840.10008.1.2.4.70")
    ('pillow', 'gdcm')
    >>> decoder_for("1.2.840.10008.1.2.5"), decoder_for("1.2.840.10008.1.2.1")
    ('pydicom', '')
    """
    from_pillow = {
        "1.2.840.10008.1.2.4.50",  # JPEG Baseline
        "1.2.840.10008.1.2.4.51",  # JPEG Extended
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
        "1.2.840.10008.1.2.4.91",  # JPEG 2000
    }
    from_gdcm = {
        "1.2.840.10008.1.2.4.57",  # JPEG Lossless
        "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
        "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
        "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    }
    if transfer_syntax in from_pillow:
        return "pillow"
    if transfer_syntax in from_gdcm:
        return "gdcm"
    if transfer_syntax == "1.2.840.10008.1.2.5":
        return "pydicom"
    return ""


def is_video_syntax(transfer_syntax: str) -> bool:
    """MPEG-2, MPEG-4/H.264 and HEVC/H.265 transfer syntaxes (1.2.840.10008.1.2.4.100-108).

    >>> is_video_syntax("1.2.840.10008.1.2.4.102"), is_video_syntax("1.2.840.10008.1.2.4.50")
    (True, False)
    """
    prefix = "1.2.840.10008.1.2.4."
    if not transfer_syntax.startswith(prefix):
        return False
    tail = transfer_syntax[len(prefix) :]
    return tail.isdigit() and 100 <= int(tail) <= 108


def check_decoder(plugin: str, transfer_syntax_name: str, file: str) -> None:
    """Raise a clear :class:`DicomError` when the pinned decoder is not installed."""
    module = {"pillow": "PIL", "gdcm": "gdcm"}.get(plugin)
    if module is not None and importlib.util.find_spec(module) is None:
        extra = "pip install 'echomark[gdcm]'" if plugin == "gdcm" else "pip install pillow"
        raise DicomError(
            f"no decoder for {transfer_syntax_name}: needs {plugin} ({extra})", file=file
        )


def is_dicom_file(path: str | os.PathLike[str]) -> bool:
    """True for a ``.dcm``/``.dicom`` name or the DICOM magic (``DICM`` at byte 128).

    A cheap look at the name and 132 bytes, for telling DICOMs from PNGs, zips and label
    files; :func:`read_header` decides whether the file is usable.
    """
    p = Path(path)
    if p.suffix.lower() in (".dcm", ".dicom"):
        return True
    try:
        with p.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def find_inputs(sources: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files, folders (recursively, sorted) and DICOMDIRs into a list of files.

    Hidden files and folders are ignored in folder scans; a DICOMDIR named explicitly is
    replaced by the files it references, one met during a folder scan is kept (and later
    skipped) because the scan already finds its files. Duplicate paths are dropped.

    Raises:
        DicomError: A source does not exist.
    """
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        rp = p.resolve()
        if rp not in seen:
            seen.add(rp)
            out.append(p)

    for src in sources:
        p = Path(src)
        if p.is_dir():
            for sub in sorted(p.rglob("*")):
                rel = sub.relative_to(p).parts
                if sub.is_file() and not any(part.startswith(".") for part in rel):
                    add(sub)
        elif p.is_file():
            if p.name.upper() == "DICOMDIR" or _is_dicomdir(p):
                for ref in dicomdir_files(p):
                    add(ref)
            else:
                add(p)
        else:
            raise DicomError("no such file or folder", file=str(p))
    return out


def _is_dicomdir(path: Path) -> bool:
    import pydicom

    try:
        meta = pydicom.filereader.read_file_meta_info(path)
    except Exception:
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_SOP_CLASS


def dicomdir_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files a DICOMDIR references, in directory-record order.

    Raises:
        DicomError: The DICOMDIR cannot be read.
    """
    import pydicom

    p = Path(path)
    try:
        ds = pydicom.dcmread(p)
    except Exception as exc:
        raise DicomError(f"cannot read DICOMDIR ({exc})", file=str(p)) from None
    out = []
    for rec in ds.get("DirectoryRecordSequence", []):
        ref = rec.get("ReferencedFileID")
        if ref is None:
            continue
        parts = [ref] if isinstance(ref, str) else list(ref)
        out.append(p.parent.joinpath(*parts))
    return out


def is_ultrasound(ds: Any) -> bool:
    """Whether a header is an ultrasound image (Modality US, an ultrasound SOP class or regions)."""
    sop = str(ds.get("SOPClassUID", ""))
    return (
        str(ds.get("Modality", "")).upper() == "US"
        or sop in ULTRASOUND_SOP_CLASSES
        or "SequenceOfUltrasoundRegions" in ds
    )


def read_header(path: str | os.PathLike[str], *, ultrasound_only: bool = True) -> Any:
    """Read a DICOM header (pixel data deferred) and check it is an ultrasound image.

    Args:
        path: The file.
        ultrasound_only: Skip files that are not ultrasound (False accepts any image,
            as ``echomark predict`` does for a file named on its command line).

    Returns:
        The pydicom ``Dataset`` (large values deferred, so ``PixelData`` stays on disk).

    Raises:
        SkipFile: Not DICOM, a DICOMDIR, no pixel data, or not ultrasound.
        DicomError: The file is DICOM but its header is unusable.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    p = str(path)
    try:
        # pydicom reports a file cut short only as a warning; it becomes our own message.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(p, defer_size="64 KB")
    except InvalidDicomError:
        raise SkipFile(SkipReason.NOT_DICOM) from None
    except Exception as exc:
        raise DicomError(
            f"cannot read DICOM header ({type(exc).__name__}: {exc})", file=p
        ) from None
    truncated = any("end of file" in str(w.message).lower() for w in caught)
    try:
        # A damaged header shows only when its values are read (pydicom parses lazily and
        # raises or warns in many ways); every such failure is this file's one error.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _check_header(ds, p, ultrasound_only=ultrasound_only, truncated=truncated)
    except (SkipFile, DicomError):
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DicomError(
            f"damaged DICOM header ({type(exc).__name__}{': ' + first[:120] if first else ''})",
            file=p,
        ) from None


def _check_header(ds: Any, p: str, *, ultrasound_only: bool, truncated: bool) -> Any:
    """:func:`read_header`'s checks of a decoded header."""
    if str(ds.file_meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_SOP_CLASS:
        raise SkipFile(SkipReason.DICOMDIR)
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        if truncated:
            raise DicomError(
                "the file is truncated: it ends inside its pixel data (copy it again)", file=p
            )
        raise SkipFile(SkipReason.NO_PIXELS)
    if ultrasound_only and not is_ultrasound(ds):
        raise SkipFile(SkipReason.NOT_ULTRASOUND, f"Modality {ds.get('Modality', '?')}")
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        raise DicomError("float pixel data is not an ultrasound image echomark can use", file=p)
    for kw in ("Rows", "Columns", "PhotometricInterpretation", "BitsAllocated"):
        if ds.get(kw) in (None, ""):
            raise DicomError(f"header lacks {kw}", file=p, field=kw)
    n = frame_count(ds)
    if n > MAX_FRAMES:
        raise DicomError(f"{n} frames: more than the {MAX_FRAMES} the key format allows", file=p)
    check_frames_against_pixels(ds, p)
    return ds


def check_frames_against_pixels(ds: Any, file: str) -> None:
    """Check NumberOfFrames, the image size and the pixel data agree.

    Native pixel data must hold exactly NumberOfFrames frames; encapsulated data must hold
    at least as many fragments as frames (one frame may span several fragments).

    Raises:
        DicomError: NumberOfFrames is not a positive whole number, the size is beyond what
            echomark reads, or the pixel data holds another number of frames.
    """
    from io import BytesIO

    from pydicom import encaps

    raw = ds.get("NumberOfFrames")
    if raw not in (None, ""):
        try:
            declared = int(raw)
        except (TypeError, ValueError):
            raise DicomError(
                f"NumberOfFrames {raw!r} is not a whole number", file=file, field="NumberOfFrames"
            ) from None
        if declared < 1:
            raise DicomError(
                f"NumberOfFrames is {declared}; a cine has at least 1 frame (the header is "
                "damaged)",
                file=file,
                field="NumberOfFrames",
            )
    else:
        declared = 1
    rows, cols = int(ds.Rows), int(ds.Columns)
    if rows < 1 or cols < 1 or rows > MAX_SIDE_PX or cols > MAX_SIDE_PX:
        raise DicomError(
            f"image size {rows}x{cols} px is outside 1..{MAX_SIDE_PX} px a side",
            file=file,
            field="Rows",
        )
    elem = ds.get_item("PixelData")
    if elem is None:
        return
    if not ds.file_meta.get("TransferSyntaxUID", pydicom_uid_default()).is_encapsulated:
        bits = int(ds.get("BitsAllocated", 8))
        if bits % 8:
            return  # 1-bit data: too rare in ultrasound to size here
        samples = int(ds.get("SamplesPerPixel", 1))
        per_pixel = (
            2
            if str(ds.get("PhotometricInterpretation", "")) == "YBR_FULL_422"
            else samples * bits // 8
        )
        frame_bytes = rows * cols * per_pixel
        length = int(elem.length) if getattr(elem, "length", None) is not None else len(elem.value)
        start = getattr(elem, "value_tell", None)
        if start is not None and os.path.isfile(file):
            # A deferred element's length is what the header declares; the file may be shorter.
            length = min(length, max(0, os.path.getsize(file) - int(start)))
        held = length // frame_bytes
        if held != declared:
            short = (
                " (the file ends early)" if start is not None and length < int(elem.length) else ""
            )
            raise DicomError(
                f"NumberOfFrames is {declared} but the pixel data holds {held} frames of "
                f"{rows}x{cols}{short}; the file is damaged or truncated",
                file=file,
                field="NumberOfFrames",
            )
        return
    value = elem.value
    if not isinstance(value, (bytes, bytearray)):
        return
    buf = BytesIO(value)
    try:
        encaps.parse_basic_offsets(buf)
        fragments = encaps.parse_fragments(buf)[0]
    except (ValueError, KeyError, IndexError):
        raise DicomError("encapsulated pixel data is damaged or truncated", file=file) from None
    if fragments < declared:
        raise DicomError(
            f"NumberOfFrames is {declared} but the compressed pixel data holds only "
            f"{fragments} frames; the file is damaged or truncated",
            file=file,
            field="NumberOfFrames",
        )


def pydicom_uid_default() -> Any:
    """Explicit VR little endian (the default when a file has no transfer syntax)."""
    from pydicom.uid import ExplicitVRLittleEndian

    return ExplicitVRLittleEndian


def frame_count(ds: Any) -> int:
    """NumberOfFrames, or 1 when absent or empty."""
    value = ds.get("NumberOfFrames")
    try:
        return max(1, int(value)) if value not in (None, "") else 1
    except (TypeError, ValueError):
        return 1


def frame_time_ms(ds: Any) -> float | None:
    """Time between frames in ms from FrameTime, FrameTimeVector or CineRate, if any."""
    ft = ds.get("FrameTime")
    if ft not in (None, ""):
        return float(ft)
    vec = ds.get("FrameTimeVector")
    if vec not in (None, "") and len(vec) > 1:
        return float(np.mean([float(v) for v in list(vec)[1:]]))
    rate = ds.get("CineRate") or ds.get("RecommendedDisplayFrameRate")
    if rate not in (None, "") and float(rate) > 0:
        return 1000.0 / float(rate)
    return None


def _transfer_syntax(ds: Any) -> tuple[str, str]:
    uid = ds.file_meta.get("TransferSyntaxUID")
    if uid is None:
        return "1.2.840.10008.1.2", "Implicit VR Little Endian"
    return str(uid), str(getattr(uid, "name", uid))


def make_recipe(ds: Any, file: str) -> PixelRecipe:
    """The per-file conversion recipe; grey levels of deep data come later from samples.

    Raises:
        DicomError: Unsupported photometric interpretation or missing decoder.
    """
    ts_uid, ts_name = _transfer_syntax(ds)
    if is_video_syntax(ts_uid):
        raise DicomError(
            f"no decoder for {ts_name} (a video codec): convert the file to a still-image "
            "transfer syntax first, e.g. with ffmpeg or gdcmconv",
            file=file,
        )
    plugin = decoder_for(ts_uid)
    check_decoder(plugin, ts_name, file)
    pi = str(ds.PhotometricInterpretation).upper()
    known = {
        "MONOCHROME1",
        "MONOCHROME2",
        "RGB",
        "PALETTE COLOR",
        "YBR_FULL",
        "YBR_FULL_422",
        "YBR_ICT",
        "YBR_RCT",
        "YBR_PARTIAL_420",
        "YBR_PARTIAL_422",
    }
    if pi not in known:
        raise DicomError(f"unsupported photometric interpretation {pi}", file=file)
    shift = 0
    if pi == "PALETTE COLOR":
        shift = 8 if _palette_max(ds) > 255 else 0
    bits = int(ds.get("BitsStored") or ds.BitsAllocated)
    return PixelRecipe(
        photometric=pi,
        plugin=plugin,
        samples=int(ds.get("SamplesPerPixel") or 1),
        bits_stored=bits,
        invert=pi == "MONOCHROME1",
        palette_shift=shift,
        grey_lo=0.0,
        grey_hi=float(2**bits - 1) if bits > 8 else 255.0,
    )


def sample_indices(n: int) -> list[int]:
    """Up to :data:`SAMPLE_FRAMES` frame numbers spread evenly over ``n`` frames.

    >>> sample_indices(3), len(sample_indices(120)), sample_indices(120)[-1]
    ([0, 1, 2], 16, 119)
    """
    k = min(n, SAMPLE_FRAMES)
    return sorted({round(float(i)) for i in np.linspace(0, n - 1, k)})


def file_recipe(path: str | os.PathLike[str], ds: Any) -> PixelRecipe:
    """The complete 8-bit recipe of a file, as every echomark reader of DICOM pixels uses it.

    :func:`make_recipe` plus, for grey data deeper than 8 bits, the grey range measured on
    the :func:`sample_indices` frames, so that curation and prediction map a file to the
    same 8-bit pixels.

    Raises:
        DicomError: Unsupported data, missing decoder, or the sample frames fail to decode.
    """
    p = os.fspath(path)
    recipe = make_recipe(ds, p)
    if _is_deep_grey(recipe):
        recipe = _with_grey_range(recipe, decode_raw(p, recipe, sample_indices(frame_count(ds))))
    return recipe


def sampled_recipe(path: str | os.PathLike[str], ds: Any) -> tuple[PixelRecipe, list[UInt8Array]]:
    """:func:`file_recipe` and the :func:`sample_indices` frames decoded with it.

    Each sample frame is decoded once: for deep grey data the frames that set the grey range
    are mapped to 8 bits directly instead of being decoded a second time.

    Returns:
        ``(recipe, frames)``, frames as :func:`iter_frames` yields them (``grey=False``).

    Raises:
        DicomError: Unsupported data, missing decoder, or the sample frames fail to decode.
    """
    p = os.fspath(path)
    recipe = make_recipe(ds, p)
    indices = sample_indices(frame_count(ds))
    if not _is_deep_grey(recipe):
        return recipe, list(iter_frames(p, ds, recipe, indices))
    raw = decode_raw(p, recipe, indices)
    recipe = _with_grey_range(recipe, raw)
    return recipe, [to_uint8(arr, ds, recipe) for arr in raw]


def _is_deep_grey(recipe: PixelRecipe) -> bool:
    return recipe.photometric.startswith("MONOCHROME") and recipe.bits_stored > 8


def _with_grey_range(recipe: PixelRecipe, raw: Sequence[npt.NDArray[Any]]) -> PixelRecipe:
    lo, hi = grey_range(raw)
    return replace(recipe, grey_lo=lo, grey_hi=hi)


def _palette_max(ds: Any) -> int:
    """Largest value in the palette LUT (some 16-bit LUTs only hold 0..255)."""
    from pydicom.pixels import apply_color_lut

    desc = ds.RedPaletteColorLookupTableDescriptor
    n = int(desc[0]) or 65536
    first = int(desc[1])
    idx = np.arange(first, first + n, dtype=np.uint16 if first + n > 256 else np.uint8)
    try:
        return int(apply_color_lut(idx, ds).max())
    except Exception as exc:
        raise DicomError(f"unusable palette colour LUT ({exc})", field="PaletteColor") from None


def iter_frames(
    path: str | os.PathLike[str],
    ds: Any,
    recipe: PixelRecipe,
    indices: Sequence[int],
    *,
    grey: bool = False,
) -> Iterator[UInt8Array]:
    """Decode frames ``indices`` of a file to uint8 (H, W) grey or (H, W, 3) RGB.

    Args:
        path: The file.
        ds: Its header (from :func:`read_header`; used for the palette LUT).
        recipe: From :func:`make_recipe` (with grey levels set for deep data).
        indices: Frame numbers, ascending.
        grey: Yield grey frames. For YBR_FULL(_422) data the stored luma channel is used
            directly (no YBR -> RGB -> grey round trip: faster, and it is the true luma).

    Yields:
        One array per index, in order.

    Raises:
        DicomError: Decoding failed.
    """
    from pydicom.pixels import iter_pixels

    if not indices:
        return
    luma = grey and recipe.photometric in ("YBR_FULL", "YBR_FULL_422")
    try:
        it = iter_pixels(
            str(path), indices=list(indices), decoding_plugin=recipe.plugin, as_rgb=not luma
        )
        for arr in it:
            if luma:
                yield np.ascontiguousarray(arr[..., 0], dtype=np.uint8)
                continue
            img = to_uint8(arr, ds, recipe)
            yield rgb_to_grey(img) if grey else img
    except DicomError:
        raise
    except Exception as exc:
        raise DicomError(
            f"cannot decode pixel data ({type(exc).__name__}: {exc})", file=str(path)
        ) from None


def rgb_to_grey(image: UInt8Array) -> UInt8Array:
    """Grey version of a uint8 grey or RGB frame (ITU-R BT.601 luma, as YBR_FULL stores it).

    >>> rgb_to_grey(np.array([[[255, 255, 255], [0, 0, 0]]], np.uint8)).tolist()
    [[255, 0]]
    """
    if image.ndim == 2:
        return image
    import cv2

    return np.asarray(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY), np.uint8)


def to_uint8(arr: npt.NDArray[Any], ds: Any, recipe: PixelRecipe) -> UInt8Array:
    """Map one decoded frame to 8-bit grey (H, W) or RGB (H, W, 3).

    >>> r = PixelRecipe("MONOCHROME1", "", 1, 8, invert=True)
    >>> to_uint8(np.array([[0, 255]], np.uint8), None, r).tolist()
    [[255, 0]]
    >>> r = PixelRecipe("MONOCHROME2", "", 1, 12, grey_lo=0.0, grey_hi=4095.0)
    >>> to_uint8(np.array([[0, 4095, 2048]], np.uint16), None, r).tolist()
    [[0, 255, 128]]
    """
    if recipe.photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        rgb = apply_color_lut(arr, ds)
        if recipe.palette_shift:
            rgb = rgb >> recipe.palette_shift
        return np.ascontiguousarray(rgb, dtype=np.uint8)
    if arr.ndim == 3:  # colour (pydicom already converted YBR to RGB)
        if arr.dtype != np.uint8:
            arr = arr >> max(0, recipe.bits_stored - 8)
        return np.ascontiguousarray(arr[..., :3], dtype=np.uint8)
    grey = arr
    if recipe.bits_stored > 8 or grey.dtype != np.uint8:
        lo, hi = recipe.grey_lo, max(recipe.grey_hi, recipe.grey_lo + 1.0)
        scaled = (grey.astype(np.float64) - lo) * (255.0 / (hi - lo))
        grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if recipe.invert:
        grey = 255 - grey
    return np.ascontiguousarray(grey, dtype=np.uint8)


def grey_range(samples: Sequence[npt.NDArray[Any]]) -> tuple[float, float]:
    """Robust grey range (0.5th and 99.5th percentile) of deep grey sample frames."""
    stack = np.concatenate([s.reshape(-1) for s in samples]).astype(np.float64)
    lo, hi = np.percentile(stack, [0.5, 99.5])
    return float(lo), float(max(hi, lo + 1.0))


def decode_raw(
    path: str | os.PathLike[str], recipe: PixelRecipe, indices: Sequence[int]
) -> list[npt.NDArray[Any]]:
    """Decoded frames before the 8-bit mapping (to measure deep grey ranges)."""
    from pydicom.pixels import iter_pixels

    try:
        return list(
            iter_pixels(
                str(path), indices=list(indices), decoding_plugin=recipe.plugin, as_rgb=True
            )
        )
    except Exception as exc:
        raise DicomError(
            f"cannot decode pixel data ({type(exc).__name__}: {exc})", file=str(path)
        ) from None
