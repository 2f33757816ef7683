"""Synthetic capacity series with known crossing times, and the accuracy of forecasts on them.

Five families: a clean linear fill, a fill with a daily cycle, a fill under heavy
autocorrelated noise, a step followed by a fill, and series that never cross (flat, falling,
noise without a trend, noise that wanders for hours, a daily cycle without a trend).
``bench/forecast_accuracy.py`` prints the table that docs/benchmarks.md records;
the tests use the same series.
"""

from __future__ import annotations

import enum
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from nephos.analytics.forecast import ForecastSettings, forecast_series
from nephos.analytics.forecast_fit import Array
from nephos.model import MetricPoint

__all__ = ["Family", "FamilyAccuracy", "SyntheticSeries", "evaluate", "make_series"]

_THRESHOLD = 90.0


class Family(enum.StrEnum):
    """A kind of synthetic series."""

    LINEAR = "linear fill"
    SEASONAL = "fill with daily cycle"
    NOISY = "noisy fill"
    STEP = "step then fill"
    FLAT = "flat or falling"
    NOISE = "noise, no trend"
    WANDER = "slow wander, no trend"
    CYCLE = "daily cycle, no trend"

    @property
    def crosses(self) -> bool:
        """Whether series of this family cross the threshold within the horizon."""
        return self in (Family.LINEAR, Family.SEASONAL, Family.NOISY, Family.STEP)


@dataclass(frozen=True, slots=True)
class SyntheticSeries:
    """One generated series and the hour (after ``now``) its noiseless signal crosses 90."""

    family: Family
    points: tuple[MetricPoint, ...]
    now: datetime
    true_hours: float | None


def make_series(
    family: Family,
    rng: np.random.Generator,
    *,
    now: datetime,
    window: timedelta = timedelta(days=3),
    step: timedelta = timedelta(minutes=5),
    horizon_hours: float = 48.0,
    name: str = "vm",
) -> SyntheticSeries:
    """One series of ``family`` over ``window`` up to ``now``, sampled every ``step``.

    Args:
        family: the kind of series.
        rng: the source of randomness.
        now: the end of the window, and the time the forecast is made.
        window: how much history to generate.
        step: the sampling interval.
        horizon_hours: crossing families cross between 4 hours and this many hours ahead.
        name: the series' resource name.
    """
    dt = step.total_seconds() / 3600.0
    # Past and future on one grid: t < 0 is history, t >= 0 the future used for the truth.
    t = np.arange(-window.total_seconds() / 3600.0, 4.0 * horizon_hours, dt)
    signal, noise_std, rho = _signal(family, rng, t, horizon_hours)
    past = t <= 0.0
    noise = _ar1(rng, int(past.sum()), noise_std, rho)
    observed = np.clip(signal[past] + noise, 0.0, 100.0)
    hours = t[past]
    start = now.timestamp() / 3600.0
    points = tuple(
        MetricPoint(
            instance=name,
            metric="disk_percent",
            unit="percent",
            ts=datetime.fromtimestamp((start + h) * 3600.0, tz=now.tzinfo),
            value=round(float(v), 3),
        )
        for h, v in zip(hours, observed, strict=True)
    )
    future = ~past
    above = np.flatnonzero(signal[future] >= _THRESHOLD)
    true_hours = float(t[future][above[0]]) if above.size else None
    if true_hours is not None and true_hours > horizon_hours:
        true_hours = None
    return SyntheticSeries(family, points, now, true_hours)


def _signal(
    family: Family, rng: np.random.Generator, t: Array, horizon: float
) -> tuple[Array, float, float]:
    """The noiseless signal on ``t``, the noise's standard deviation and its autocorrelation."""
    level = rng.uniform(65.0, 82.0)  # the value now
    # Hours from now to the trend's crossing; the fill must not start below 5% in the window.
    fastest = (_THRESHOLD - level) * -float(t[0]) / (level - 5.0)
    target = rng.uniform(max(4.0, fastest), horizon * 0.9)
    slope = (_THRESHOLD - level) / target
    trend = level + slope * t
    phase = rng.uniform(0.0, 2.0 * np.pi)
    cycle = rng.uniform(3.0, 6.0) * np.sin(2.0 * np.pi * t / 24.0 + phase)
    if family is Family.LINEAR:
        return trend, 0.3, 0.3
    if family is Family.SEASONAL:
        return trend + cycle, 0.5, 0.5
    if family is Family.NOISY:
        return trend, rng.uniform(2.0, 5.0), 0.85
    if family is Family.STEP:
        at = -rng.uniform(18.0, 30.0)  # the step, hours before now
        # A bulk write (a step up) or a clean-up (a reset down), then the fill goes on.
        jump = rng.uniform(10.0, 20.0) * rng.choice([1.0, -1.0])
        before = np.full_like(t, min(level + slope * at - jump, _THRESHOLD - 3.0))
        return np.where(t < at, before, trend), 0.4, 0.3
    if family is Family.FLAT:
        drift = rng.choice([0.0, -rng.uniform(0.05, 0.3)])
        return rng.uniform(30.0, 80.0) + drift * t, 0.5, 0.3
    if family is Family.NOISE:
        return np.full_like(t, rng.uniform(40.0, 70.0)), 6.0, 0.9
    if family is Family.WANDER:  # noise that drifts for hours: a trend to a careless fit
        return np.full_like(t, rng.uniform(55.0, 70.0)), 6.0, 0.998
    return rng.uniform(50.0, 70.0) + cycle * 2.0, 0.8, 0.5  # CYCLE


def _ar1(rng: np.random.Generator, n: int, std: float, rho: float) -> Array:
    shocks = rng.normal(0.0, std * np.sqrt(1.0 - rho * rho), n)
    out = np.empty(n)
    previous = rng.normal(0.0, std)
    for i in range(n):
        previous = rho * previous + shocks[i]
        out[i] = previous
    return out


@dataclass(frozen=True, slots=True)
class FamilyAccuracy:
    """How forecasts did on one family."""

    family: Family
    series: int
    forecasts: int
    """Series that got a forecast (for families that do not cross: false forecasts)."""
    median_abs_error_hours: float | None
    median_relative_error: float | None
    """Median of |predicted − true| / true."""
    interval_coverage: float | None
    """Share of forecasts whose interval holds the true crossing."""


def evaluate(
    families: Sequence[Family] = tuple(Family),
    *,
    per_family: int = 40,
    seed: int = 7,
    settings: ForecastSettings | None = None,
    step: timedelta = timedelta(minutes=5),
) -> list[FamilyAccuracy]:
    """Forecast ``per_family`` series of each family and compare with the true crossings.

    Args:
        families: the families to run.
        per_family: series per family.
        seed: the random seed (the figures are reproducible).
        settings: forecast settings (defaults when None).
        step: the sampling interval of the series.
    """
    settings = settings or ForecastSettings()
    rng = np.random.default_rng(seed)
    now = datetime.fromisoformat("2026-01-05T12:00:00+00:00")
    horizon = settings.horizon.total_seconds() / 3600.0
    rows = []
    for family in families:
        errors, relative, covered, made = [], [], 0, 0
        for i in range(per_family):
            series = make_series(
                family, rng, now=now, step=step, horizon_hours=horizon, name=f"vm-{i}"
            )
            forecast = forecast_series(
                series.points, now=now, threshold=_THRESHOLD, settings=settings
            )
            if forecast is None:
                continue
            made += 1
            if series.true_hours is None:
                continue
            error = abs(forecast.hours_to_threshold - series.true_hours)
            errors.append(error)
            relative.append(error / series.true_hours)
            covered += forecast.earliest_hours <= series.true_hours <= forecast.latest_hours
        rows.append(
            FamilyAccuracy(
                family=family,
                series=per_family,
                forecasts=made,
                median_abs_error_hours=statistics.median(errors) if errors else None,
                median_relative_error=statistics.median(relative) if relative else None,
                interval_coverage=covered / len(errors) if errors else None,
            )
        )
    return rows
