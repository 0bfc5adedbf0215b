"""Agreement statistics as in Howard et al. 2021: bias, precision SD, MAE, ICC, Bland–Altman.

Differences are always ``test − reference``. "Precision SD" is the standard deviation of the
differences (ddof = 1). The ICC is ICC(2,1) of Shrout & Fleiss (two-way random effects,
absolute agreement, single rater) unless another form is asked for.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from echomark.fileio import atomic_path

FloatArray = npt.NDArray[np.float64]


class IccKind(str, Enum):
    """Shrout & Fleiss (1979) intraclass correlation forms."""

    ICC1_1 = "ICC(1,1)"
    """One-way random effects, single rater."""
    ICC2_1 = "ICC(2,1)"
    """Two-way random effects, absolute agreement, single rater (the default)."""
    ICC3_1 = "ICC(3,1)"
    """Two-way mixed effects, consistency, single rater."""
    ICC1_K = "ICC(1,k)"
    """One-way random effects, mean of k raters."""
    ICC2_K = "ICC(2,k)"
    """Two-way random effects, absolute agreement, mean of k raters."""
    ICC3_K = "ICC(3,k)"
    """Two-way mixed effects, consistency, mean of k raters."""


def icc(ratings: npt.ArrayLike, kind: IccKind | str = IccKind.ICC2_1) -> float:
    """Intraclass correlation of a targets × raters table (rows with a NaN are dropped).

    Args:
        ratings: Shape (n targets, k raters), k ≥ 2.
        kind: Which ICC form.

    Returns:
        The ICC (NaN with fewer than 2 complete targets or no variance).

    Shrout & Fleiss (1979), Table 2: six targets, four judges.

    >>> sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> [round(icc(sf, k), 2) for k in ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)")]
    [0.17, 0.29, 0.71]
    """
    kind = IccKind(kind)
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"ratings must be (n, k) with k >= 2, got shape {x.shape}")
    x = x[np.all(np.isfinite(x), axis=1)]
    n, k = x.shape
    if n < 2:
        return math.nan
    grand = x.mean()
    ss_rows = k * float(np.sum((x.mean(axis=1) - grand) ** 2))
    ss_cols = n * float(np.sum((x.mean(axis=0) - grand) ** 2))
    ss_total = float(np.sum((x - grand) ** 2))
    ss_err = ss_total - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    msw = (ss_cols + ss_err) / (n * (k - 1))
    if kind is IccKind.ICC1_1:
        num, den = msr - msw, msr + (k - 1) * msw
    elif kind is IccKind.ICC2_1:
        num, den = msr - mse, msr + (k - 1) * mse + k * (msc - mse) / n
    elif kind is IccKind.ICC3_1:
        num, den = msr - mse, msr + (k - 1) * mse
    elif kind is IccKind.ICC1_K:
        num, den = msr - msw, msr
    elif kind is IccKind.ICC2_K:
        num, den = msr - mse, msr + (msc - mse) / n
    else:
        num, den = msr - mse, msr
    return num / den if den != 0 else math.nan


@dataclass(frozen=True)
class Agreement:
    """Agreement of a test method with a reference (differences = test − reference).

    Attributes:
        n: Number of complete pairs.
        bias: Mean difference.
        sd_diff: Precision SD: SD of the differences (ddof = 1).
        loa_low: Lower 95 % limit of agreement, ``bias − 1.96 · sd_diff``.
        loa_high: Upper limit, ``bias + 1.96 · sd_diff``.
        mae: Mean absolute difference.
        rmse: Root-mean-square difference.
        icc: ICC of the two methods (form in ``icc_kind``).
        icc_kind: Which ICC.
        pearson_r: Pearson correlation.
        mean_reference: Mean of the reference values.
        unit: Unit of the values.
    """

    n: int
    bias: float
    sd_diff: float
    loa_low: float
    loa_high: float
    mae: float
    rmse: float
    icc: float
    icc_kind: str
    pearson_r: float
    mean_reference: float
    unit: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN → None)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}  # fmt: skip


def paired(test: npt.ArrayLike, reference: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """The pairs where both values are finite."""
    a = np.asarray(test, dtype=np.float64).ravel()
    b = np.asarray(reference, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"test and reference differ in length: {a.shape} vs {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


def agreement(
    test: npt.ArrayLike,
    reference: npt.ArrayLike,
    *,
    unit: str = "",
    icc_kind: IccKind | str = IccKind.ICC2_1,
) -> Agreement:
    """Bias, precision SD, limits of agreement, MAE, RMSE, ICC and r of paired values.

    Pairs with a NaN on either side are dropped.

    Args:
        test: Test values (e.g. the model), shape (n,).
        reference: Reference values (e.g. consensus), shape (n,).
        unit: Unit, carried into the result.
        icc_kind: ICC form of the test/reference pair.

    Returns:
        The statistics; NaN where undefined (e.g. SD of one pair).

    >>> a = agreement([11, 12, 13, 16], [10, 12, 14, 14])
    >>> a.bias, round(a.sd_diff, 4), a.mae
    (0.5, 1.291, 1.0)
    """
    a, b = paired(test, reference)
    kind = IccKind(icc_kind).value
    n = len(a)
    if n == 0:
        nan = math.nan
        return Agreement(0, nan, nan, nan, nan, nan, nan, nan, kind, nan, nan, unit)
    d = a - b
    bias = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    r = float(np.corrcoef(a, b)[0, 1]) if n > 1 and a.std() > 0 and b.std() > 0 else math.nan
    return Agreement(
        n=n,
        bias=bias,
        sd_diff=sd,
        loa_low=bias - 1.96 * sd,
        loa_high=bias + 1.96 * sd,
        mae=float(np.abs(d).mean()),
        rmse=float(np.sqrt(np.mean(d**2))),
        icc=icc(np.stack([a, b], axis=1), kind) if n > 1 else math.nan,
        icc_kind=kind,
        pearson_r=r,
        mean_reference=float(b.mean()),
        unit=unit,
    )


def consensus(ratings: npt.ArrayLike) -> FloatArray:
    """Consensus of several raters: the mean per target, ignoring missing (NaN) ratings.

    >>> consensus([[1.0, 3.0], [2.0, np.nan]]).tolist()
    [2.0, 2.0]
    """
    x = np.asarray(ratings, dtype=np.float64)
    out = np.full(x.shape[0], math.nan)
    ok = np.isfinite(x).any(axis=1)
    out[ok] = np.nanmean(x[ok], axis=1)
    return out


def raters_vs_consensus(
    ratings: npt.ArrayLike,
    *,
    leave_one_out: bool = True,
    unit: str = "",
    icc_kind: IccKind | str = IccKind.ICC2_1,
) -> list[Agreement]:
    """Each rater's agreement with the consensus of the raters.

    Args:
        ratings: Shape (n targets, k raters), NaN where a rater did not measure.
        leave_one_out: Compare each rater with the mean of the *other* raters, so a rater is
            not partly compared with itself (needs k ≥ 3 to be meaningful).
        unit: Unit of the values.
        icc_kind: ICC form.

    Returns:
        One :class:`Agreement` per rater (column).
    """
    x = np.asarray(ratings, dtype=np.float64)
    out = []
    for j in range(x.shape[1]):
        ref = consensus(np.delete(x, j, axis=1)) if leave_one_out else consensus(x)
        out.append(agreement(x[:, j], ref, unit=unit, icc_kind=icc_kind))
    return out


def _atomic_savefig(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})


def bland_altman_plot(
    panels: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike, str]] | Sequence[Any],
    path: str | os.PathLike[str],
    *,
    title: str = "Bland–Altman",
    test_name: str = "test",
    reference_name: str = "reference",
) -> Path:
    """Write a Bland–Altman PNG with one panel per measurement.

    Each panel plots the difference (test − reference) against the mean of the pair, with the
    bias and the 95 % limits of agreement as lines.

    Args:
        panels: ``{measurement: (test, reference, unit)}``.
        path: Output PNG (written atomically).
        title: Figure title.
        test_name: Name of the test method in the axis labels.
        reference_name: Name of the reference.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = list(dict(panels).items())
    n = max(1, len(items))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    try:
        for ax in axes.ravel()[len(items) :]:
            ax.set_visible(False)
        for ax, (name, (test, ref, unit)) in zip(axes.ravel(), items, strict=False):
            a, b = paired(test, ref)
            st = agreement(a, b, unit=unit)
            mean = 0.5 * (a + b)
            ax.scatter(mean, a - b, s=12, alpha=0.7, color="#1f77b4")
            if st.n > 1:
                for y, style in ((st.bias, "-"), (st.loa_low, "--"), (st.loa_high, "--")):
                    ax.axhline(y, color="#d62728", linestyle=style, linewidth=1)
                ax.set_title(
                    f"{name} (n={st.n})\nbias {st.bias:.2f}, SD {st.sd_diff:.2f} {unit}",
                    fontsize=9,
                )
            else:
                ax.set_title(f"{name} (n={st.n})", fontsize=9)
            ax.axhline(0.0, color="0.6", linewidth=0.6)
            ax.set_xlabel(f"mean of {test_name} and {reference_name} ({unit})", fontsize=8)
            ax.set_ylabel(f"{test_name} − {reference_name} ({unit})", fontsize=8)
            ax.tick_params(labelsize=7)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        out = Path(path)
        _atomic_savefig(fig, out)
    finally:
        plt.close(fig)
    return out
