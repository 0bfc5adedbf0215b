"""What a synthetic dataset holds: counts, views, seed, size (no heavy imports, for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from echomark.errors import InputError


class Look(str, Enum):
    """How frames are formed from the phantom."""

    CLASSIC = "classic"
    """Echogenicity map times speckle on the pixel grid (fast; the demo's data)."""

    BMODE = "bmode"
    """Beam-wise B-mode formation: scatterers, point-spread, drop-out, clutter, overlays."""


#: View names the generator draws (``echomark.synth.cine.SYNTH_VIEWS``, kept import-free).
VIEW_NAMES = ("PLAX", "A4C", "A2C", "A3C")


@dataclass(frozen=True)
class DatasetConfig:
    """What :func:`echomark.synth.dataset.write_dataset` makes.

    Attributes:
        n_videos: Class-01 (development) videos; video ``i`` shows ``views[i % len(views)]``.
        n_external: Class-02 (external validation) videos, drawn with another scanner look.
        frames_per_video: Frames in every cine.
        labelled_per_video: Labelled frames per video (ED and ES always among them).
        seed: Master seed.
        size: Fixed ``(height, width)`` for every video, or None to vary 480-640 rows.
        blur_fraction: Fraction of labelled frames that get one drawn label ``blurred``.
        split_fractions: Train / tune / ival shares of the class-01 videos.
        views: The views cycled through, from PLAX, A4C, A2C, A3C.
        biplane: Pair every A4C video with an A2C video of the same 3-D heart (a biplane
            study, listed in ``studies.csv``; the A2C video is extra, not counted in
            ``n_videos``, and shares the A4C video's split).
        look: Image formation, ``classic`` (default, the demo's) or ``bmode``; labels and
            truth do not depend on it.
        varied: Draw anatomy (LV phenotypes), heart rate and scan set-up from wide ranges.
    """

    n_videos: int = 24
    n_external: int = 6
    frames_per_video: int = 30
    labelled_per_video: int = 8
    seed: int = 0
    size: tuple[int, int] | None = None
    blur_fraction: float = 0.1
    split_fractions: tuple[float, float, float] = (0.68, 0.16, 0.16)
    views: tuple[str, ...] = ("PLAX", "A4C")
    biplane: bool = False
    look: str = Look.CLASSIC.value
    varied: bool = False

    def __post_init__(self) -> None:
        """Reject impossible counts.

        Raises:
            InputError: For impossible counts or fractions.
        """
        if self.n_videos < 0 or self.n_external < 0 or self.n_videos + self.n_external == 0:
            raise InputError(
                f"need at least one video, got {self.n_videos} + {self.n_external} external"
            )
        if not 1 <= self.frames_per_video <= 9999:
            raise InputError(f"frames per video must be 1..9999, got {self.frames_per_video}")
        if not 1 <= self.labelled_per_video <= self.frames_per_video:
            raise InputError(
                f"labelled frames per video must be 1..{self.frames_per_video} (the frames "
                f"per video), got {self.labelled_per_video}; lower --labelled or raise --frames"
            )
        if not 0.0 <= self.blur_fraction <= 1.0:
            raise InputError(f"blur fraction must be in [0, 1], got {self.blur_fraction}")
        bad = [v for v in self.views if v not in VIEW_NAMES]
        if bad or not self.views or len(set(self.views)) != len(self.views):
            raise InputError(
                f"views must be distinct names from {', '.join(VIEW_NAMES)}, got "
                f"{', '.join(self.views) or 'none'}",
                field="views",
            )
        if self.look not in {x.value for x in Look}:
            raise InputError(
                f"look must be one of {', '.join(x.value for x in Look)}, got {self.look!r}",
                field="look",
            )
        if self.biplane and "A4C" not in self.views:
            raise InputError("biplane studies pair A4C videos with A2C: add A4C to the views")
