"""Small robust statistics for the anomaly detector: median, MAD, Theil-Sen, Mann-Kendall.

Pure functions over short sequences (a window of bucket medians, a handful of recent points);
nothing here keeps state. The detector calls them once per bucket or per episode check, so
plain Python is fast enough and keeps numpy out of the sentinel's hot path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "MAD_TO_SIGMA",
    "confidence_from_z",
    "mad",
    "mann_kendall_tau",
    "median",
    "theil_sen_slope",
]

MAD_TO_SIGMA = 1.4826
"""Scale factor that makes the MAD estimate a normal distribution's standard deviation."""


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (NaN when empty)."""
    n = len(values)
    if n == 0:
        return math.nan
    ordered = sorted(values)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def mad(values: Sequence[float], centre: float | None = None) -> float:
    """The median absolute deviation of ``values`` around ``centre`` (their median by default)."""
    if not values:
        return math.nan
    c = median(values) if centre is None else centre
    return median([abs(v - c) for v in values])


def theil_sen_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The Theil-Sen slope: the median of pairwise slopes, robust to a third of outliers.

    Pairs with equal ``x`` are skipped; 0.0 when no pair remains. Quadratic in the length, so
    callers pass short windows (tens of points).
    """
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    ]
    return median(slopes) if slopes else 0.0


def mann_kendall_tau(ys: Sequence[float]) -> float:
    """Kendall's tau of ``ys`` against time, in [-1, 1]: +1 when every later value is higher.

    Ties count as zero, so a flat series scores 0.
    """
    n = len(ys)
    if n < 2:
        return 0.0
    s = 0
    for i in range(n):
        for j in range(i + 1, n):
            d = ys[j] - ys[i]
            s += (d > 0) - (d < 0)
    return s / (n * (n - 1) / 2)


def confidence_from_z(z: float, *, midpoint: float, steepness: float, support: float) -> float:
    """A score in [0, 1] that rises with ``|z|`` through a logistic curve.

    ``midpoint`` is the ``|z|`` that scores one half; ``support`` (0..1) discounts baselines
    with little history behind them. Monotone non-decreasing in ``|z|`` for a fixed support.
    """
    if math.isnan(z):
        return 0.0
    x = steepness * (abs(z) - midpoint)
    # Guard exp() overflow at both ends; the curve is flat there anyway.
    logistic = 1.0 if x > 60 else 0.0 if x < -60 else 1.0 / (1.0 + math.exp(-x))
    return max(0.0, min(1.0, logistic * max(0.0, min(1.0, support))))
