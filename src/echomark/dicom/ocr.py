"""Burnt-in text detection with rapidocr (the optional ``ocr`` extra; models ship in its wheel).

Curation only needs *where* text is, so masking runs the detector alone (about 0.3 s per
frame on 2 cores); :func:`read_text` runs detection and recognition and exists to check
outputs (tests, audits). Recognised text is never written anywhere by echomark.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from echomark.errors import ConfigError

_ENGINES: dict[int, Any] = {}
_LOCK = threading.Lock()


def ocr_available() -> bool:
    """True when rapidocr (and so onnxruntime) can be imported."""
    return importlib.util.find_spec("rapidocr") is not None


def _engine(threads: int) -> Any:
    """One cached RapidOCR engine per thread count in this process (loading takes ~0.6 s)."""
    with _LOCK:
        eng = _ENGINES.get(threads)
        if eng is None:
            if not ocr_available():
                raise ConfigError(
                    "text detection needs rapidocr: pip install 'echomark[ocr]' "
                    "(or pass --no-ocr and accept unmasked text inside the scan area)"
                )
            from rapidocr import RapidOCR

            params: dict[str, Any] = {
                "Global.log_level": "error",
                "EngineConfig.onnxruntime.intra_op_num_threads": int(threads),
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                # A lower box threshold than the default 0.5 finds faint and small text;
                # a false box only blanks a few extra pixels.
                "Det.box_thresh": 0.3,
            }
            eng = RapidOCR(params=params)
            _ENGINES[threads] = eng
        return eng


def _as_bgr(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    return np.ascontiguousarray(image[:, :, ::-1])


def detect_text(
    image: npt.NDArray[np.uint8], *, threads: int = 1
) -> list[tuple[int, int, int, int]]:
    """Axis-aligned boxes ``(x0, y0, x1, y1)`` (inclusive px) around detected text.

    Args:
        image: uint8 grey (H, W) or RGB (H, W, 3).
        threads: onnxruntime intra-op threads.

    Returns:
        Boxes sorted top-to-bottom, left-to-right, clipped to the image.

    Raises:
        ConfigError: rapidocr is not installed.
    """
    out = _engine(threads)(_as_bgr(image), use_det=True, use_cls=False, use_rec=False)
    boxes = getattr(out, "boxes", None)
    if boxes is None or len(boxes) == 0:
        return []
    h, w = image.shape[:2]
    rects = []
    for quad in np.asarray(boxes, dtype=np.float64):
        x0, y0 = np.floor(quad.min(axis=0))
        x1, y1 = np.ceil(quad.max(axis=0))
        x0, x1 = int(max(0, x0)), int(min(w - 1, x1))
        y0, y1 = int(max(0, y0)), int(min(h - 1, y1))
        if x1 >= x0 and y1 >= y0:
            rects.append((x0, y0, x1, y1))
    return sorted(rects, key=lambda r: (r[1], r[0], r[3], r[2]))


def warm_up(*, threads: int = 1) -> None:
    """Load the detector and run it once on a blank image (the first call is the slowest).

    Curation worker processes call this at start-up so that the worker planning the first
    video does not pay it on the critical path.
    """
    _engine(threads)(np.zeros((64, 64, 3), np.uint8), use_det=True, use_cls=False, use_rec=False)


def read_text(image: npt.NDArray[np.uint8], *, threads: int = 1) -> list[str]:
    """Recognised text lines of an image (detection + recognition), for checking outputs.

    Raises:
        ConfigError: rapidocr is not installed.
    """
    # Explicit flags: the cached engine remembers use_rec=False from detect_text otherwise.
    out = _engine(threads)(_as_bgr(image), use_det=True, use_cls=True, use_rec=True)
    txts = getattr(out, "txts", None)
    return [str(t) for t in txts] if txts else []
