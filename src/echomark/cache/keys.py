"""Image keys (``<class>-<64hex>-<NNNN>.png``) and their png-cache paths."""

from __future__ import annotations

import re
from dataclasses import dataclass

from echomark.errors import ImageKeyError

_CLASS = r"(?P<cls>\d{2})"
_HEX = r"(?P<hex>[0-9a-f]{64})"
_FRAME = r"(?P<frame>\d{4})"
_KEY_RE = re.compile(rf"^(?:{_CLASS}-)?{_HEX}-{_FRAME}(?:\.png)?$")
_VIDEO_RE = re.compile(rf"^{_CLASS}-{_HEX}$")
#: Duplicate-upload suffix used by the labelling app, e.g. ``..-0023.png_(1)``.
_DUP_SUFFIX_RE = re.compile(r"_\(\d+\)$")


def strip_duplicate_suffix(name: str) -> str:
    """Remove a duplicate-upload suffix such as ``_(1)`` from a key.

    >>> strip_duplicate_suffix("01-" + "a" * 64 + "-0003.png_(2)")[-9:]
    '-0003.png'
    """
    return _DUP_SUFFIX_RE.sub("", name)


@dataclass(frozen=True, order=True)
class VideoCode:
    """A video (one DICOM) code: dataset class and 64-hex hash.

    >>> str(VideoCode("01", "4d" * 32))[:8]
    '01-4d4d4'
    """

    dataset_class: str
    hex: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"\d{2}", self.dataset_class):
            raise ImageKeyError(f"dataset class must be two digits, got {self.dataset_class!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", self.hex):
            raise ImageKeyError(f"video hash must be 64 lower-case hex digits, got {self.hex!r}")

    def __str__(self) -> str:
        return f"{self.dataset_class}-{self.hex}"

    @classmethod
    def parse(cls, text: str) -> VideoCode:
        """Parse ``<class>-<64hex>`` (the FileHash of the calibration CSV)."""
        m = _VIDEO_RE.match(text.strip())
        if m is None:
            raise ImageKeyError(f"not a video code <class>-<64 hex>: {text!r}")
        return cls(m["cls"], m["hex"])

    def frame(self, index: int) -> ImageKey:
        """The image key of frame ``index`` of this video."""
        return ImageKey(self.dataset_class, self.hex, index)


@dataclass(frozen=True, order=True)
class ImageKey:
    """One frame of one video: ``<class>-<64hex>-<NNNN>.png``.

    Attributes:
        dataset_class: ``"01"`` development, ``"02"`` external validation.
        hex: The video's 64-hex code.
        frame: Frame number, 0..9999.
    """

    dataset_class: str
    hex: str
    frame: int

    def __post_init__(self) -> None:
        VideoCode(self.dataset_class, self.hex)  # validates both fields
        if not 0 <= self.frame <= 9999:
            raise ImageKeyError(f"frame number must be 0..9999, got {self.frame}")

    @classmethod
    def parse(cls, name: str, *, default_class: str | None = None) -> ImageKey:
        """Parse a key or file name, with or without ``.png`` and the class prefix.

        The seed's example path omits the ``<class>-`` prefix; such names need the class
        from their folder, passed as ``default_class``. Duplicate-upload suffixes are
        stripped.

        >>> k = ImageKey.parse("01-" + "4d" * 32 + "-0007.png")
        >>> (k.dataset_class, k.frame)
        ('01', 7)
        >>> ImageKey.parse("4d" * 32 + "-0007.png", default_class="02").name[:3]
        '02-'
        """
        base = strip_duplicate_suffix(name.strip().rsplit("/", 1)[-1])
        m = _KEY_RE.match(base)
        if m is None:
            raise ImageKeyError(f"not an image key <class>-<64 hex>-<NNNN>.png: {name!r}")
        cls_ = m["cls"] or default_class
        if cls_ is None:
            raise ImageKeyError(f"image key has no dataset class prefix: {name!r}")
        return cls(cls_, m["hex"], int(m["frame"]))

    @property
    def video(self) -> VideoCode:
        """The video this frame belongs to."""
        return VideoCode(self.dataset_class, self.hex)

    @property
    def stem(self) -> str:
        """``<class>-<64hex>-<NNNN>`` (72 characters)."""
        return f"{self.dataset_class}-{self.hex}-{self.frame:04d}"

    @property
    def name(self) -> str:
        """The file name and label key, ``<class>-<64hex>-<NNNN>.png``."""
        return self.stem + ".png"

    @property
    def relpath(self) -> str:
        """Path inside png-cache: ``<class>/<hex[0:2]>/<hex[2:4]>/<name>`` (POSIX)."""
        return f"{self.dataset_class}/{self.hex[0:2]}/{self.hex[2:4]}/{self.name}"

    @property
    def relpath_unprefixed(self) -> str:
        """The seed example's variant of :attr:`relpath` without the class in the name."""
        return (
            f"{self.dataset_class}/{self.hex[0:2]}/{self.hex[2:4]}/{self.hex}-{self.frame:04d}.png"
        )

    def __str__(self) -> str:
        return self.name
