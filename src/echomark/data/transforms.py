"""Geometric and intensity transforms: one 3x3 matrix moves both the image and its labels.

Every geometric step is a 3x3 float64 matrix ``M`` mapping a source pixel ``(x, y, 1)`` to a
network-input pixel, with pixel centres at integer coordinates on both sides
(``docs/conventions.md``). Steps compose by matrix product (``A @ B`` applies ``B`` first), the
image is warped with exactly the same matrix (:func:`warp_image`) and labels are moved with it
(:func:`transform_labels`); ``np.linalg.inv(M)`` maps predictions back to source pixels.

This module is numpy + OpenCV only; no torch.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from echomark.data.config import AugmentConfig, ResizeMode
from echomark.errors import ConfigError
from echomark.geometry.curves import dense_curve
from echomark.geometry.transform import apply_matrix
from echomark.labels.schema import ImageLabels, Instance, Label, LabelState

Matrix = npt.NDArray[np.float64]
FloatArray = npt.NDArray[np.float64]
UInt8Array = npt.NDArray[np.uint8]


def identity() -> Matrix:
    """The 3x3 identity."""
    return np.eye(3)


def translation(tx: float, ty: float) -> Matrix:
    """Shift by ``tx`` columns and ``ty`` rows.

    >>> apply_to_points(translation(2, -1), [[0.0, 0.0]]).tolist()
    [[2.0, -1.0]]
    """
    m = np.eye(3)
    m[0, 2] = tx
    m[1, 2] = ty
    return m


def about(matrix: Matrix, centre_xy: Sequence[float]) -> Matrix:
    """The linear part of ``matrix`` applied about ``centre_xy`` instead of the origin."""
    cx, cy = float(centre_xy[0]), float(centre_xy[1])
    return translation(cx, cy) @ np.asarray(matrix, np.float64) @ translation(-cx, -cy)


def scaling(sx: float, sy: float, centre_xy: Sequence[float] = (0.0, 0.0)) -> Matrix:
    """Scale columns by ``sx`` and rows by ``sy`` about ``centre_xy``.

    >>> apply_to_points(scaling(2, 3, (1, 1)), [[2.0, 2.0]]).tolist()
    [[3.0, 4.0]]
    """
    return about(np.diag([sx, sy, 1.0]), centre_xy)


def rotation(angle_deg: float, centre_xy: Sequence[float] = (0.0, 0.0)) -> Matrix:
    """Rotate by ``angle_deg`` about ``centre_xy``; positive turns +x towards +y.

    With rows growing downwards a positive angle is clockwise on screen.

    >>> np.round(apply_to_points(rotation(90), [[1.0, 0.0]]), 12).tolist()
    [[0.0, 1.0]]
    """
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return about(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]), centre_xy)


def shearing(angle_deg: float, centre_xy: Sequence[float] = (0.0, 0.0)) -> Matrix:
    """The reference's shear: ``y' = y - sin(a) x``, ``x' = cos(a) x`` about ``centre_xy``.

    >>> np.round(apply_to_points(shearing(30), [[2.0, 0.0]]), 6).tolist()
    [[1.732051, -1.0]]
    """
    a = math.radians(angle_deg)
    return about(
        np.array([[math.cos(a), 0.0, 0.0], [-math.sin(a), 1.0, 0.0], [0, 0, 1.0]]), centre_xy
    )


def check_affine(matrix: npt.ArrayLike) -> Matrix:
    """Return ``matrix`` as a float64 (3, 3) affine matrix, or raise.

    Raises:
        ConfigError: if it is not (3, 3), its last row is not ``[0, 0, 1]``, or it is
            singular or not finite.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3):
        raise ConfigError(f"a transform must be a (3, 3) matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)) or not np.array_equal(m[2], [0.0, 0.0, 1.0]):
        raise ConfigError(f"not a finite affine matrix (last row must be 0 0 1): {m.tolist()}")
    if abs(np.linalg.det(m[:2, :2])) < 1e-12:
        raise ConfigError(f"singular transform matrix: {m.tolist()}")
    return m


def invert(matrix: npt.ArrayLike) -> Matrix:
    """The inverse transform (network-input pixels back to source pixels).

    >>> invert(translation(3, 4))[:2, 2].tolist()
    [-3.0, -4.0]
    """
    m = check_affine(matrix)
    lin_inv = np.linalg.inv(m[:2, :2])
    out = np.eye(3)
    out[:2, :2] = lin_inv
    out[:2, 2] = -lin_inv @ m[:2, 2]
    return out


def apply_to_points(matrix: npt.ArrayLike, xy: npt.ArrayLike) -> FloatArray:
    """Map points ``xy`` (N, 2) through ``matrix``; returns float64 (N, 2).

    The same as :func:`echomark.geometry.apply_matrix`, kept under this module's name.
    """
    return apply_matrix(matrix, xy)


def crop_pad_matrix(src_hw: Sequence[int], out_hw: Sequence[int]) -> Matrix:
    """Centre crop or zero-pad each axis to ``out_hw`` at native scale (reference §2.3).

    Per axis: a shorter source is padded with its offset ``(out - in) // 2``; a longer one is
    cropped starting at ``(in - out) // 2``. The result is an integer translation.

    >>> crop_pad_matrix((500, 800), (608, 608))[:2, 2].tolist()
    [-96.0, 54.0]
    """
    shift = []
    for n_in, n_out in zip(src_hw, out_hw, strict=True):
        shift.append((n_out - n_in) // 2 if n_in <= n_out else -((n_in - n_out) // 2))
    return translation(float(shift[1]), float(shift[0]))


def letterbox_matrix(src_hw: Sequence[int], out_hw: Sequence[int]) -> Matrix:
    """Scale the whole source into ``out_hw`` keeping its aspect ratio, centred, zero-padded.

    The source's outer pixel edges ``[-0.5, W - 0.5]`` map onto the fitted extent, so with
    pixel centres at integers ``x' = s (x + 0.5) - 0.5 + pad_x``.

    >>> m = letterbox_matrix((300, 1216), (608, 608))
    >>> float(m[0, 0]), apply_to_points(m, [[-0.5, -0.5], [1215.5, 299.5]]).tolist()
    (0.5, [[-0.5, 228.5], [607.5, 378.5]])
    """
    (h_in, w_in), (h_out, w_out) = src_hw, out_hw
    s = min(h_out / h_in, w_out / w_in)
    pad_x = (w_out - s * w_in) / 2.0
    pad_y = (h_out - s * h_in) / 2.0
    return translation(pad_x - 0.5, pad_y - 0.5) @ scaling(s, s) @ translation(0.5, 0.5)


def fit_matrix(src_hw: Sequence[int], out_hw: Sequence[int], mode: ResizeMode) -> Matrix:
    """The matrix bringing a ``src_hw`` frame to the network size ``out_hw`` under ``mode``."""
    if ResizeMode(mode) is ResizeMode.LETTERBOX:
        return letterbox_matrix(src_hw, out_hw)
    return crop_pad_matrix(src_hw, out_hw)


def _tri(rng: np.random.Generator, half_width: float) -> float:
    """A draw from the symmetric triangular distribution on [-half_width, half_width]."""
    if half_width <= 0:
        return 0.0
    return float(rng.triangular(-half_width, 0.0, half_width))


def random_affine(rng: np.random.Generator, out_hw: Sequence[int], config: AugmentConfig) -> Matrix:
    """A random augmentation affine acting on network-input pixels, about the image centre.

    As in the reference: translate first, then rotate, scale, shear
    (``M = Shear @ Scale @ Rotate @ Translate`` about the centre); ranges from ``config``.
    Never a flip: the determinant is always positive.

    Args:
        rng: Source of randomness.
        out_hw: Network input size (rows, columns).
        config: Augmentation ranges.

    Returns:
        The (3, 3) matrix; the identity when the affine is not drawn.
    """
    if rng.random() >= config.affine_p:
        return identity()
    h, w = out_hw
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    tx = rng.uniform(-config.translate_frac, config.translate_frac) * w
    ty = rng.uniform(-config.translate_frac, config.translate_frac) * h
    angle = _tri(rng, config.rotate_deg)
    scale_y = math.exp(_tri(rng, config.log_scale))
    scale_x = scale_y * math.exp(_tri(rng, config.log_aspect))
    shear = _tri(rng, config.shear_deg)
    return (
        shearing(shear, centre)
        @ scaling(scale_x, scale_y, centre)
        @ rotation(angle, centre)
        @ translation(tx, ty)
    )


def _integer_shift(matrix: Matrix) -> tuple[int, int] | None:
    """The (tx, ty) of a pure integer translation, else None."""
    if np.array_equal(matrix[:2, :2], np.eye(2)) and np.all(
        matrix[:2, 2] == np.round(matrix[:2, 2])
    ):
        return int(matrix[0, 2]), int(matrix[1, 2])
    return None


def warp_image(
    image: npt.NDArray[np.generic], matrix: npt.ArrayLike, out_hw: Sequence[int]
) -> npt.NDArray[np.generic]:
    """Resample ``image`` onto the ``out_hw`` grid so that source pixel ``p`` lands at ``M p``.

    Bilinear, zero outside the source. ``dst(q) = src(M^-1 q)`` with pixel centres at integers
    on both grids, which is OpenCV's convention; the inverse is computed here in float64 and
    passed with ``WARP_INVERSE_MAP``. OpenCV quantises sampling positions to 1/32 px; the
    tests find blob centroids within 0.01 px of ``M p``. A pure integer translation
    (crop/pad) is an exact copy.

    Args:
        image: (H, W) or (H, W, C) array, uint8 or float32; any C.
        matrix: (3, 3) source -> destination matrix.
        out_hw: Output size (rows, columns).

    Returns:
        Array (out_h, out_w) or (out_h, out_w, C) of the input dtype.

    >>> img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    >>> warp_image(img, translation(1, 0), (3, 4))[0].tolist()
    [0, 0, 1, 2]
    """
    m = check_affine(matrix)
    h_out, w_out = int(out_hw[0]), int(out_hw[1])
    src = np.asarray(image)
    out_shape = (h_out, w_out, *src.shape[2:])
    shift = _integer_shift(m)
    if shift is not None:
        out = np.zeros(out_shape, dtype=src.dtype)
        tx, ty = shift
        h_in, w_in = src.shape[:2]
        x0, x1 = max(0, tx), min(w_out, w_in + tx)
        y0, y1 = max(0, ty), min(h_out, h_in + ty)
        if x0 < x1 and y0 < y1:
            out[y0:y1, x0:x1] = src[y0 - ty : y1 - ty, x0 - tx : x1 - tx]
        return out
    inv = invert(m)[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP

    def warp(chunk: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        res = cv2.warpAffine(
            np.ascontiguousarray(chunk),
            inv,
            (w_out, h_out),
            flags=flags,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        return res.reshape(h_out, w_out, -1) if chunk.ndim == 3 else res

    if src.ndim == 2 or src.shape[2] <= 4:
        return warp(src)
    # OpenCV's fast paths stop at 4 channels; wider stacks go in chunks of at most 4.
    return np.concatenate([warp(src[:, :, i : i + 4]) for i in range(0, src.shape[2], 4)], axis=2)


def warp_frames(
    frames: Sequence[npt.NDArray[np.uint8] | None],
    matrix: npt.ArrayLike,
    out_hw: Sequence[int],
    channels: int,
) -> UInt8Array:
    """Stack frames channel-wise and warp them with ``matrix``; missing (None) ones are zeros.

    This is the network input of multi-frame models, in training and prediction alike.

    Args:
        frames: (H, W, ``channels``) uint8 frames of one size, or None where absent.
        matrix: (3, 3) source -> output matrix.
        out_hw: Output size (rows, columns).
        channels: Channels per frame.

    Returns:
        uint8 (out_h, out_w, ``channels * len(frames)``).

    >>> one = np.full((2, 2, 1), 9, np.uint8)
    >>> warp_frames([None, one], identity(), (2, 2), 1)[0, 0].tolist()
    [0, 9]
    """
    h, w = int(out_hw[0]), int(out_hw[1])
    present = [i for i, f in enumerate(frames) if f is not None]
    if len(present) == len(frames) and channels * len(frames) <= 4:
        full = [f for f in frames if f is not None]
        stack = full[0] if len(full) == 1 else np.concatenate(full, axis=2)
        return np.asarray(warp_image(stack, matrix, (h, w)), dtype=np.uint8).reshape(h, w, -1)
    out = np.zeros((h, w, channels * len(frames)), np.uint8)
    for i in present:
        frame = frames[i]
        assert frame is not None
        warped = warp_image(frame, matrix, (h, w))
        out[:, :, i * channels : (i + 1) * channels] = warped.reshape(h, w, channels)
    return out


def to_input(image: UInt8Array) -> npt.NDArray[np.float32]:
    """The network's float input, ``x / 255 - 0.5``, channels first.

    One formula for training and prediction, so a frame gives the network the same bits in
    both.

    Args:
        image: uint8 (H, W, C), e.g. from :func:`warp_frames`.

    Returns:
        Contiguous float32 (C, H, W) in [-0.5, 0.5].

    >>> to_input(np.array([[[0, 255]]], np.uint8)).ravel().tolist()
    [-0.5, 0.5]
    """
    chw = np.empty((image.shape[2], image.shape[0], image.shape[1]), np.float32)
    np.multiply(image.transpose(2, 0, 1), np.float32(1 / 255), out=chw)
    chw -= np.float32(0.5)
    return chw


def transform_labels(labels: ImageLabels, matrix: npt.ArrayLike) -> ImageLabels:
    """Move every point and curve control point of ``labels`` through ``matrix``.

    States, straight-segment flags and confidences are kept; off and blurred labels are
    returned unchanged. Points that leave the image are kept (the target is then partly or
    wholly empty), never dropped.

    Note: the spline through moved control points is not exactly the moved spline under a
    non-similarity affine; targets are therefore rendered from the original labels and the
    matrix (``echomark.heatmaps.encode``), and this function is for display and evaluation.

    >>> out = transform_labels({"a": Label.point(1.0, 2.0)}, translation(10, 20))
    >>> out["a"].xy.tolist()
    [[11.0, 22.0]]
    """
    m = check_affine(matrix)
    out: ImageLabels = {}
    for name, label in labels.items():
        if not label.instances:
            out[name] = label
            continue
        moved = tuple(
            Instance(apply_to_points(m, inst.xy), inst.straight, inst.conf)
            for inst in label.instances
        )
        out[name] = Label(label.state, moved)
    return out


def to_channels(frame: npt.NDArray[np.uint8], in_channels: int) -> UInt8Array:
    """A grey (H, W), RGB or RGBA (H, W, 3|4) uint8 frame as (H, W, in_channels).

    ``in_channels`` 1 gives luminance (ITU-R BT.601, as OpenCV's RGB2GRAY), 3 gives RGB with
    grey replicated; alpha is dropped.

    >>> to_channels(np.zeros((2, 3), np.uint8), 3).shape
    (2, 3, 3)
    >>> to_channels(np.full((1, 1, 3), [255, 0, 0], np.uint8), 1).ravel().tolist()
    [76]
    """
    a = np.asarray(frame, dtype=np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 4:
        a = a[:, :, :3]
    if a.shape[2] == in_channels:
        return a
    if in_channels == 1:
        grey = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY)
        return np.asarray(grey, dtype=np.uint8)[:, :, None]
    if a.shape[2] == 1 and in_channels == 3:
        return np.repeat(a, 3, axis=2)
    raise ConfigError(f"cannot turn a {a.shape[2]}-channel frame into {in_channels} channels")


def intensity_lut(gamma: float = 1.0, gain: float = 1.0, bias: float = 0.0) -> UInt8Array:
    """A uint8 lookup table for ``clip(gain * v**gamma + bias)`` on ``v`` in [0, 1].

    Values are rounded back to uint8, as the reference re-quantises after its gamma.

    >>> intensity_lut(gamma=2.0)[[0, 255, 128]].tolist()
    [0, 255, 64]
    """
    v = np.arange(256, dtype=np.float64) / 255.0
    out = gain * v**gamma + bias
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def random_intensity_lut(rng: np.random.Generator, config: AugmentConfig) -> UInt8Array | None:
    """Draw gamma, gain and bias from ``config``; None when nothing was drawn."""
    gamma = math.exp(_tri(rng, config.log_gamma)) if rng.random() < config.gamma_p else 1.0
    gain, bias = 1.0, 0.0
    if rng.random() < config.contrast_p:
        gain = math.exp(rng.uniform(-config.log_contrast, config.log_contrast))
        bias = rng.uniform(-config.brightness, config.brightness)
    if gamma == 1.0 and gain == 1.0 and bias == 0.0:
        return None
    return intensity_lut(gamma, gain, bias)


def random_blur(image: UInt8Array, rng: np.random.Generator, config: AugmentConfig) -> UInt8Array:
    """Gaussian-blur a (H, W, C) input with probability ``blur_p`` (sigma ``U(0.3, max)``).

    Draws nothing from ``rng`` when ``blur_p`` is 0, so configurations without blur see the
    same random stream as before it existed.

    >>> img = np.zeros((9, 9, 1), np.uint8); img[4, 4, 0] = 255
    >>> cfg = AugmentConfig(blur_p=1.0, blur_sigma=1.0)
    >>> out = random_blur(img, np.random.default_rng(0), cfg)
    >>> out.shape, int(out[4, 4, 0]) < 255, int(out[4, 5, 0]) > 0
    ((9, 9, 1), True, True)
    """
    if config.blur_p <= 0.0 or rng.random() >= config.blur_p:
        return image
    sigma = float(rng.uniform(0.3, config.blur_sigma))
    out = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return np.asarray(out, dtype=np.uint8).reshape(image.shape)


#: Random-network augmentation: layers, hidden channels and kernel side of the network,
#: and the LeakyReLU slope between its layers (GIN's defaults).
RANDCONV_LAYERS = 4
RANDCONV_WIDTH = 2
RANDCONV_KERNEL = 3
RANDCONV_SLOPE = 0.2


def random_conv(image: UInt8Array, rng: np.random.Generator, config: AugmentConfig) -> UInt8Array:
    """Mix a (H, W, C) input with a random shallow network's output, probability ``randconv_p``.

    The network (:data:`RANDCONV_LAYERS` layers of :data:`RANDCONV_KERNEL`-pixel kernels,
    He-normal weights, no bias, LeakyReLU between layers) is drawn afresh and applied to
    each channel alike, so neighbour frames stay consistent. Its output is scaled to the
    channel's own energy and mixed ``a * out + (1 - a) * input`` with ``a ~ U(0, 1)``, then
    clipped to uint8. With no bias, black more than four pixels (the network's reach) from
    any echo stays black, as padding and the outside of a sector should. Draws nothing from
    ``rng`` when ``randconv_p`` is 0.

    >>> img = np.zeros((16, 16, 1), np.uint8); img[4:12, 4:12, 0] = 200
    >>> out = random_conv(img, np.random.default_rng(1), AugmentConfig(randconv_p=1.0))
    >>> out.shape, out.dtype.name, int(out[0, 0, 0])
    ((16, 16, 1), 'uint8', 0)
    """
    if config.randconv_p <= 0.0 or rng.random() >= config.randconv_p:
        return image
    k = RANDCONV_KERNEL
    widths = [1] + [RANDCONV_WIDTH] * (RANDCONV_LAYERS - 1) + [1]
    kernels = [
        rng.normal(0.0, math.sqrt(2.0 / (cin * k * k)), size=(cout, cin, k, k)).astype(np.float32)
        for cin, cout in itertools.pairwise(widths)
    ]
    alpha = float(rng.uniform(0.0, 1.0))
    out = np.empty_like(image)
    for c in range(image.shape[2]):
        x = image[:, :, c].astype(np.float32)
        maps: list[npt.NDArray[np.float32]] = [x]
        for i, w in enumerate(kernels):
            nxt = []
            for o in range(w.shape[0]):
                acc = np.zeros_like(x)
                for j, m in enumerate(maps):
                    acc += cv2.filter2D(m, -1, w[o, j], borderType=cv2.BORDER_CONSTANT)
                if i < len(kernels) - 1:
                    acc = np.where(acc > 0, acc, np.float32(RANDCONV_SLOPE) * acc)
                nxt.append(acc)
            maps = nxt
        y = maps[0]
        scale = float(np.linalg.norm(x)) / max(float(np.linalg.norm(y)), 1e-6)
        mixed = alpha * scale * y + (1.0 - alpha) * x
        out[:, :, c] = np.clip(mixed, 0.0, 255.0).astype(np.uint8)
    return out


def random_erase_box(
    rng: np.random.Generator, hw: Sequence[int], config: AugmentConfig
) -> tuple[int, int, int, int] | None:
    """Draw a rectangle ``(y0, y1, x0, x1)`` to zero, or None (probability ``1 - erase_p``).

    Area fraction uniform in ``config.erase_area``, height/width ratio log-uniform in
    ``config.erase_aspect``, position uniform with the whole rectangle inside the image.
    """
    if rng.random() >= config.erase_p:
        return None
    h, w = int(hw[0]), int(hw[1])
    area = rng.uniform(*config.erase_area) * h * w
    aspect = math.exp(
        rng.uniform(math.log(config.erase_aspect[0]), math.log(config.erase_aspect[1]))
    )
    eh = min(h, max(1, round(math.sqrt(area * aspect))))
    ew = min(w, max(1, round(math.sqrt(area / aspect))))
    y0 = int(rng.integers(0, h - eh + 1))
    x0 = int(rng.integers(0, w - ew + 1))
    return y0, y0 + eh, x0, x0 + ew


#: A displacement field ``(dx, dy)``, float32 (H, W) each, in network-input pixels.
ElasticField = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]

#: Fixed-point steps that invert the field at a label; each shrinks the error by the
#: field's slope (about ``elastic_px / (elastic_scale * side)``, well under 0.1).
_INVERSE_STEPS = 5


def random_elastic_field(
    rng: np.random.Generator, out_hw: Sequence[int], config: AugmentConfig
) -> ElasticField | None:
    """Draw a smooth random displacement field with probability ``elastic_p``, else None.

    A coarse grid of ``round(1 / elastic_scale) + 1`` control values per axis, uniform in
    [-1, 1] per component, is upsampled bicubically to ``out_hw`` and scaled so the largest
    displacement length is ``U(0, elastic_px)`` input pixels. Draws nothing from ``rng``
    when ``elastic_p`` is 0, so configurations without it see the same random stream.

    Args:
        rng: Source of randomness.
        out_hw: Network input size (rows, columns).
        config: Augmentation ranges.

    Returns:
        ``(dx, dy)``, float32 (H, W) each, or None when the warp is not drawn.

    >>> cfg = AugmentConfig(elastic_p=1.0, elastic_px=3.0)
    >>> dx, dy = random_elastic_field(np.random.default_rng(0), (40, 30), cfg)
    >>> dx.shape, bool(np.hypot(dx, dy).max() <= 3.0)
    ((40, 30), True)
    """
    if config.elastic_p <= 0.0 or rng.random() >= config.elastic_p:
        return None
    h, w = int(out_hw[0]), int(out_hw[1])
    n = round(1.0 / config.elastic_scale) + 1
    coarse = rng.uniform(-1.0, 1.0, size=(2, n, n)).astype(np.float32)
    amplitude = float(rng.uniform(0.0, config.elastic_px))
    dx, dy = (
        np.asarray(cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC), np.float32) for c in coarse
    )
    peak = float(np.sqrt(dx * dx + dy * dy).max())
    factor = np.float32(amplitude / peak) if peak > 0 else np.float32(0.0)
    return dx * factor, dy * factor


def elastic_warp_image(image: UInt8Array, field: ElasticField) -> UInt8Array:
    """Resample a (H, W, C) uint8 input so that ``out(x) = image(x + d(x))``.

    Bilinear (OpenCV quantises the sampling positions to 1/32 px), zero outside the image.

    >>> img = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    >>> shift = (np.ones((3, 4), np.float32), np.zeros((3, 4), np.float32))
    >>> elastic_warp_image(img, shift)[0, :, 0].tolist()
    [1, 2, 3, 0]
    """
    dx, dy = field
    h, w = image.shape[:2]
    if dx.shape != (h, w) or dy.shape != (h, w):
        raise ConfigError(f"field of shape {dx.shape} for an image of {(h, w)}")
    grid_y, grid_x = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x, map_y = grid_x + dx, grid_y + dy

    def remap(chunk: UInt8Array) -> UInt8Array:
        out = cv2.remap(
            np.ascontiguousarray(chunk),
            map_x,
            map_y,
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        return np.asarray(out, np.uint8).reshape(h, w, -1)

    # OpenCV's fast paths stop at 4 channels; wider stacks go in chunks of at most 4.
    parts = [remap(image[:, :, i : i + 4]) for i in range(0, image.shape[2], 4)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)


def _sample_field(field: ElasticField, xy: FloatArray) -> FloatArray:
    """The field at points ``xy`` (N, 2), bilinear, clamped to the image edge.

    OpenCV's remap does the sampling (several times faster than numpy indexing); its
    1/32 px position grid costs under 0.01 px at the field's small slopes.
    """
    n, width = len(xy), 256  # remap wants both sides below 32767: points go in rows
    rows = max(1, -(-n // width))
    flat = np.zeros((2, rows * width), np.float32)
    flat[:, :n] = xy.T
    map_x, map_y = flat[0].reshape(rows, width), flat[1].reshape(rows, width)
    out = np.empty((n, 2))
    for j, d in enumerate(field):
        val = cv2.remap(
            d, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        out[:, j] = np.asarray(val, np.float64).ravel()[:n]
    return out


def elastic_move_points(xy: npt.ArrayLike, field: ElasticField) -> FloatArray:
    """Where points ``xy`` (N, 2) of the input land under :func:`elastic_warp_image`.

    The image content at ``p`` moves to the ``x`` solving ``x + d(x) = p``, found by the
    fixed-point iteration ``x <- p - d(x)`` (a contraction: the field's slope is small).
    Points outside the image use the field at the nearest edge; non-finite ones are
    returned as they are.

    >>> shift = (np.ones((3, 4), np.float32), np.zeros((3, 4), np.float32))
    >>> elastic_move_points([[2.0, 1.0]], shift).tolist()
    [[1.0, 1.0]]
    """
    p = np.asarray(xy, np.float64).reshape(-1, 2)
    finite = np.isfinite(p).all(axis=1)
    x = p.copy()
    q = p[finite]
    moved = q - _sample_field(field, q)
    for _ in range(_INVERSE_STEPS - 1):
        moved = q - _sample_field(field, moved)
    x[finite] = moved  # non-finite points stay so, for the encoder to reject
    return x


def dense_input_labels(
    labels: ImageLabels, matrix: npt.ArrayLike, spacing_px: float
) -> ImageLabels:
    """Labels in network-input pixels with every curve replaced by its dense polyline.

    Points are mapped through ``matrix``; each curve instance is replaced by its dense
    samples (:func:`echomark.geometry.curves.dense_curve`, at most ``spacing_px`` apart) as
    nodes, so it is the image of the source curve up to the chords' sub-pixel bulge, and
    stays so when its nodes are then moved one by one (:func:`elastic_warp_labels`). A
    curve with straight segments becomes a polyline (every segment straight, so its
    corners stay sharp); others a spline through the dense nodes. Off and blurred labels
    are unchanged.

    >>> out = dense_input_labels({"c": Label.curve([[0.0, 0.0], [4.0, 0.0]])}, identity(), 1.0)
    >>> out["c"].xy[:, 0].round(6).tolist(), out["c"].instances[0].straight
    ([0.0, 0.8, 1.6, 2.4, 3.2, 4.0], None)
    """
    m = check_affine(matrix)
    out: ImageLabels = {}
    for name, label in labels.items():
        if not label.instances:
            out[name] = label
            continue
        moved = []
        for inst in label.instances:
            renderable = (
                label.state is LabelState.CURVE
                and len(inst.xy) >= 2
                and bool(np.isfinite(inst.xy).all())
                and not (inst.xy == inst.xy[0]).all()
            )
            if not renderable:  # left for the encoder to judge, as without the warp
                moved.append(Instance(apply_to_points(m, inst.xy), inst.straight, inst.conf))
                continue
            dense = dense_curve(inst.xy, inst.straight, m, spacing_px)
            # A spline through nodes this close is the polyline to well under 0.1 px, and
            # encodes several times faster than a polyline of straight flags (whose every
            # node the encoder keeps as a corner); only curves with corners need the flags.
            corners = inst.straight is not None and any(inst.straight)
            flags = (True,) * len(dense) if corners else None
            moved.append(Instance(dense, flags, inst.conf))
        out[name] = Label(label.state, tuple(moved))
    return out


def elastic_warp_labels(labels: ImageLabels, field: ElasticField) -> ImageLabels:
    """Move labels given in network-input pixels with :func:`elastic_warp_image`'s warp.

    Every point and every curve node moves by :func:`elastic_move_points`; states, flags
    and confidences are kept, off and blurred labels returned unchanged. A curve's new
    spline passes through the moved nodes; between them it follows the moved curve only
    where the nodes are much closer than the field's correlation length (sparse expert
    nodes can be off by pixels), so pass curves densified first
    (:func:`dense_input_labels`), as the training dataset does: the tests find the
    result within 0.05 px of the warped curve.

    >>> shift = (np.zeros((3, 4), np.float32), np.ones((3, 4), np.float32))
    >>> elastic_warp_labels({"a": Label.point(1.0, 2.0)}, shift)["a"].xy.tolist()
    [[1.0, 1.0]]
    """
    instances = [inst for label in labels.values() for inst in label.instances]
    if not instances:
        return dict(labels)
    # One call for every node of every label: the sampling cost is per call.
    moved_xy = elastic_move_points(np.concatenate([inst.xy for inst in instances]), field)
    ends = np.cumsum([len(inst.xy) for inst in instances])
    parts = iter(np.split(moved_xy, ends[:-1]))
    out: ImageLabels = {}
    for name, label in labels.items():
        if not label.instances:
            out[name] = label
            continue
        moved = tuple(Instance(next(parts), inst.straight, inst.conf) for inst in label.instances)
        out[name] = Label(label.state, moved)
    return out
