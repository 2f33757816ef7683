"""Forecasts over stored history: the warehouse (SQL first, then refits) or the hot store.

``snowflake/analytics/forecast_linear.sql`` fits a line to every series in the warehouse
(fast over millions of points, and the same SQL on DuckDB and Snowflake). Only the series
whose line rises towards their threshold are candidates; their points are fetched with
``forecast_points.sql`` and refitted with the same fits and gates as the in-memory path
(``forecast.py``), daily cycle included, so both paths say the same thing. Without a
warehouse, :func:`predict_from_store` reads the window from the hot store instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from nephos.analytics.forecast import (
    Forecast,
    ForecastSettings,
    Thresholds,
    build_forecast,
    forecast_arrays,
    group_series,
    latency_points,
    run_forecasts,
)
from nephos.analytics.forecast_fit import Array
from nephos.store.base import HotStore
from nephos.warehouse.base import Warehouse

__all__ = [
    "CANDIDATE_HORIZONS",
    "STORE_READ_LIMIT",
    "LinearFit",
    "linear_candidates",
    "predict_batch",
    "predict_from_store",
]

STORE_READ_LIMIT = 5_000_000
"""Most rows read from the hot store per kind; beyond this, use the warehouse."""

CANDIDATE_HORIZONS = 3.0
"""A line crossing within this many horizons is refitted: a daily cycle's peaks cross sooner
than its trend, and a noisy line's slope is uncertain."""


@dataclass(frozen=True, slots=True)
class LinearFit:
    """One row of ``forecast_linear.sql``: a series' line over the window."""

    resource: str
    metric: str
    unit: str
    provider: str
    points: int
    last_value: float
    slope_per_hour: float
    level_at_until: float
    r2: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LinearFit:
        """Parse one result row (lower-case column names)."""
        r2 = row.get("r2")
        return cls(
            resource=str(row["resource"]),
            metric=str(row["metric"]),
            unit=str(row.get("unit") or ""),
            provider=str(row.get("provider") or "other"),
            points=int(row["points"]),
            last_value=float(row["last_value"]),
            slope_per_hour=float(row["slope_per_hour"]),
            level_at_until=float(row["level_at_until"]),
            r2=None if r2 is None else float(r2),
        )


def linear_candidates(
    fits: Sequence[LinearFit], *, thresholds: Thresholds, horizon: timedelta
) -> list[tuple[LinearFit, float]]:
    """The rising series whose line reaches its threshold within a few horizons.

    Args:
        fits: the warehouse's linear fits.
        thresholds: the level of each series; series without one are skipped.
        horizon: the forecast horizon.

    Returns:
        ``(fit, threshold)`` pairs, nearest crossing first.
    """
    limit = CANDIDATE_HORIZONS * horizon.total_seconds() / 3600.0
    chosen = []
    for fit in fits:
        threshold = thresholds.threshold_for(fit.resource, fit.metric)
        if threshold is None or fit.slope_per_hour <= 0.0 or fit.last_value >= threshold:
            continue
        hours = (threshold - fit.level_at_until) / fit.slope_per_hour
        if hours <= limit:
            chosen.append((hours, fit, threshold))
    chosen.sort(key=lambda c: (c[0], c[1].resource, c[1].metric))
    return [(fit, threshold) for _, fit, threshold in chosen]


async def predict_batch(
    warehouse: Warehouse,
    *,
    horizon: timedelta = timedelta(hours=48),
    window: timedelta = timedelta(days=3),
    now: datetime | None = None,
    thresholds: Thresholds | None = None,
    settings: ForecastSettings | None = None,
) -> list[Forecast]:
    """Every series in the warehouse on course to cross its threshold within ``horizon``.

    Args:
        warehouse: an open warehouse.
        horizon: how far ahead a crossing is reported.
        window: how much history is fitted.
        now: when the forecasts are made (default: the system clock's now).
        thresholds: the level of each series (default: :class:`Thresholds` defaults).
        settings: fit and gate settings; ``horizon`` and ``window`` replace theirs.

    Returns:
        Forecasts, soonest first.

    Raises:
        WarehouseError: the warehouse could not be queried.
    """
    now = now or datetime.now(UTC)
    thresholds = thresholds or Thresholds()
    settings = replace(settings or ForecastSettings(), horizon=horizon, window=window)
    bounds = {"since": _naive_utc(now - window), "until": _naive_utc(now)}
    rows = await warehouse.query("forecast_linear", {**bounds, "min_points": settings.min_points})
    candidates = linear_candidates(
        [LinearFit.from_row(r) for r in rows], thresholds=thresholds, horizon=horizon
    )
    forecasts = []
    origin = now.timestamp() / 3600.0
    for line, threshold in candidates:
        rows = await warehouse.query(
            "forecast_points", {**bounds, "resource": line.resource, "metric": line.metric}
        )
        if not rows:
            continue
        hours, values = _arrays(rows)
        made = forecast_arrays(hours, values, now=origin, threshold=threshold, settings=settings)
        if made is None:
            continue
        forecasts.append(
            build_forecast(
                made.fit,
                resource=line.resource,
                metric=line.metric,
                unit=line.unit,
                provider=line.provider,
                threshold=threshold,
                current=float(values[-1]),
                hours_to_threshold=made.hours,
                interval=(made.earliest, made.latest),
                fitted_from=made.fitted_from,
                now=now,
            )
        )
    return sorted(forecasts, key=lambda f: (f.hours_to_threshold, f.resource, f.metric))


async def predict_from_store(
    store: HotStore,
    *,
    now: datetime,
    horizon: timedelta = timedelta(hours=48),
    window: timedelta = timedelta(days=3),
    thresholds: Thresholds | None = None,
    settings: ForecastSettings | None = None,
) -> list[Forecast]:
    """Forecasts from the hot store's metrics and check latencies in the window.

    Args:
        store: an open hot store.
        now: when the forecasts are made.
        horizon: how far ahead a crossing is reported.
        window: how much history is fitted.
        thresholds: the level of each series (default: :class:`Thresholds` defaults).
        settings: fit and gate settings; ``window`` replaces theirs.

    Returns:
        Forecasts, soonest first.

    Raises:
        StoreError: the store could not be read.
    """
    since = now - window
    points = await store.metrics(since=since, limit=STORE_READ_LIMIT)
    results = await store.results(since=since, limit=STORE_READ_LIMIT)
    series = group_series([*points, *latency_points(results)])
    return run_forecasts(
        series,
        now=now,
        horizon=horizon,
        thresholds=thresholds or Thresholds(),
        settings=replace(settings or ForecastSettings(), window=window),
    )


def _arrays(rows: Sequence[Mapping[str, Any]]) -> tuple[Array, Array]:
    """``(ts, value)`` rows, oldest first, as epoch hours and values."""
    # A naive time read back from TIMESTAMP_NTZ is UTC.
    seconds = [
        (r["ts"] if r["ts"].tzinfo is not None else r["ts"].replace(tzinfo=UTC)).timestamp()
        for r in rows
    ]
    hours = np.array(seconds, dtype=np.float64) / 3600.0
    return hours, np.array([float(r["value"]) for r in rows], dtype=np.float64)


def _naive_utc(when: datetime) -> datetime:
    # The warehouse keeps TIMESTAMP_NTZ in UTC.
    return when.astimezone(UTC).replace(tzinfo=None)
