"""Prometheus metrics of the sentinel's analytics, in the sentinel's own registry.

Detectors held, alerts written by source and state, verdicts dropped, and the last forecast
run. The ETL's gauges are the ETL's own (``nephos.warehouse.etl_metrics``), in the same
registry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from nephos.model import Alert

__all__ = ["AnalyticsMetrics"]


class AnalyticsMetrics:
    """The analytics' gauges and counters in ``registry`` (a prometheus_client registry).

    Args:
        registry: the sentinel's registry.
        series: returns how many series have a detector in memory.
    """

    def __init__(self, registry: Any, series: Callable[[], int]) -> None:
        from prometheus_client import Counter, Gauge

        Gauge(
            "nephos_anomaly_series",
            "Series with an online anomaly detector in memory.",
            registry=registry,
        ).set_function(lambda: float(series()))
        self._alerts = Counter(
            "nephos_analytics_alerts",
            "Anomaly and forecast alert writes, by source and resulting state.",
            ["source", "state"],
            registry=registry,
        )
        self._dropped = Counter(
            "nephos_anomaly_verdicts_dropped",
            "Anomaly verdicts dropped because too many waited for their alert write.",
            registry=registry,
        )
        self._forecast_at = Gauge(
            "nephos_forecast_last_run_timestamp_seconds",
            "When forecasts last ran (Unix time).",
            registry=registry,
        )
        self._on_course = Gauge(
            "nephos_forecast_series_on_course",
            "Series the last forecast run found on course to cross their threshold.",
            registry=registry,
        )

    def alert(self, alert: Alert) -> None:
        """Count one alert write."""
        self._alerts.labels(alert.source.value, alert.state.value).inc()

    def dropped(self) -> None:
        """Count one dropped verdict."""
        self._dropped.inc()

    def forecast_run(self, at: datetime, on_course: int) -> None:
        """Record a completed forecast run."""
        self._forecast_at.set(at.timestamp())
        self._on_course.set(on_course)
