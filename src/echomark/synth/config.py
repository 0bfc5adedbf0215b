"""What a synthetic dataset holds: counts, seed, size (no heavy imports, for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from echomark.errors import InputError


@dataclass(frozen=True)
class DatasetConfig:
    """What :func:`echomark.synth.dataset.write_dataset` makes.

    Attributes:
        n_videos: Class-01 (development) videos; views alternate PLAX, A4C.
        n_external: Class-02 (external validation) videos, drawn with another scanner look.
        frames_per_video: Frames in every cine.
        labelled_per_video: Labelled frames per video (ED and ES always among them).
        seed: Master seed.
        size: Fixed ``(height, width)`` for every video, or None to vary 480-640 rows.
        blur_fraction: Fraction of labelled frames that get one drawn label ``blurred``.
        split_fractions: Train / tune / ival shares of the class-01 videos.
    """

    n_videos: int = 24
    n_external: int = 6
    frames_per_video: int = 30
    labelled_per_video: int = 8
    seed: int = 0
    size: tuple[int, int] | None = None
    blur_fraction: float = 0.1
    split_fractions: tuple[float, float, float] = (0.68, 0.16, 0.16)

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
