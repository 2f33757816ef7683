"""Forecasts as proactive alerts (source ``forecast``), and the words that describe them.

The alert carries the numbers behind the forecast as facts, so that the insights narrate
them and nothing else; the alert book and the notifiers treat it like any other alert.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from nephos.analytics.forecast import Forecast
from nephos.clock import Clock
from nephos.model import Alert, AlertSource, AlertState, Severity
from nephos.sentinel.ids import new_alert_id

__all__ = [
    "forecast_dedup_key",
    "forecast_facts",
    "forecast_severity",
    "forecast_to_alert",
    "format_hours",
    "format_interval",
    "format_level",
    "metric_label",
    "reconcile_forecast_alerts",
]

CRITICAL_WITHIN = timedelta(hours=12)
WARNING_WITHIN = timedelta(hours=48)

_LABELS = {
    "disk_percent": "disk",
    "mem_percent": "memory",
    "cpu_percent": "CPU",
    "latency_ms": "latency",
}


def metric_label(metric: str) -> str:
    """A metric's name in words: ``disk_percent`` reads "disk"; unknown names read as given."""
    return _LABELS.get(metric, metric)


def format_level(value: float, unit: str) -> str:
    """A level with its unit: ``90%``, ``2500 ms``, ``0.25%``."""
    size = abs(value)
    if size >= 100.0:
        text = f"{value:.0f}"
    elif size >= 1.0:
        text = f"{value:.1f}".removesuffix(".0")
    else:
        text = f"{value:.2g}"
    if unit in ("percent", "%"):
        return f"{text}%"
    return f"{text} {unit}" if unit else text


def format_hours(hours: float) -> str:
    """A time ahead in words: "40 minutes", "1 hour", "42 hours", "3.5 days"."""
    if hours < 1.0:
        minutes = max(1, round(hours * 60))
        return f"{minutes} minute" + ("" if minutes == 1 else "s")
    if hours < 72.0:
        whole = round(hours)
        return f"{whole} hour" + ("" if whole == 1 else "s")
    return f"{hours / 24:.1f} days"


def format_interval(earliest: float, latest: float) -> str:
    """A crossing interval in words, as precise as its width: "11.7–12.3 hours", "38–47 hours"."""
    if latest < 1.0:
        return f"{round(earliest * 60)}–{round(latest * 60)} minutes"
    if latest < 72.0:
        if latest - earliest < 3.0:
            return f"{earliest:.1f}–{latest:.1f} hours"
        return f"{round(earliest)}–{round(latest)} hours"
    return f"{earliest / 24:.1f}–{latest / 24:.1f} days"


def forecast_severity(forecast: Forecast) -> Severity:
    """Critical within 12 hours, warning within 48, info beyond."""
    ahead = timedelta(hours=forecast.hours_to_threshold)
    if ahead <= CRITICAL_WITHIN:
        return Severity.CRITICAL
    if ahead <= WARNING_WITHIN:
        return Severity.WARNING
    return Severity.INFO


def forecast_dedup_key(forecast: Forecast) -> str:
    """Stable per series, so that each new forecast run refreshes one alert, never opens two."""
    return f"forecast:{forecast.resource}:{forecast.metric}"


def forecast_facts(forecast: Forecast) -> dict[str, Any]:
    """The numbers behind a forecast, rounded as they are shown, for alerts and insights."""
    return {
        "metric": forecast.metric,
        "resource": forecast.resource,
        "unit": forecast.unit,
        "threshold": forecast.threshold,
        "current": round(forecast.current, 3),
        "hours_to_threshold": round(forecast.hours_to_threshold, 1),
        "interval_hours": [
            round(forecast.earliest_hours, 1),
            round(forecast.latest_hours, 1),
        ],
        "crosses_at": forecast.crosses_at.isoformat().replace("+00:00", "Z"),
        "method": forecast.method.value,
        "r2": round(forecast.r2, 3),
        "residual_std": round(forecast.residual_std, 3),
        "slope_per_hour": round(forecast.slope_per_hour, 4),
        "points": forecast.points,
        "fitted_from": forecast.fitted_from.isoformat().replace("+00:00", "Z"),
    }


def forecast_to_alert(forecast: Forecast, *, clock: Clock, rng: random.Random) -> Alert:
    """A firing alert that says a series is on course to cross its threshold.

    Args:
        forecast: the forecast.
        clock: gives the alert's start time.
        rng: draws the alert's id (the caller checks it against the store, or uses
            :func:`nephos.sentinel.ids.allocate_alert_id` instead).

    Returns:
        A new firing alert with source FORECAST; its dedup key is per series.
    """
    now = clock.now()
    label = metric_label(forecast.metric)
    level = format_level(forecast.threshold, forecast.unit)
    title = (
        f"{label} on {forecast.resource} reaches {level} "
        f"in about {format_hours(forecast.hours_to_threshold)}"
    )
    message = (
        f"{label} on {forecast.resource} is at "
        f"{format_level(forecast.current, forecast.unit)} and rising "
        f"{format_level(forecast.slope_per_hour, forecast.unit)} per hour; "
        f"it reaches {level} in {format_hours(forecast.hours_to_threshold)} "
        f"(in {format_interval(forecast.earliest_hours, forecast.latest_hours)}), "
        f"by a {forecast.method.value} fit "
        f"with R² {forecast.r2:.2f}."
    )
    return Alert(
        id=new_alert_id(rng),
        dedup_key=forecast_dedup_key(forecast),
        target=forecast.resource,
        source=AlertSource.FORECAST,
        state=AlertState.FIRING,
        severity=forecast_severity(forecast),
        title=title,
        message=message,
        started_at=now,
        updated_at=now,
        condition=f"{forecast.metric} >= {format_level(forecast.threshold, forecast.unit)}",
        value=format_level(forecast.current, forecast.unit),
        provider=forecast.provider,
        facts=forecast_facts(forecast),
    )


def reconcile_forecast_alerts(
    forecasts: Sequence[Forecast],
    open_alerts: Iterable[Alert],
    *,
    clock: Clock,
    rng: random.Random,
) -> list[Alert]:
    """The alert writes that bring the alert book in line with one forecast run.

    A series newly on course gets a new alert; one that already has an open forecast alert
    gets that alert refreshed (same id, new numbers, title and severity); an open forecast
    alert whose series is no longer on course is resolved. Alerts of other sources are left
    alone. The caller writes the result with ``HotStore.put_alert``.

    Args:
        forecasts: this run's forecasts.
        open_alerts: the book's firing and acknowledged alerts (any source).
        clock: gives the time of the changes.
        rng: draws the ids of new alerts.
    """
    now = clock.now()
    open_by_key = {
        a.dedup_key: a
        for a in open_alerts
        if a.source is AlertSource.FORECAST and a.state is not AlertState.RESOLVED
    }
    writes: list[Alert] = []
    for forecast in forecasts:
        fresh = forecast_to_alert(forecast, clock=clock, rng=rng)
        existing = open_by_key.pop(fresh.dedup_key, None)
        if existing is None:
            writes.append(fresh)
            continue
        writes.append(
            dataclasses.replace(
                existing,
                severity=fresh.severity,
                title=fresh.title,
                message=fresh.message,
                value=fresh.value,
                facts=fresh.facts,
                updated_at=now,
            )
        )
    for gone in open_by_key.values():
        writes.append(
            dataclasses.replace(gone, state=AlertState.RESOLVED, resolved_at=now, updated_at=now)
        )
    return writes
