"""PNG encoding and decoding of frames (8-bit grey or RGB, no metadata chunks)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from echomark.errors import CacheError

#: Default zlib level for cache PNGs: level 1 is several times faster than the default 6
#: and only a few per cent larger on speckled ultrasound frames.
DEFAULT_COMPRESS_LEVEL = 1

#: The 8-byte signature every PNG file starts with.
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

UInt8Array = npt.NDArray[np.uint8]

#: Largest frame side and area echomark decodes: ultrasound frames are ~1000 px; a bigger
#: header is a corrupt or hostile file that would otherwise take gigabytes.
MAX_SIDE_PX = 16384
MAX_PIXELS = 64 * 1024 * 1024

# OpenCV prints its own warnings (e.g. "PNG input buffer is incomplete") straight to
# stderr; every failure becomes a CacheError naming the file instead.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def png_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's IHDR chunk, or None when the header is too short.

    >>> png_size(encode_png(np.zeros((3, 5), np.uint8)))
    (5, 3)
    """
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def check_image_size(width: int, height: int, *, name: str = "<image>") -> None:
    """Refuse a frame larger than :data:`MAX_SIDE_PX` per side or :data:`MAX_PIXELS` in all.

    Raises:
        CacheError: naming the size and the limit.
    """
    if width > MAX_SIDE_PX or height > MAX_SIDE_PX or width * height > MAX_PIXELS:
        raise CacheError(
            f"image is {width}x{height} px, larger than echomark reads (at most "
            f"{MAX_SIDE_PX} px a side and {MAX_PIXELS // (1024 * 1024)} MP); is the file corrupt?",
            file=name,
        )


def encode_png(
    image: npt.NDArray[np.generic], compress_level: int = DEFAULT_COMPRESS_LEVEL
) -> bytes:
    """Encode an 8-bit grey (H, W) or RGB (H, W, 3) frame as PNG bytes.

    The output holds only IHDR/IDAT/IEND chunks: no text, time or other metadata.

    Args:
        image: uint8 array, (H, W) or (H, W, 3) in RGB order.
        compress_level: zlib level 0-9.

    Raises:
        CacheError: if the array is not 8-bit grey or RGB.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise CacheError(f"PNG frames must be uint8, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr[:, :, ::-1]  # cv2 expects BGR
    elif arr.ndim != 2:
        raise CacheError(f"PNG frames must be (H, W) or (H, W, 3), got shape {arr.shape}")
    ok, buf = cv2.imencode(
        ".png", np.ascontiguousarray(arr), [cv2.IMWRITE_PNG_COMPRESSION, int(compress_level)]
    )
    if not ok:  # pragma: no cover - cv2 only fails on unsupported shapes, checked above
        raise CacheError("PNG encoding failed")
    return bytes(buf)


def decode_png(data: bytes, *, name: str = "<bytes>") -> UInt8Array:
    """Decode PNG bytes to uint8 (H, W) grey or (H, W, 3) RGB.

    Grey-with-alpha and RGBA lose the alpha channel; 16-bit PNGs are scaled to 8 bits;
    an RGB PNG whose three channels are equal is returned as grey.

    Raises:
        CacheError: naming ``name`` when the bytes are not a decodable PNG.
    """
    if not data.startswith(PNG_MAGIC):
        raise CacheError("not a PNG file (bad signature)", file=name)
    size = png_size(data)
    if size is None:
        raise CacheError("truncated PNG (no image header)", file=name)
    check_image_size(*size, name=name)
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise CacheError(
            f"corrupt PNG (OpenCV: {str(exc).strip().splitlines()[-1]})", file=name
        ) from None
    if arr is None:
        raise CacheError("corrupt or truncated PNG (cannot be decoded)", file=name)
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.uint16) >> 8).astype(np.uint8)
    if arr.ndim == 3:
        if arr.shape[2] == 4:
            arr = arr[:, :, :3]
        elif arr.shape[2] == 2:  # pragma: no cover - cv2 expands grey+alpha to 4 channels
            arr = arr[:, :, 0]
        if arr.ndim == 3:
            b, g, r = arr[:, :, 0], arr[:, :, 1], arr[:, :, 2]
            arr = b if np.array_equal(b, g) and np.array_equal(g, r) else arr[:, :, ::-1]
    return np.ascontiguousarray(arr, dtype=np.uint8)
