"""Capacity forecasts: when a disk, memory, CPU or latency series will cross its threshold.

Each series is fitted over a recent window (3 days by default) with a straight line and with
a line plus a daily cycle; the one that predicts a held-out tail better is kept. A forecast
is made only when the fit supports one: enough data, a rising trend that is clearly more than
noise, a fair R², a crossing within the horizon, and an interval that does not run out to
"never". Otherwise the series gets no forecast at all. The numpy fits live in
``forecast_fit.py``; alerts from forecasts in ``forecast_alert.py``; the warehouse path in
``forecast_batch.py``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from nephos.analytics.forecast_fit import (
    Array,
    Fit,
    ForecastMethod,
    crossing,
    fit_trend,
    holdout_rmse,
    regime_start,
)
from nephos.config.types import Config
from nephos.model import CheckResult, MetricPoint

__all__ = [
    "DEFAULT_METRIC_THRESHOLDS",
    "Forecast",
    "ForecastMethod",
    "ForecastSettings",
    "SeriesFit",
    "SeriesKey",
    "Thresholds",
    "build_forecast",
    "forecast_arrays",
    "forecast_series",
    "group_series",
    "latency_points",
    "run_forecasts",
]

SeriesKey = tuple[str, str]
"""(resource, metric): an instance or target name and the metric's name."""

LATENCY_METRIC = "latency_ms"

DEFAULT_METRIC_THRESHOLDS: Mapping[str, float] = {
    "disk_percent": 90.0,
    "mem_percent": 90.0,
    "cpu_percent": 90.0,
    LATENCY_METRIC: 3000.0,  # LatencyThresholds().unhealthy; per target from the config
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The level each capacity metric must not reach; a metric without one is not forecast."""

    by_metric: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_METRIC_THRESHOLDS))
    by_series: Mapping[SeriesKey, float] = field(default_factory=dict)
    """Overrides for one resource's metric, such as a target's own unhealthy latency."""

    def threshold_for(self, resource: str, metric: str) -> float | None:
        """The threshold of one series, or None when its metric is not a capacity metric."""
        return self.by_series.get((resource, metric), self.by_metric.get(metric))

    @classmethod
    def from_config(
        cls, config: Config, *, by_metric: Mapping[str, float] | None = None
    ) -> Thresholds:
        """Defaults, with latency taken from the sentinel's and each target's unhealthy tier.

        Args:
            config: the validated configuration.
            by_metric: per-metric levels that replace the defaults (``{"disk_percent": 85}``).
        """
        levels = dict(DEFAULT_METRIC_THRESHOLDS)
        levels[LATENCY_METRIC] = config.sentinel.latency.unhealthy.total_seconds() * 1000.0
        levels.update(by_metric or {})
        per_target = {
            (t.name, LATENCY_METRIC): t.latency.unhealthy.total_seconds() * 1000.0
            for t in config.targets
        }
        return cls(by_metric=levels, by_series=per_target)


@dataclass(frozen=True, slots=True)
class ForecastSettings:
    """The knobs of the fit and of the gates that decide whether to say anything."""

    window: timedelta = timedelta(days=3)
    horizon: timedelta = timedelta(hours=48)
    min_points: int = 24
    min_span: timedelta = timedelta(hours=12)
    min_r2: float = 0.3
    min_slope_t: float = 3.0
    """The rising slope must be this many (autocorrelation-aware) standard errors above 0."""
    z: float = 1.96
    """Half-width of the crossing interval in standard errors (about 95%)."""
    harmonics: int = 3
    seasonal_min_span: timedelta = timedelta(hours=36)
    """The daily-cycle fit is tried only on at least a day and a half of data."""
    seasonal_gain: float = 0.9
    """The cycle is kept only if it cuts the held-out error to this share or less."""
    interval_limit: float = 4.0
    """A latest crossing beyond this many horizons reads as "never": no forecast."""


@dataclass(frozen=True, slots=True)
class Forecast:
    """One series on course to cross its threshold, with the evidence for it."""

    resource: str
    metric: str
    unit: str
    provider: str
    threshold: float
    current: float
    """The last observed value."""
    slope_per_hour: float
    hours_to_threshold: float
    earliest_hours: float
    latest_hours: float
    crosses_at: datetime
    method: ForecastMethod
    r2: float
    residual_std: float
    points: int
    fitted_from: datetime
    """The first point of the data fitted (after the series' last step, if it had one)."""
    made_at: datetime


@dataclass(frozen=True, slots=True)
class SeriesFit:
    """The fit that supports a forecast and its crossing, in hours after now."""

    fit: Fit
    hours: float
    earliest: float
    latest: float
    fitted_from: float
    """The epoch hour of the first point fitted."""


def forecast_arrays(
    hours: Array, values: Array, *, now: float, threshold: float, settings: ForecastSettings
) -> SeriesFit | None:
    """Fit one series given as arrays and decide whether it supports a forecast.

    Args:
        hours: epoch hours, ascending; points after ``now`` or before the window are ignored.
        values: the observations.
        now: the epoch hour the forecast is made at.
        threshold: the level not to reach.
        settings: fit and gate settings.

    Returns:
        The fit and its crossing, or None when the data do not support a forecast.
    """
    start_hour = now - settings.window.total_seconds() / 3600.0
    keep = (hours >= start_hour) & (hours <= now) & np.isfinite(values)
    hours, values = hours[keep], values[keep]
    if not _enough(hours, settings) or values[-1] >= threshold:
        return None  # too little data, or already there: that is a state, not a forecast
    start = regime_start(hours, values)
    hours, values = hours[start:], values[start:]
    if not _enough(hours, settings):
        return None  # the series changed too recently to say where it is heading
    fit = _choose_fit(hours, values, now=now, settings=settings)
    if fit is None or fit.r2 < settings.min_r2 or fit.slope <= 0.0:
        return None
    if fit.slope < settings.min_slope_t * fit.slope_se:
        return None
    horizon = settings.horizon.total_seconds() / 3600.0
    found = crossing(fit, threshold, limit_hours=settings.interval_limit * horizon, z=settings.z)
    if found.mean is None or found.mean > horizon or found.latest is None:
        return None
    earliest = found.earliest if found.earliest is not None else found.mean
    return SeriesFit(fit, found.mean, earliest, found.latest, float(hours[0]))


def _enough(hours: Array, settings: ForecastSettings) -> bool:
    if hours.size < settings.min_points:
        return False
    return float(hours[-1] - hours[0]) * 3600.0 >= settings.min_span.total_seconds()


def _choose_fit(
    hours: Array, values: Array, *, now: float, settings: ForecastSettings
) -> Fit | None:
    harmonics = 0
    span = float(hours[-1] - hours[0]) * 3600.0
    if settings.harmonics and span >= settings.seasonal_min_span.total_seconds():
        linear = holdout_rmse(hours, values, harmonics=0)
        seasonal = holdout_rmse(hours, values, harmonics=settings.harmonics)
        if np.isfinite(seasonal) and seasonal <= settings.seasonal_gain * linear:
            harmonics = settings.harmonics
    return fit_trend(hours, values, origin=now, harmonics=harmonics)


def forecast_series(
    points: Sequence[MetricPoint],
    *,
    now: datetime,
    threshold: float,
    settings: ForecastSettings | None = None,
) -> Forecast | None:
    """The forecast of one series, or None when its data do not support one.

    Args:
        points: the points of one series (one resource and metric), in any order.
        now: when the forecast is made; points after it are ignored.
        threshold: the level not to reach.
        settings: fit and gate settings (defaults when None).
    """
    settings = settings or ForecastSettings()
    ordered = sorted((p for p in points if p.ts <= now), key=lambda p: p.ts)
    if not ordered:
        return None
    hours = np.array([p.ts.timestamp() / 3600.0 for p in ordered], dtype=np.float64)
    values = np.array([p.value for p in ordered], dtype=np.float64)
    origin = now.timestamp() / 3600.0
    outcome = forecast_arrays(hours, values, now=origin, threshold=threshold, settings=settings)
    if outcome is None:
        return None
    last = ordered[-1]
    return build_forecast(
        outcome.fit,
        resource=last.instance,
        metric=last.metric,
        unit=last.unit,
        provider=last.provider,
        threshold=threshold,
        current=last.value,
        hours_to_threshold=outcome.hours,
        interval=(outcome.earliest, outcome.latest),
        fitted_from=outcome.fitted_from,
        now=now,
    )


def build_forecast(
    fit: Fit,
    *,
    resource: str,
    metric: str,
    unit: str,
    provider: str,
    threshold: float,
    current: float,
    hours_to_threshold: float,
    interval: tuple[float, float],
    fitted_from: float,
    now: datetime,
) -> Forecast:
    """A :class:`Forecast` from a fit and its crossing (shared by the in-memory and batch paths)."""
    return Forecast(
        resource=resource,
        metric=metric,
        unit=unit,
        provider=provider,
        threshold=threshold,
        current=current,
        slope_per_hour=fit.slope,
        hours_to_threshold=hours_to_threshold,
        earliest_hours=interval[0],
        latest_hours=interval[1],
        crosses_at=now + timedelta(hours=hours_to_threshold),
        method=fit.method,
        r2=fit.r2,
        residual_std=fit.residual_std,
        points=fit.points,
        fitted_from=datetime.fromtimestamp(fitted_from * 3600.0, tz=now.tzinfo),
        made_at=now,
    )


def group_series(points: Iterable[MetricPoint]) -> dict[SeriesKey, list[MetricPoint]]:
    """Points grouped by (resource, metric)."""
    grouped: dict[SeriesKey, list[MetricPoint]] = defaultdict(list)
    for point in points:
        grouped[(point.instance, point.metric)].append(point)
    return dict(grouped)


def latency_points(results: Iterable[CheckResult]) -> list[MetricPoint]:
    """Check results as ``latency_ms`` points of their target.

    Failed checks are left out: their latency is a timeout or an error's, not the service's.
    """
    return [
        MetricPoint(
            instance=r.target,
            metric=LATENCY_METRIC,
            unit="ms",
            ts=r.ts,
            value=r.latency_ms,
            provider=r.provider,
        )
        for r in results
        if r.error is None and not r.sentinel_offline
    ]


def run_forecasts(
    points_by_series: Mapping[SeriesKey, Sequence[MetricPoint]],
    *,
    now: datetime,
    horizon: timedelta,
    thresholds: Thresholds,
    settings: ForecastSettings | None = None,
) -> list[Forecast]:
    """Every series on course to cross its threshold within ``horizon``, soonest first.

    Series whose metric has no threshold are skipped; so is every series whose data do not
    support a forecast. Pure: the sentinel calls it on a schedule with points from the store.

    Args:
        points_by_series: the points of each series, keyed by (resource, metric).
        now: when the forecasts are made.
        horizon: how far ahead a crossing is reported.
        thresholds: the level of each series.
        settings: fit and gate settings; ``horizon`` replaces theirs.
    """
    settings = dataclasses.replace(settings or ForecastSettings(), horizon=horizon)
    forecasts = []
    for (resource, metric), points in points_by_series.items():
        threshold = thresholds.threshold_for(resource, metric)
        if threshold is None or not points:
            continue
        made = forecast_series(points, now=now, threshold=threshold, settings=settings)
        if made is not None:
            forecasts.append(made)
    return sorted(forecasts, key=lambda f: (f.hours_to_threshold, f.resource, f.metric))
