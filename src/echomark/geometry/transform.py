"""Apply 3x3 pixel-coordinate matrices to (x, y) points and measure their scale.

Matrices follow ``docs/conventions.md``: one 3x3 matrix maps source ``(x, y, 1)`` to
destination ``(x, y, 1)`` with pixel centres at integers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def as_matrix(matrix: npt.ArrayLike) -> FloatArray:
    """Validate and return a 3x3 float64 matrix.

    Raises:
        ValueError: When the shape is not (3, 3) or an entry is not finite.

    >>> as_matrix(np.eye(3)).dtype
    dtype('float64')
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3):
        raise ValueError(f"matrix must have shape (3, 3), got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError("matrix has non-finite entries")
    return m


def is_affine(matrix: npt.ArrayLike) -> bool:
    """True when the bottom row is (0, 0, 1), i.e. the map has no perspective part.

    >>> is_affine(np.eye(3)), is_affine([[1, 0, 0], [0, 1, 0], [0.1, 0, 1]])
    (True, False)
    """
    m = as_matrix(matrix)
    return bool(m[2, 0] == 0.0 and m[2, 1] == 0.0 and m[2, 2] == 1.0)


def apply_matrix(matrix: npt.ArrayLike, xy: npt.ArrayLike) -> FloatArray:
    """Map (x, y) points through a 3x3 matrix (with the perspective divide if needed).

    Args:
        matrix: 3x3 matrix acting on column vectors ``(x, y, 1)``.
        xy: Points, shape (N, 2).

    Returns:
        Mapped points, shape (N, 2), float64.

    >>> apply_matrix([[2, 0, 1], [0, 3, 0], [0, 0, 1]], [[1, 1], [0, 2]]).tolist()
    [[3.0, 3.0], [1.0, 6.0]]
    """
    m = as_matrix(matrix)
    p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    out = p @ m[:2, :2].T + m[:2, 2]
    if not is_affine(m):
        w = p @ m[2, :2] + m[2, 2]
        out = out / w[:, None]
    return out


def max_scale(matrix: npt.ArrayLike) -> float:
    """Largest factor by which the linear part of an affine map stretches a length.

    This is the largest singular value of the upper-left 2x2 block; for a projective
    matrix it is only the scale at the origin, so callers must check densities after
    mapping.

    >>> max_scale([[3, 0, 5], [0, 0.5, 1], [0, 0, 1]])
    3.0
    """
    m = as_matrix(matrix)
    return float(np.linalg.svd(m[:2, :2], compute_uv=False)[0])
