"""Typed configuration of image preparation, augmentation and the training dataset."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from echomark.errors import ConfigError
from echomark.heatmaps.config import CodecConfig


class ResizeMode(str, Enum):
    """How a source frame is brought to the fixed network input size."""

    CROP_PAD = "crop_pad"
    """Centre crop or zero-pad each axis at native pixel scale (the reference's choice):
    wide frames lose their lateral edges, sizes in pixels stay comparable across images."""

    LETTERBOX = "letterbox"
    """Scale so the longer side fits, keep the aspect ratio, centre and zero-pad the rest:
    nothing is cut off, but the pixel scale differs between images of different size."""


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random training augmentation (defaults follow the reference, §6).

    Geometric parameters are drawn from symmetric triangular distributions ``Tri(-a, a)``
    (mode 0) as in the reference, except translation which is uniform. No flips: the
    orientation of an echo image is anatomical.

    Attributes:
        affine_p: Probability of applying the random affine at all.
        translate_frac: Maximum shift per axis as a fraction of the input side (uniform);
            0.125 is the reference's ±0.25 in normalised [-1, 1] units (±76 px at 608).
        log_scale: Scale of rows is ``exp(Tri(-log_scale, log_scale))`` ([0.55, 1.82]).
        log_aspect: Scale of columns is the row scale times ``exp(Tri(-a, a))``.
        rotate_deg: Rotation ``Tri(-rotate_deg, rotate_deg)`` degrees.
        shear_deg: Shear angle ``Tri(-shear_deg, shear_deg)`` degrees.
        log_gamma: Intensity gamma ``exp(Tri(-log_gamma, log_gamma))`` ([0.45, 2.23]).
        gamma_p: Probability of the gamma change.
        log_contrast: Gain ``exp(U(-log_contrast, log_contrast))`` on [0, 1] intensities.
        brightness: Bias ``U(-brightness, brightness)`` on [0, 1] intensities.
        contrast_p: Probability of the gain/bias change (not in the reference).
        noise_std: Additive Gaussian noise with standard deviation ``U(0, noise_std)``
            in [0, 1] intensity units, over the whole input (padding included).
        noise_p: Probability of adding noise (not in the reference).
        erase_p: Probability of zeroing one random rectangle of the network input (after
            the warp, all channels); gls erased before its warp.
        erase_area: Range of the rectangle's area as a fraction of the input area.
        erase_aspect: Range of the rectangle's height/width ratio (log-uniform).
        drop_neighbours_p: Probability of zeroing every neighbour frame (multi-frame only).
        drop_centre_p: Probability of zeroing the labelled frame (multi-frame only).
        blur_p: Probability of a Gaussian blur of the warped input (not in the reference;
            0 draws nothing, so other draws are unchanged): for training on synthetic
            images, whose sharpness differs from real scanners'.
        blur_sigma: The blur's sigma is ``U(0.3, blur_sigma)`` input pixels.
        elastic_p: Probability of a smooth elastic warp of the warped input, labels moved
            with it (not in the reference; 0 draws nothing, so other draws are unchanged):
            for shapes that synthesis does not vary.
        elastic_px: The warp's largest displacement is ``U(0, elastic_px)`` input pixels.
        elastic_scale: Smoothness: the spacing of the displacement field's random control
            values as a fraction of the input side, in (0, 1] (0.25 gives a 5 x 5 grid).
        randconv_p: Probability of mixing the warped input with a random shallow
            convolutional network's output (global intensity non-linear augmentation, after
            Ouyang et al. 2022; not in the reference; 0 draws nothing, so other draws are
            unchanged): textures and grey maps that synthesis does not make.
    """

    affine_p: float = 1.0
    translate_frac: float = 0.125
    log_scale: float = 0.6
    log_aspect: float = 0.2
    rotate_deg: float = 40.0
    shear_deg: float = 20.0
    log_gamma: float = 0.8
    gamma_p: float = 1.0
    log_contrast: float = 0.2
    brightness: float = 0.1
    contrast_p: float = 0.5
    noise_std: float = 0.03
    noise_p: float = 0.3
    erase_p: float = 0.2
    erase_area: tuple[float, float] = (0.05, 0.15)
    erase_aspect: tuple[float, float] = (0.3, 3.3)
    drop_neighbours_p: float = 0.2
    drop_centre_p: float = 0.05
    blur_p: float = 0.0
    blur_sigma: float = 1.5
    elastic_p: float = 0.0
    elastic_px: float = 4.0
    elastic_scale: float = 0.25
    randconv_p: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "affine_p",
            "gamma_p",
            "contrast_p",
            "noise_p",
            "erase_p",
            "drop_neighbours_p",
            "drop_centre_p",
            "blur_p",
            "elastic_p",
            "randconv_p",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"a probability must be in [0, 1], got {value}", field=name)
        for name in (
            "translate_frac",
            "log_scale",
            "log_aspect",
            "rotate_deg",
            "shear_deg",
            "log_gamma",
            "log_contrast",
            "brightness",
            "noise_std",
            "elastic_px",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"must be >= 0, got {getattr(self, name)}", field=name)
        if self.blur_sigma < 0.3:
            raise ConfigError(f"must be >= 0.3, got {self.blur_sigma}", field="blur_sigma")
        if not 0.0 < self.elastic_scale <= 1.0:
            raise ConfigError(f"must be in (0, 1], got {self.elastic_scale}", field="elastic_scale")
        if not 0.0 <= self.erase_area[0] <= self.erase_area[1] <= 1.0:
            raise ConfigError(f"need 0 <= lo <= hi <= 1, got {self.erase_area}", field="erase_area")
        if not 0.0 < self.erase_aspect[0] <= self.erase_aspect[1]:
            raise ConfigError(f"need 0 < lo <= hi, got {self.erase_aspect}", field="erase_aspect")

    @classmethod
    def none(cls) -> AugmentConfig:
        """A configuration that changes nothing (every probability and range zero)."""
        return cls(
            affine_p=0.0,
            gamma_p=0.0,
            contrast_p=0.0,
            noise_p=0.0,
            erase_p=0.0,
            drop_neighbours_p=0.0,
            drop_centre_p=0.0,
        )


@dataclass(frozen=True)
class DataConfig:
    """How images become network inputs and labels become targets.

    Attributes:
        input_hw: Network input size (rows, columns); reference 608 x 608.
        resize: How a source frame is fitted to ``input_hw``.
        in_channels: Channels per frame: 1 keeps grey (colour frames are converted to
            luminance), 3 gives RGB (grey frames are replicated).
        frame_offsets: Frames stacked as input channels, relative to the labelled frame,
            e.g. ``(-5, 0, 5)`` for the reference's PRE_POST models; missing neighbours are
            zeros. Must contain 0.
        augment: Random augmentation ranges (training only).
        codec: Heatmap target configuration (strides and sigmas).
        seed: Base seed; sample ``i`` of epoch ``e`` draws from ``(seed, e, i)``.
        cache_bytes: Budget of the in-RAM cache of decoded frames per process (0: off).
        tta_shift_px: Prediction only: average the heatmaps over the input moved on a 3 x 3
            grid of this step (network-input px, a multiple of every stride; 0: off, one
            forward pass). See :class:`echomark.predict.engine.ShiftTtaEngine`.
    """

    input_hw: tuple[int, int] = (608, 608)
    resize: ResizeMode = ResizeMode.CROP_PAD
    in_channels: int = 1
    frame_offsets: tuple[int, ...] = (0,)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    seed: int = 0
    cache_bytes: int = 0
    tta_shift_px: int = 0

    def __post_init__(self) -> None:
        if len(self.input_hw) != 2 or min(self.input_hw) < 1:
            raise ConfigError(f"input_hw must be two positive sizes, got {self.input_hw}")
        object.__setattr__(self, "input_hw", (int(self.input_hw[0]), int(self.input_hw[1])))
        object.__setattr__(self, "resize", ResizeMode(self.resize))
        if self.in_channels not in (1, 3):
            raise ConfigError(f"must be 1 or 3, got {self.in_channels}", field="in_channels")
        offsets = tuple(int(o) for o in self.frame_offsets)
        if 0 not in offsets or len(set(offsets)) != len(offsets):
            raise ConfigError(
                f"must hold 0 and no repeats, got {self.frame_offsets}", field="frame_offsets"
            )
        object.__setattr__(self, "frame_offsets", offsets)
        if self.cache_bytes < 0:
            raise ConfigError(f"must be >= 0, got {self.cache_bytes}", field="cache_bytes")
        if self.tta_shift_px < 0 or any(self.tta_shift_px % s for s in self.codec.strides):
            raise ConfigError(
                f"must be 0 or a multiple of every stride {self.codec.strides}, "
                f"got {self.tta_shift_px}",
                field="tta_shift_px",
            )

    @property
    def num_input_channels(self) -> int:
        """Channels of the network input: ``in_channels`` times the number of frames.

        >>> DataConfig(in_channels=3, frame_offsets=(-5, 0, 5)).num_input_channels
        9
        """
        return self.in_channels * len(self.frame_offsets)
