"""The least-squares fits behind forecasts: a linear trend, a trend with a daily cycle, the
start of a series' current regime, and where a fitted curve and its band cross a level.

Pure numpy over arrays of epoch hours and values; the choice of fit, the gates that decide
whether a forecast is said at all, and the domain values live in ``forecast.py``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Crossing",
    "Fit",
    "ForecastMethod",
    "crossing",
    "fit_trend",
    "holdout_rmse",
    "regime_start",
]

Array = npt.NDArray[np.float64]

_DAY_HOURS = 24.0
_MAX_RHO = 0.99  # caps the autocorrelation inflation at (1 + 0.99) / (1 - 0.99) = 199


class ForecastMethod(enum.StrEnum):
    """How a series was fitted."""

    LINEAR = "linear"
    """Ordinary least squares on time."""
    SEASONAL = "seasonal"
    """Linear trend plus a daily cycle (Fourier terms of the hour of day), fitted jointly."""


@dataclass(frozen=True, slots=True)
class Fit:
    """A fitted trend: coefficients, their covariance, and how well it fits.

    Time in the design is hours since ``origin`` (an epoch hour, usually now), so the
    intercept is the fitted level at the origin and ``beta[1]`` the slope per hour.
    """

    method: ForecastMethod
    harmonics: int
    origin: float
    beta: Array
    cov: Array
    """Parameter covariance, inflated for the residuals' lag-1 autocorrelation."""
    r2: float
    residual_std: float
    points: int

    @property
    def slope(self) -> float:
        """Units per hour."""
        return float(self.beta[1])

    @property
    def slope_se(self) -> float:
        """The slope's standard error (after the autocorrelation inflation)."""
        return float(np.sqrt(max(self.cov[1, 1], 0.0)))

    def predict(self, hours: Array) -> Array:
        """Fitted values at ``hours`` (epoch hours)."""
        return design(hours, self.origin, self.harmonics) @ self.beta


@dataclass(frozen=True, slots=True)
class Crossing:
    """Hours after the origin at which the fitted curve and its band first reach a level.

    ``None`` means not within the searched span.
    """

    mean: float | None
    earliest: float | None
    """When the upper edge of the band first reaches the level."""
    latest: float | None
    """When the lower edge of the band first reaches the level."""


def design(hours: Array, origin: float, harmonics: int) -> Array:
    """The design matrix: intercept, hours since ``origin``, and ``harmonics`` daily sin/cos pairs.

    The daily phase comes from the absolute hour, so a cycle fitted on past days lines up with
    future days; any offset of the local day is absorbed by the sin/cos weights.
    """
    columns = [np.ones_like(hours), hours - origin]
    if harmonics:
        angle = 2.0 * np.pi * np.mod(hours, _DAY_HOURS) / _DAY_HOURS
        for k in range(1, harmonics + 1):
            columns.extend((np.sin(k * angle), np.cos(k * angle)))
    return np.column_stack(columns)


def fit_trend(hours: Array, values: Array, *, origin: float, harmonics: int = 0) -> Fit | None:
    """Least squares of ``values`` on time (and a daily cycle when ``harmonics`` > 0).

    Minute data is strongly autocorrelated, so the plain OLS standard errors would claim far
    more certainty than the data holds; the covariance is inflated by (1 + ρ) / (1 − ρ), with ρ
    the residuals' lag-1 autocorrelation (the effective sample size of an AR(1) error).

    Args:
        hours: epoch hours, ascending.
        values: the observations.
        origin: the epoch hour that time in the design counts from.
        harmonics: daily sin/cos pairs; 0 fits a straight line.

    Returns:
        The fit, or None when there are too few points for the parameters.
    """
    x = design(hours, origin, harmonics)
    n, k = x.shape
    if n < k + 3:
        return None
    # Normal equations: the designs are small and well scaled (hours, sines), and solving
    # them is much cheaper than an SVD of the whole design for minute data.
    xtx_inv = np.linalg.pinv(x.T @ x)
    beta: Array = np.asarray(xtx_inv @ (x.T @ values), dtype=np.float64)
    residuals = values - x @ beta
    rss = float(residuals @ residuals)
    centred = values - values.mean()
    tss = float(centred @ centred)
    r2 = 1.0 - rss / tss if tss > 0.0 else 0.0
    sigma2 = rss / (n - k)
    rho = _lag1_autocorrelation(residuals)
    inflation = (1.0 + rho) / (1.0 - rho)
    cov = sigma2 * inflation * xtx_inv
    return Fit(
        method=ForecastMethod.SEASONAL if harmonics else ForecastMethod.LINEAR,
        harmonics=harmonics,
        origin=origin,
        beta=beta,
        cov=cov,
        r2=r2,
        residual_std=float(np.sqrt(sigma2)),
        points=n,
    )


def _lag1_autocorrelation(residuals: Array) -> float:
    if residuals.size < 3:
        return 0.0
    denominator = float(residuals @ residuals)
    if denominator <= 0.0:
        return 0.0
    rho = float(residuals[1:] @ residuals[:-1]) / denominator
    # Negative autocorrelation would shrink the errors below OLS; never claim that much.
    return min(max(rho, 0.0), _MAX_RHO)


def holdout_rmse(hours: Array, values: Array, *, harmonics: int, share: float = 0.2) -> float:
    """Root mean squared error of a fit on the first part of the span, scored on the rest.

    Args:
        hours: epoch hours, ascending.
        values: the observations.
        harmonics: as in :func:`fit_trend`.
        share: the fraction of the time span (at its end) held out.

    Returns:
        The error, or infinity when the training part cannot be fitted.
    """
    split = hours[-1] - share * (hours[-1] - hours[0])
    train = hours <= split
    fit = fit_trend(hours[train], values[train], origin=float(hours[-1]), harmonics=harmonics)
    if fit is None or train.all():
        return float("inf")
    errors = values[~train] - fit.predict(hours[~train])
    return float(np.sqrt(np.mean(errors * errors)))


def regime_start(
    hours: Array, values: Array, *, min_side: int = 5, max_breaks: int = 3, ratio: float = 0.25
) -> int:
    """The index where the series' current regime begins: after its last step or reset.

    A disk that was cleaned up, a step from a bulk write or a fill that started mid-window
    leaves two regimes; a line through both forecasts nonsense. A break is taken where two
    separate lines leave at most ``ratio`` of one line's squared error (a daily cycle or noise
    cannot do that; a step, a reset or a kink does). Breaks are looked for again after each.

    Args:
        hours: epoch hours, ascending.
        values: the observations.
        min_side: fewest points on either side of a break.
        max_breaks: how many successive breaks to follow.
        ratio: the largest share of the one-line error that two lines may leave.

    Returns:
        The index of the first point of the current regime (0 when there is no break).
    """
    start = 0
    for _ in range(max_breaks):
        found = _best_break(hours[start:], values[start:], min_side=min_side, ratio=ratio)
        if found is None:
            return start
        start += found
    return start


def _best_break(hours: Array, values: Array, *, min_side: int, ratio: float) -> int | None:
    n = hours.size
    if n < 2 * min_side:
        return None
    t = hours - hours[0]
    # Prefix sums give every segment's least-squares error in O(1).
    zero = np.zeros(1)
    c_n = np.arange(n + 1, dtype=np.float64)
    c_t = np.concatenate((zero, np.cumsum(t)))
    c_y = np.concatenate((zero, np.cumsum(values)))
    c_tt = np.concatenate((zero, np.cumsum(t * t)))
    c_ty = np.concatenate((zero, np.cumsum(t * values)))
    c_yy = np.concatenate((zero, np.cumsum(values * values)))

    def rss(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> Array:
        m = c_n[b] - c_n[a]
        st, sy = c_t[b] - c_t[a], c_y[b] - c_y[a]
        stt = c_tt[b] - c_tt[a] - st * st / m
        sty = c_ty[b] - c_ty[a] - st * sy / m
        syy = c_yy[b] - c_yy[a] - sy * sy / m
        with np.errstate(divide="ignore", invalid="ignore"):
            explained = np.where(stt > 0.0, sty * sty / stt, 0.0)
        return np.maximum(syy - explained, 0.0)

    whole = float(rss(np.array([0]), np.array([n]))[0])
    if whole <= 0.0:
        return None
    splits = np.arange(min_side, n - min_side + 1)
    two = rss(np.zeros_like(splits), splits) + rss(splits, np.full_like(splits, n))
    best = int(np.argmin(two))
    return int(splits[best]) if two[best] <= ratio * whole else None


def crossing(
    fit: Fit, level: float, *, limit_hours: float, z: float, step_hours: float = 0.1
) -> Crossing:
    """When the fitted curve, and the edges of its confidence band, first reach ``level``.

    The band is ``z`` standard errors of the fitted mean either side; the search runs on a
    grid from the origin to ``limit_hours`` after it, interpolating within a grid step.

    Args:
        fit: the fit, whose origin is the time counted from.
        level: the threshold.
        limit_hours: how far ahead to search.
        z: the band's half-width in standard errors.
        step_hours: the grid step.
    """
    grid = fit.origin + np.arange(0.0, limit_hours + step_hours, step_hours)
    x = design(grid, fit.origin, fit.harmonics)
    mean = x @ fit.beta
    spread = z * np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", x, fit.cov, x), 0.0))
    offsets = grid - fit.origin
    return Crossing(
        mean=_first_reach(offsets, mean, level),
        earliest=_first_reach(offsets, mean + spread, level),
        latest=_first_reach(offsets, mean - spread, level),
    )


def _first_reach(offsets: Array, curve: Array, level: float) -> float | None:
    above = np.flatnonzero(curve >= level)
    if above.size == 0:
        return None
    i = int(above[0])
    if i == 0:
        return 0.0
    lo, hi = float(curve[i - 1]), float(curve[i])
    fraction = (level - lo) / (hi - lo) if hi != lo else 1.0
    return float(offsets[i - 1] + fraction * (offsets[i] - offsets[i - 1]))
